//! The wire format: a versioned, compact binary encoding of parameters, keys,
//! ciphertexts and plaintexts, with decoders that validate everything before use.
//!
//! Private inference has two parties: the client keeps the secret key, the server gets
//! only public material. What crosses between them is encoded here, by hand (not through
//! serde derives), so that every decoder checks what it reads: bytes from the network or
//! a file are untrusted input, and a malformed object is a typed [`WireError`] (wrapped
//! in [`Error::Wire`](crate::Error::Wire)), never a panic, an allocation from an
//! unchecked length or an unreduced residue handed to a kernel.
//!
//! # Layout (format version 1)
//!
//! Every object starts with a 48-byte header; all integers are little-endian:
//!
//! ```text
//! offset size
//!      0    4  magic            89 46 48 45  ("\x89FHE")
//!      4    2  format version   u16 = 1
//!      6    1  kind             u8 (Kind: 1 params, 2 public key, 3 evaluation keys,
//!                                   4 bootstrapping keys, 5 ciphertext, 6 plaintext,
//!                                   7 secret key)
//!      7    1  flags            u8 = 0 (reserved)
//!      8   32  parameter fingerprint (Params::fingerprint, SHA-256)
//!     40    8  body length      u64: exactly the bytes that follow
//!     48    …  body
//! ```
//!
//! Bodies (`poly(primes)` is `u64 limb count` then each limb's `N` residues packed at
//! the bit width of its prime, least significant bit first: a 50-bit prime's limb takes
//! `50·N/8` bytes, not `64·N/8`; `seed` is 32 bytes from which the uniform half of a
//! key is expanded with ChaCha20, never stored whole):
//!
//! ```text
//! params            the canonical parameter encoding (see Params::fingerprint)
//! public key        seed | poly(Q_L)
//! switching key     u32 level l | seed | u64 digits = ceil(|Q_l| / alpha)
//!                   | digits × poly(Q_l ∪ P)                          (nested only)
//! evaluation keys   request fingerprint (32) | u8 has relin | [switching key]
//!                   | u64 count | count × (u64 Galois element | switching key),
//!                   elements strictly increasing
//! bootstrapping     request fingerprint (32) | evaluation keys as above, without
//!   keys            their fingerprint | encapsulation: seed | poly(q0, p0)
//!                   | sparse→dense switching key (level L)
//! ciphertext        u32 level | f64 scale | u64 slots | u64 parts (2..=3)
//!                   | parts × poly(Q_level)
//! plaintext         u32 level | f64 scale | u64 slots | poly(Q_level)
//! secret key        u64 N | N ternary coefficients, 2 bits each (0, 1, −1 → 0b00,
//!                   0b01, 0b10)                         (only through *_secret_bytes)
//! ```
//!
//! Decoders check, in this order: magic, version, kind, flags, parameter fingerprint
//! against the caller's parameters, body length against the input, then every field:
//! levels within the parameters, counts equal to what the structure demands (or, for
//! the number of Galois keys, at most `N` and no more than the input can hold) before
//! anything is allocated, limb counts, every residue below its prime, no bytes left
//! over. Key bundles also carry the fingerprint of their key request (which Galois keys,
//! at which levels; see [`KeyRequest::fingerprint`](crate::ckks::KeyRequest::fingerprint)),
//! checked against the one the caller expects (the model it serves) and against the keys
//! actually in the bundle.
//!
//! Secret keys have their own path, named so that no one calls it by accident:
//! [`SecretKey::to_secret_bytes`](crate::ckks::SecretKey::to_secret_bytes) /
//! [`SecretKey::from_secret_bytes`](crate::ckks::SecretKey::from_secret_bytes). No
//! bundle contains one.
//!
//! ```
//! use fhe_dsl::backend::reference::ReferenceBackend;
//! use fhe_dsl::ckks::{Ckks, EvaluationKeys, KeyRequest, Params, ParamsLiteral};
//!
//! # fn main() -> Result<(), fhe_dsl::Error> {
//! let params = Params::new_insecure_for_tests(ParamsLiteral::test_small())?;
//! let ckks = Ckks::new(params.clone(), ReferenceBackend);
//! let mut kg = ckks.key_generator();
//! let sk = kg.secret_key();
//! let req = KeyRequest::new().relin().rotations([1]);
//! let evk = kg.evaluation_keys(&sk, &req)?;
//!
//! // client → server: parameters, evaluation keys, a ciphertext
//! let (p_bytes, k_bytes) = (params.to_bytes(), evk.to_bytes(&params)?);
//! let pt = ckks.encode_real(&[0.5, 0.25], 2, params.default_scale())?;
//! let c_bytes = ckks.ciphertext_to_bytes(&ckks.encryptor_sk(&sk).encrypt(&pt)?)?;
//!
//! // server: refuses anything made for other parameters or another request
//! let server_params = Params::from_bytes_insecure_for_tests(&p_bytes)?;
//! assert_eq!(server_params.fingerprint(), params.fingerprint());
//! let keys = EvaluationKeys::from_bytes(&k_bytes, &server_params, &req)?;
//! let server = Ckks::new(server_params, ReferenceBackend);
//! let ct = server.ciphertext_from_bytes(&c_bytes)?;
//! let rotated = server.evaluator(&keys)?.rotate_new(&ct, 1)?;
//! assert!(EvaluationKeys::from_bytes(&k_bytes, &params, &KeyRequest::new().relin()).is_err());
//!
//! // client: decrypts the server's answer
//! let back = ckks.ciphertext_from_bytes(&server.ciphertext_to_bytes(&rotated)?)?;
//! let out = ckks.decryptor(&sk).decrypt_real(&back)?;
//! assert!((out[0] - 0.25).abs() < 1e-6);
//! # Ok(()) }
//! ```

