//! The decoders' typed errors.

use super::{Fingerprint, Kind};
use thiserror::Error;

/// Why bytes were refused (or an object could not be encoded). Every decoder failure is
/// one of these, wrapped in [`Error::Wire`](crate::Error::Wire); none is a panic.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The input does not start with the format's magic bytes.
    #[error("not an fhe-dsl object: starts with {found:02x?}, expected {expected:02x?}")]
    BadMagic {
        /// the first bytes found (up to four)
        found: Vec<u8>,
        /// the magic bytes
        expected: [u8; 4],
    },
    /// A format version this build does not read.
    #[error("format version {found} is not supported: this build reads version {supported}")]
    Version {
        /// the version in the header
        found: u16,
        /// the version this build reads and writes
        supported: u16,
    },
    /// An object of another kind than the caller asked for.
    #[error("expected {expected}, found {}", Kind::describe(*found))]
    Kind {
        /// the kind the caller decodes
        expected: Kind,
        /// the kind tag in the header
        found: u8,
    },
    /// Reserved header flags are set.
    #[error("reserved header flags {0:#04x} are set (this build writes 0)")]
    Flags(u8),
    /// The object was made for another parameter set.
    #[error(
        "{what} was made for other parameters (parameter fingerprint {found}, these \
         parameters are {expected})"
    )]
    ParamsFingerprint {
        /// the object
        what: Kind,
        /// the fingerprint of the caller's parameters
        expected: Fingerprint,
        /// the fingerprint in the header
        found: Fingerprint,
    },
    /// A key bundle made for another key request (another model, another bootstrapping
    /// configuration), or whose keys are not those its request names.
    #[error(
        "{what}: key request fingerprint {found}, expected {expected}: the keys were \
         generated for another model or bootstrapping configuration; generate them with \
         the model's `key_request()`"
    )]
    RequestFingerprint {
        /// the object
        what: Kind,
        /// the fingerprint the caller expects (from its key request)
        expected: Fingerprint,
        /// the fingerprint found
        found: Fingerprint,
    },
    /// The input ends before the object does.
    #[error("truncated input: {what} needs {needed} bytes, {left} left")]
    Truncated {
        /// what was being read
        what: String,
        /// bytes it needs
        needed: u64,
        /// bytes left in the input
        left: u64,
    },
    /// A length or count field beyond what the parameters (or the input) allow.
    #[error("{what}: {claimed} exceeds the limit of {limit}")]
    Length {
        /// the field
        what: String,
        /// the value found
        claimed: u64,
        /// the largest value allowed here
        limit: u64,
    },
    /// A residue not reduced modulo its prime.
    #[error(
        "{what}: residue {value} (limb {limb}, coefficient {index}) is not below its prime \
         {prime}"
    )]
    Residue {
        /// the polynomial
        what: String,
        /// limb position
        limb: usize,
        /// coefficient index in the limb
        index: usize,
        /// the residue found
        value: u64,
        /// the limb's prime
        prime: u64,
    },
    /// A field whose value the structure does not allow (a level above the maximum, a
    /// digit count that does not match the level, a non-finite scale, …).
    #[error("{what}: {reason}")]
    Structure {
        /// the field or object
        what: String,
        /// what is wrong with it
        reason: String,
    },
    /// Bytes left over after the object.
    #[error("{count} bytes after the end of the {what}")]
    Trailing {
        /// the object
        what: Kind,
        /// extra bytes
        count: u64,
    },
    /// Writing to the output failed.
    #[error("writing failed: {0}")]
    Io(String),
}

impl WireError {
    pub(crate) fn structure(what: impl Into<String>, reason: impl Into<String>) -> Self {
        WireError::Structure {
            what: what.into(),
            reason: reason.into(),
        }
    }
}
