//! RNS polynomials, the ring context (primes and their tables), basis conversion
//! constants and CRT reconstruction.

mod context;
mod poly;

pub use context::{BaseConvTable, RingContext};
pub use poly::{concat_words, limb_positions, zeroed_words, RnsPoly};
