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
    /// Serialised bytes refused by a decoder of the wire format (or an object the
    /// format cannot encode).
    #[error("wire format: {0}")]
    Wire(#[from] crate::wire::WireError),
    /// A device (GPU, accelerator) reported a failure.
    #[error("device error: {0}")]
    Device(String),
    /// A value of a model's forward pass leaves the range its level or the next
    /// bootstrap can hold (found by the cleartext twin, before anything is encrypted).
    #[error(
        "value range: `{value}` ({op}, level {level}) reaches |x| = {reached:.4e}, beyond \
         {limit:.4e}, {why}"
    )]
    ValueRange {
        /// the value (the step of the forward pass that defines it)
        value: String,
        /// the layer or operation that computed it
        op: String,
        /// its level
        level: usize,
        /// the largest magnitude it reaches
        reached: f64,
        /// the largest magnitude allowed
        limit: f64,
        /// which limit: the level's headroom, a bootstrap's input range, the declared input range
        why: String,
    },
    /// An error raised by one step of a model's forward pass: names the value and the
    /// layer, then the cause.
    #[error("step `{value}` ({op}): {source}{}", hint(source))]
    AtStep {
        /// the value the failing step defines
        value: String,
        /// the layer or operation of the step
        op: String,
        /// the underlying error
        source: Box<Error>,
    },
}

impl Error {
    /// Wraps `self` with the forward-pass step it happened in (`value`, computed by `op`).
    ///
    /// ```
    /// let e = fhe_dsl::Error::MissingKey("rotation key for step 3".into()).at_step("c1", "fc1");
    /// assert!(e.to_string().starts_with("step `c1` (fc1): missing rotation key for step 3"));
    /// ```
    pub fn at_step(self, value: &str, op: &str) -> Error {
        Error::AtStep {
            value: value.to_string(),
            op: op.to_string(),
            source: Box::new(self),
        }
    }

    /// The innermost error, under any [`Error::AtStep`] wrappers.
    ///
    /// ```
    /// use fhe_dsl::Error;
    /// let e = Error::MissingKey("relinearisation key".into()).at_step("y", "square");
    /// assert!(matches!(e.root(), Error::MissingKey(_)));
    /// ```
    pub fn root(&self) -> &Error {
        match self {
            Error::AtStep { source, .. } => source.root(),
            e => e,
        }
    }
}

/// What to do about a step's error, where the cause says it.
fn hint(source: &Error) -> &'static str {
    match source.root() {
        Error::MissingKey(_) | Error::KeyLevelTooLow { .. } => {
            "; generate the evaluation keys with the model's `key_request()` (plus the \
             bootstrapping keys, if it bootstraps)"
        }
        _ => "",
    }
}

/// Result alias.
pub type Result<T> = std::result::Result<T, Error>;
