//! The library's error type: every variant says what was expected and what was found.

use thiserror::Error;

/// Errors returned by fhe-dsl. Library code never panics on user input.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum Error {
    /// A parameter literal is malformed.
    #[error("invalid parameters: {0}")]
    InvalidParams(String),
    /// A parameter set is below 128-bit security.
    #[error(
        "insecure parameters: log2(PQ) = {log_pq:.1} bits exceeds the HE-standard 128-bit bound of \
         {bound} bits for N = 2^{log_n}; use Params::new_insecure_for_tests only in tests"
    )]
    Insecure {
        /// log2 of the full modulus.
        log_pq: f64,
        /// the bound for this N.
        bound: u32,
        /// log2 N.
        log_n: u32,
    },
    /// Two operands sit at different levels.
    #[error("level mismatch: {op} needs equal levels, got {left} and {right}")]
    LevelMismatch {
        /// the operation
        op: &'static str,
        /// level of the first operand
        left: usize,
        /// level of the second operand
        right: usize,
    },
    /// Two operands carry different scales.
    #[error("scale mismatch: {op} needs equal scales, got 2^{:.4} and 2^{:.4}", left.log2(), right.log2())]
    ScaleMismatch {
        /// the operation
        op: &'static str,
        /// scale of the first operand
        left: f64,
        /// scale of the second operand
        right: f64,
    },
    /// Not enough levels left.
    #[error("{op} needs level ≥ {needed}, ciphertext is at level {level}")]
    LevelTooLow {
        /// the operation
        op: &'static str,
        /// minimum level
        needed: usize,
        /// actual level
        level: usize,
    },
    /// A ciphertext has the wrong number of components.
    #[error("{op} expects a ciphertext of degree {expected}, got degree {found}")]
    Degree {
        /// the operation
        op: &'static str,
        /// expected degree
        expected: usize,
        /// actual degree
        found: usize,
    },
    /// A needed evaluation key is absent.
    #[error("missing {0}")]
    MissingKey(String),
    /// An evaluation key was generated for lower levels than the ciphertext's.
    #[error("{what} covers levels ≤ {key_level}, ciphertext at level {level}")]
    KeyLevelTooLow {
        /// the key ("rotation key for step 17")
        what: String,
        /// highest level the key serves
        key_level: usize,
        /// level of the ciphertext
        level: usize,
    },
    /// Values do not fit.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Objects built for different parameter sets were mixed.
    #[error("parameter mismatch: {0}")]
    ParamsMismatch(String),
    /// Malformed bytes.
    #[error("malformed data: {0}")]
    Malformed(String),
    /// A device (GPU, accelerator) reported a failure.
    #[error("device error: {0}")]
    Device(String),
}

/// Result alias.
pub type Result<T> = std::result::Result<T, Error>;
