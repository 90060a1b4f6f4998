//! RNS-CKKS: parameters, encoding, keys, encryption and the evaluator, generic over a
//! [`Backend`](crate::backend::Backend).

mod cache;
mod context;
pub mod encoder;
mod evaluator;
mod keys;
mod params;

pub use cache::PlaintextCacheStats;
pub(crate) use cache::PtKey;
pub use context::{Ciphertext, Ckks, Decryptor, Encryptor, Plaintext};
pub use evaluator::{DeviceSwitchingKey, Evaluator};
pub use keys::{
    galois_element, EvaluationKeys, KeyGenerator, KeyRequest, PublicKey, SecretKey, SwitchingKey,
};
pub use params::{max_log_pq_128, Params, ParamsLiteral, SecretDist};

/// Relative tolerance under which two scales count as equal (float rounding only).
pub const SCALE_TOLERANCE: f64 = 1e-9;

/// Whether two scales are equal up to float rounding.
pub fn scales_match(a: f64, b: f64) -> bool {
    ((a / b) - 1.0).abs() < SCALE_TOLERANCE
}
