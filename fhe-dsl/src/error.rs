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
    /// A backend could not carry out an operation: the device ran out of memory, its
    /// driver failed, there is no device, or the operands do not fit the operation. Every
    /// [`Backend`](crate::backend::Backend) operation that touches polynomial data returns
    /// this rather than panicking; see [`DeviceErrorKind`] for what each kind means and
    /// what to do about it.
    ///
    /// ```
    /// use fhe_dsl::{DeviceErrorKind, Error};
    /// let e = Error::device("gpu", "key_switch_inner", DeviceErrorKind::OutOfMemory);
    /// assert!(e.to_string().starts_with("gpu backend: `key_switch_inner` failed: out of device memory"));
    /// assert_eq!(e.at_step("y", "conv1").device_kind(), Some(&DeviceErrorKind::OutOfMemory));
    /// ```
    #[error("{backend} backend: `{op}` failed: {kind}")]
    Device {
        /// the backend's [`name`](crate::backend::Backend::name) ("cpu", "gpu", ...)
        backend: &'static str,
        /// the operation that failed (a `Backend` method, or the backend's own step
        /// within one, e.g. "alloc", "upload tables")
        op: &'static str,
        /// what went wrong
        kind: DeviceErrorKind,
    },
    /// Serialised bytes refused by a decoder of the wire format (or an object the
    /// format cannot encode).
    // not a `source`: the message already holds it, and `{:#}` would print it twice
    #[error("wire format: {0}")]
    Wire(crate::wire::WireError),
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

impl From<crate::wire::WireError> for Error {
    fn from(e: crate::wire::WireError) -> Self {
        Error::Wire(e)
    }
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

/// Why a backend operation failed ([`Error::Device`]).
///
/// The kinds are what a caller can act on differently: retry with less live data
/// (`OutOfMemory`), pick another backend (`NoDevice`), fix the program (`InvalidInput`),
/// or report the fault (`Driver`; after most driver faults the device context is unusable
/// and later operations on the same backend fail too).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DeviceErrorKind {
    /// The device has no memory left for the operation's buffers. Nothing was written to
    /// the operation's outputs that a caller could mistake for a result; the backend stays
    /// usable once memory is freed.
    #[error(
        "out of device memory (drop ciphertexts, plaintexts or keys that are no longer \
         needed, evaluate fewer values at once, or use a device with more memory)"
    )]
    OutOfMemory,
    /// There is no device to run on (no driver, no device with that ordinal, the device
    /// was lost); the text says which.
    #[error("no device: {0}")]
    NoDevice(String),
    /// The device driver reported a fault (a failed launch or copy, an illegal address);
    /// the text is the driver's error code and description.
    #[error("driver error: {0}")]
    Driver(String),
    /// The operands do not fit the operation (different ring degrees, a prime the
    /// operand lacks, a scalar list of the wrong length): a bug in the caller, reported
    /// instead of a read past a buffer.
    #[error("invalid operands: {0}")]
    InvalidInput(String),
}

impl Error {
    /// An [`Error::Device`] for `op` on `backend`.
    pub fn device(backend: &'static str, op: &'static str, kind: DeviceErrorKind) -> Error {
        Error::Device { backend, op, kind }
    }

    /// The [`DeviceErrorKind`] of a backend failure, under any [`Error::AtStep`]
    /// wrappers; `None` for every other error.
    pub fn device_kind(&self) -> Option<&DeviceErrorKind> {
        match self.root() {
            Error::Device { kind, .. } => Some(kind),
            _ => None,
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