mod codec;
mod error;
mod fingerprint;
mod objects;

pub use error::WireError;
pub use fingerprint::Fingerprint;
pub use objects::{ciphertext_len, WireSize};
/// A byte buffer wiped on drop (what [`SecretKey::to_secret_bytes`] returns).
///
/// [`SecretKey::to_secret_bytes`]: crate::ckks::SecretKey::to_secret_bytes
pub use zeroize::Zeroizing;

use crate::error::Result;
use codec::{Reader, Sink};
use std::fmt;

/// The magic bytes every object starts with.
pub const MAGIC: [u8; 4] = [0x89, b'F', b'H', b'E'];
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Bytes of the header before every body.
pub const HEADER_LEN: usize = 48;

/// What an object is (the header's kind tag).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// A parameter set.
    Params = 1,
    /// A public (encryption) key.
    PublicKey = 2,
    /// Evaluation keys (relinearisation, Galois).
    EvaluationKeys = 3,
    /// Bootstrapping keys (evaluation keys, encapsulation, sparse→dense).
    BootstrappingKeys = 4,
    /// A ciphertext.
    Ciphertext = 5,
    /// A plaintext.
    Plaintext = 6,
    /// A secret key (only through the explicit secret export).
    SecretKey = 7,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::Params,
        Kind::PublicKey,
        Kind::EvaluationKeys,
        Kind::BootstrappingKeys,
        Kind::Ciphertext,
        Kind::Plaintext,
        Kind::SecretKey,
    ];

    /// The kind with this tag, if any.
    pub fn from_tag(tag: u8) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| *k as u8 == tag)
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Params => "a parameter set",
            Kind::PublicKey => "a public key",
            Kind::EvaluationKeys => "evaluation keys",
            Kind::BootstrappingKeys => "bootstrapping keys",
            Kind::Ciphertext => "a ciphertext",
            Kind::Plaintext => "a plaintext",
            Kind::SecretKey => "a secret key",
        }
    }

    pub(crate) fn describe(tag: u8) -> String {
        match Kind::from_tag(tag) {
            Some(k) => k.name().to_string(),
            None => format!("an unknown kind (tag {tag})"),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An object's header, read without decoding the body ([`peek_header`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Format version.
    pub version: u16,
    /// What the object is.
    pub kind: Kind,
    /// Fingerprint of the parameter set it was made under.
    pub params: Fingerprint,
    /// Bytes of the body after the header.
    pub body_len: u64,
}

/// Reads and checks an object's header (magic, version, a known kind, flags, and that
/// exactly `body_len` bytes follow), without decoding the body: what a server looks at
/// before it decides what to do with an upload.
pub fn peek_header(bytes: &[u8]) -> Result<Header> {
    let prefix = &bytes[..bytes.len().min(4)];
    if prefix != &MAGIC[..prefix.len()] {
        return Err(WireError::BadMagic {
            found: prefix.to_vec(),
            expected: MAGIC,
        }
        .into());
    }
    let mut r = Reader::new(bytes);
    r.take(HEADER_LEN, "header")?;
    let mut r = Reader::new(&bytes[4..]);
    let version = r.u16("version")?;
    if version != FORMAT_VERSION {
        return Err(WireError::Version {
            found: version,
            supported: FORMAT_VERSION,
        }
        .into());
    }
    let tag = r.u8("kind")?;
    let Some(kind) = Kind::from_tag(tag) else {
        return Err(WireError::structure("header", format!("unknown kind tag {tag}")).into());
    };
    let flags = r.u8("flags")?;
    if flags != 0 {
        return Err(WireError::Flags(flags).into());
    }
    let params = Fingerprint(r.array("parameter fingerprint")?);
    let body_len = r.u64("body length")?;
    let left = (bytes.len() - HEADER_LEN) as u64;
    if body_len > left {
        return Err(WireError::Truncated {
            what: format!("the body of {kind}"),
            needed: body_len,
            left,
        }
        .into());
    }
    if body_len < left {
        return Err(WireError::Trailing {
            what: kind,
            count: left - body_len,
        }
        .into());
    }
    Ok(Header {
        version,
        kind,
        params,
        body_len,
    })
}

/// Checks the header for `kind` under parameters with fingerprint `params` (`None`: not
/// checked here, for the parameter set itself) and returns a reader over the body.
fn open<'a>(
    bytes: &'a [u8],
    kind: Kind,
    params: Option<&Fingerprint>,
) -> Result<(Header, Reader<'a>)> {
    // the kind is checked before the header is complete: a truncated object of the
    // wrong kind reports the kind
    if bytes.len() >= 7 && bytes[..4] == MAGIC {
        let found = bytes[6];
        if found != kind as u8 && u16::from_le_bytes([bytes[4], bytes[5]]) == FORMAT_VERSION {
            return Err(WireError::Kind {
                expected: kind,
                found,
            }
            .into());
        }
    }
    let h = peek_header(bytes)?;
    if h.kind != kind {
        return Err(WireError::Kind {
            expected: kind,
            found: h.kind as u8,
        }
        .into());
    }
    if let Some(expected) = params {
        if h.params != *expected {
            return Err(WireError::ParamsFingerprint {
                what: kind,
                expected: *expected,
                found: h.params,
            }
            .into());
        }
    }
    Ok((h, Reader::new(&bytes[HEADER_LEN..])))
}

