//! Modular arithmetic, primes, NTT tables and sampling: scalar code with no bulk data.

mod modulus;
mod ntt;
mod prime;
pub mod sampling;

pub use modulus::Modulus;
pub use ntt::{
    automorphism_coeff, automorphism_ntt_map, bit_reverse, ntt_position_exponent, NttTable,
};
pub use prime::{is_prime, negacyclic_root, ntt_primes};
