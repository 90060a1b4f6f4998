//! Fingerprints: SHA-256 of a parameter set's canonical encoding, and of a key request
//! (which keys, at which levels) bound to its parameter set.

use super::codec::Sink;
use crate::ckks::{EvaluationKeys, KeyRequest, Params, SecretDist};
use crate::error::Result;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;

/// A 32-byte SHA-256 fingerprint. Displayed as the first 8 bytes in hex (`{:#}`: all 32).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The full fingerprint in lower-case hex (64 characters).
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.to_hex();
        if f.alternate() {
            f.write_str(&hex)
        } else {
            f.write_str(&hex[..16])
        }
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self:#})")
    }
}

/// Domain-separation prefixes, so that no parameter encoding hashes like a request.
const PARAMS_DOMAIN: &[u8] = b"fhe-dsl/params/v1\0";
const REQUEST_DOMAIN: &[u8] = b"fhe-dsl/key-request/v1\0";

/// Writes the canonical encoding of a parameter set (the body of a `Params` object; its
/// fingerprint is the SHA-256 of it). Every field that changes the arithmetic is in it,
/// the primes themselves included (so a change in the prime search shows):
///
/// ```text
/// u8 log_n | u8 log_scale | u32 dnum | u8 secret (0 ternary, 1 sparse) [u32 weight]
/// u32 #Q, then per Q prime: u8 bits, u64 prime
/// u32 #P, then per P prime: u8 bits, u64 prime
/// u32 #levels, then per level: u32 primes rescaling drops there (level 0 first)
/// ```
pub(crate) fn put_params(s: &mut impl Sink, params: &Params) -> Result<()> {
    let lit = params.literal();
    s.u8(lit.log_n as u8)?;
    s.u8(lit.log_scale as u8)?;
    s.u32(lit.dnum as u32)?;
    match lit.secret {
        SecretDist::Ternary => s.u8(0)?,
        SecretDist::Sparse { hamming_weight } => {
            s.u8(1)?;
            s.u32(hamming_weight as u32)?;
        }
    }
    for (bits, primes) in [(&lit.log_q, params.q()), (&lit.log_p, params.p())] {
        s.u32(primes.len() as u32)?;
        for (&b, &p) in bits.iter().zip(primes) {
            s.u8(b as u8)?;
            s.u64(p)?;
        }
    }
    s.u32(params.max_level() as u32 + 1)?;
    for l in 0..=params.max_level() {
        s.u32(params.primes_dropped_at(l) as u32)?;
    }
    Ok(())
}

/// The canonical encoding of `params` (see [`put_params`]).
pub(crate) fn params_bytes(params: &Params) -> Vec<u8> {
    let mut v = Vec::with_capacity(64 + 9 * (params.q().len() + params.p().len()));
    put_params(&mut v, params).expect("writing to a Vec cannot fail");
    v
}

impl Params {
    /// The parameter set's fingerprint: SHA-256 over a domain tag and its canonical
    /// encoding (log N, scale, dnum, secret distribution, every prime with its bit
    /// size, primes per level). Two handles with equal fingerprints do the same
    /// arithmetic; every serialised object carries the fingerprint of the set it was
    /// made under, and decoders refuse any other.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut h = Sha256::new();
        h.update(PARAMS_DOMAIN);
        h.update(params_bytes(self));
        Fingerprint(h.finalize().into())
    }
}

/// Which keys a bundle holds: the canonical form of a key request under a parameter
/// set. Two requests that ask for the same keys (the same Galois elements at the same
/// levels, whatever the rotation steps and their order) have the same key set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KeySet {
    /// Whether it is a bootstrapping bundle (encapsulation and sparse→dense keys too).
    pub bootstrapping: bool,
    /// Level of the relinearisation key, if any.
    pub relin: Option<usize>,
    /// Galois element → level of its key.
    pub galois: BTreeMap<usize, usize>,
}

impl KeySet {
    pub(crate) fn of_request(params: &Params, req: &KeyRequest, bootstrapping: bool) -> Self {
        KeySet {
            bootstrapping,
            relin: req.relin.then(|| params.max_level()),
            galois: req.galois_levels(params),
        }
    }

    pub(crate) fn of_keys(params: &Params, keys: &EvaluationKeys, bootstrapping: bool) -> Self {
        KeySet {
            bootstrapping,
            relin: keys.relin.as_ref().map(|k| k.level(params)),
            galois: keys
                .galois
                .iter()
                .map(|(&g, k)| (g, k.level(params)))
                .collect(),
        }
    }

    /// SHA-256 over a domain tag, the parameter fingerprint and
    /// `u8 bootstrapping | u8 relin | u32 relin level | u64 #galois | (u64 g, u32 level)*`
    /// with the Galois elements in increasing order.
    pub(crate) fn fingerprint(&self, params: &Params) -> Fingerprint {
        let mut v = Vec::with_capacity(32 + 16 + 12 * self.galois.len());
        v.extend_from_slice(REQUEST_DOMAIN);
        v.extend_from_slice(&params.fingerprint().0);
        v.push(self.bootstrapping as u8);
        v.push(self.relin.is_some() as u8);
        v.extend_from_slice(&(self.relin.unwrap_or(0) as u32).to_le_bytes());
        v.extend_from_slice(&(self.galois.len() as u64).to_le_bytes());
        for (&g, &l) in &self.galois {
            v.extend_from_slice(&(g as u64).to_le_bytes());
            v.extend_from_slice(&(l as u32).to_le_bytes());
        }
        Fingerprint(Sha256::digest(&v).into())
    }
}

impl KeyRequest {
    /// The fingerprint of the evaluation keys this request asks for under `params`
    /// (Galois elements with their levels, relinearisation): what a bundle of
    /// [`EvaluationKeys`] generated for it carries, and what
    /// [`EvaluationKeys::from_bytes`] checks. A server computes it from the model it
    /// serves (`model.key_request()`), so keys made for another model are refused.
    pub fn fingerprint(&self, params: &Params) -> Fingerprint {
        KeySet::of_request(params, self, false).fingerprint(params)
    }
}

impl EvaluationKeys {
    /// The fingerprint of the keys this set holds (equal to
    /// [`KeyRequest::fingerprint`] of the request it was generated for).
    pub fn request_fingerprint(&self, params: &Params) -> Fingerprint {
        KeySet::of_keys(params, self, false).fingerprint(params)
    }
}