/// Refuses bytes left in the body after the object.
fn close(r: &Reader<'_>, kind: Kind) -> Result<()> {
    if r.remaining() != 0 {
        return Err(WireError::Trailing {
            what: kind,
            count: r.remaining() as u64,
        }
        .into());
    }
    Ok(())
}

/// Writes a header.
fn put_header(s: &mut impl Sink, kind: Kind, params: &Fingerprint, body_len: u64) -> Result<()> {
    s.put(&MAGIC)?;
    s.u16(FORMAT_VERSION)?;
    s.u8(kind as u8)?;
    s.u8(0)?;
    s.put(&params.0)?;
    s.u64(body_len)
}

#[cfg(test)]
mod tests {
    use crate::ckks::{Ckks, Params, ParamsLiteral, SecretKey};
    use zeroize::Zeroize;

    #[test]
    fn secret_keys_are_wiped() {
        fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        wiped_on_drop::<SecretKey>();
        let params = Params::new_insecure_for_tests(ParamsLiteral::test_small()).unwrap();
        let ckks = Ckks::new(params, crate::backend::reference::ReferenceBackend);
        let mut sk = ckks.key_generator().secret_key();
        assert!(sk.expose_coefficients().iter().any(|&c| c != 0));
        // what the drop runs: every coefficient overwritten, then the length cleared
        sk.zeroize();
        assert!(sk.expose_coefficients().is_empty());
    }
}
