//! Encoders and validating decoders of every object that crosses the wire.

use super::codec::{get_poly, poly_bytes, put_poly, IoSink, Reader, Sink};
use super::fingerprint::KeySet;
use super::{close, open, put_header, Fingerprint, Kind, WireError, HEADER_LEN};
use crate::backend::Backend;
use crate::circuits::{BootstrapConfig, BootstrappingKeys, EncapsulationKey};
use crate::ckks::{
    Ciphertext, Ckks, EvaluationKeys, KeyRequest, Params, ParamsLiteral, Plaintext, PublicKey,
    SecretDist, SecretKey, SwitchingKey,
};
use crate::error::Result;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// Most primes (Q and P together) a decoded parameter set may list: the 128-bit bound
/// at N = 2^17 (3544 bits) over the smallest allowed prime (28 bits) is 126.
const MAX_PRIMES: u64 = 128;
/// Most parts of a ciphertext (degree 2: a product not yet relinearised).
const MAX_PARTS: u64 = 3;

/// Serialised size of a key bundle, as written (uniform halves as 32-byte seeds) and as
/// it would be with the uniform halves stored whole (what a format without seeds, or the
/// evaluator's memory, holds; same residue packing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireSize {
    /// Bytes as written: header, seeds and the `b` halves.
    pub seeded: u64,
    /// Bytes with every seed replaced by the polynomials it expands to.
    pub expanded: u64,
}

impl WireSize {
    fn add(self, other: WireSize) -> WireSize {
        WireSize {
            seeded: self.seeded + other.seeded,
            expanded: self.expanded + other.expanded,
        }
    }
}

fn write_to_vec(len: u64, f: impl FnOnce(&mut Vec<u8>) -> Result<()>) -> Result<Vec<u8>> {
    let mut v = Vec::with_capacity(len as usize);
    f(&mut v)?;
    debug_assert_eq!(v.len() as u64, len, "encoded length");
    Ok(v)
}

// ---- shared pieces ----------------------------------------------------------------------

/// Q primes at `level` then the P primes (a switching key's limbs).
fn qp(params: &Params, level: usize) -> Vec<usize> {
    let mut v = params.q_primes_at(level);
    v.extend(params.ring().p_indices());
    v
}

fn get_level(r: &mut Reader<'_>, params: &Params, what: &str) -> Result<usize> {
    let l = r.u32(&format!("{what}: level"))?;
    if l as usize > params.max_level() {
        return Err(WireError::structure(
            format!("{what}: level"),
            format!(
                "level {l} is above the parameters' maximum level {}",
                params.max_level()
            ),
        )
        .into());
    }
    Ok(l as usize)
}

fn get_scale(r: &mut Reader<'_>, what: &str) -> Result<f64> {
    let s = f64::from_bits(r.u64(&format!("{what}: scale"))?);
    if !(s.is_finite() && s > 0.0) {
        return Err(WireError::structure(
            format!("{what}: scale"),
            format!("{s} is not a finite positive number"),
        )
        .into());
    }
    Ok(s)
}

fn get_slots(r: &mut Reader<'_>, params: &Params, what: &str) -> Result<usize> {
    let s = r.u64(&format!("{what}: slots"))?;
    if s == 0 || s > params.max_slots() as u64 || !s.is_power_of_two() {
        return Err(WireError::structure(
            format!("{what}: slots"),
            format!("{s} is not a power of two in 1..={}", params.max_slots()),
        )
        .into());
    }
    Ok(s as usize)
}

fn digits_at(params: &Params, level: usize) -> usize {
    params.limbs_at(level).div_ceil(params.alpha())
}

fn swk_len(params: &Params, level: usize) -> WireSize {
    let a = digits_at(params, level) as u64 * poly_bytes(params.ring(), &qp(params, level)) as u64;
    let seeded = 4 + 32 + 8 + a;
    WireSize {
        seeded,
        expanded: seeded - 32 + a,
    }
}

fn put_swk(s: &mut impl Sink, params: &Params, k: &SwitchingKey, what: &str) -> Result<()> {
    let level = k.level(params);
    if level > params.max_level() {
        return Err(WireError::structure(
            format!("cannot encode {what}"),
            format!("level {level} above the maximum {}", params.max_level()),
        )
        .into());
    }
    let digits = digits_at(params, level);
    if k.b.len() != digits {
        return Err(WireError::structure(
            format!("cannot encode {what}"),
            format!("{} digits, level {level} needs {digits}", k.b.len()),
        )
        .into());
    }
    s.u32(level as u32)?;
    s.put(&k.seed)?;
    s.u64(digits as u64)?;
    let primes = qp(params, level);
    for b in &k.b {
        put_poly(s, params.ring(), b, &primes, what)?;
    }
    Ok(())
}

fn get_swk(r: &mut Reader<'_>, params: &Params, what: &str) -> Result<SwitchingKey> {
    let level = get_level(r, params, what)?;
    let seed = r.array(&format!("{what}: seed"))?;
    let digits = digits_at(params, level);
    r.exact_count(&format!("{what}: digit count"), digits)?;
    let primes = qp(params, level);
    let mut b = Vec::with_capacity(digits);
    for j in 0..digits {
        b.push(get_poly(
            r,
            params.ring(),
            &primes,
            &format!("{what}, digit {j}"),
        )?);
    }
    Ok(SwitchingKey {
        seed,
        b,
        level: Some(level),
    })
}

fn galois_what(g: usize) -> String {
    format!("Galois key {g}")
}

fn evk_body_len(params: &Params, keys: &EvaluationKeys) -> WireSize {
    let mut n = WireSize {
        seeded: 1 + 8,
        expanded: 1 + 8,
    };
    if let Some(k) = &keys.relin {
        n = n.add(swk_len(params, k.level(params)));
    }
    for k in keys.galois.values() {
        n = n.add(swk_len(params, k.level(params)));
        n = n.add(WireSize {
            seeded: 8,
            expanded: 8,
        });
    }
    n
}

fn put_evk(s: &mut impl Sink, params: &Params, keys: &EvaluationKeys) -> Result<()> {
    s.u8(keys.relin.is_some() as u8)?;
    if let Some(k) = &keys.relin {
        put_swk(s, params, k, "relinearisation key")?;
    }
    s.u64(keys.galois.len() as u64)?;
    for (&g, k) in &keys.galois {
        s.u64(g as u64)?;
        put_swk(s, params, k, &galois_what(g))?;
    }
    Ok(())
}

fn get_evk(r: &mut Reader<'_>, params: &Params) -> Result<EvaluationKeys> {
    let relin = match r.u8("relinearisation flag")? {
        0 => None,
        1 => Some(get_swk(r, params, "relinearisation key")?),
        f => {
            return Err(WireError::structure(
                "relinearisation flag",
                format!("{f} is neither 0 nor 1"),
            )
            .into())
        }
    };
    // at most N Galois elements exist (the odd residues mod 2N); each entry takes at
    // least its element, level, seed and digit count
    let count = r.count("Galois key count", 0, params.n() as u64, 8 + 4 + 32 + 8)?;
    let two_n = 2 * params.n() as u64;
    let mut galois = BTreeMap::new();
    let mut last = 1u64;
    for _ in 0..count {
        let g = r.u64("Galois element")?;
        if g % 2 == 0 || g >= two_n || g <= last {
            return Err(WireError::structure(
                "Galois element",
                format!(
                    "{g} is not an odd element in {}..{two_n} above the previous one ({last})",
                    last + 1
                ),
            )
            .into());
        }
        last = g;
        let k = get_swk(r, params, &galois_what(g as usize))?;
        galois.insert(g as usize, k);
    }
    Ok(EvaluationKeys { relin, galois })
}

/// Checks the request fingerprint a bundle declares against the caller's.
fn check_request(declared: Fingerprint, expected: &Fingerprint, kind: Kind) -> Result<()> {
    if declared != *expected {
        return Err(WireError::RequestFingerprint {
            what: kind,
            expected: *expected,
            found: declared,
        }
        .into());
    }
    Ok(())
}

/// Checks that the keys read are the keys the declared fingerprint names.
fn check_content(
    params: &Params,
    keys: &EvaluationKeys,
    bootstrapping: bool,
    declared: &Fingerprint,
    kind: Kind,
) -> Result<()> {
    let found = KeySet::of_keys(params, keys, bootstrapping).fingerprint(params);
    if found != *declared {
        return Err(WireError::structure(
            kind.to_string(),
            format!(
                "the keys in the bundle (request fingerprint {found}) are not those its \
                 header names ({declared})"
            ),
        )
        .into());
    }
    Ok(())
}

// ---- parameters -------------------------------------------------------------------------

impl Params {
    /// The parameter set as a `Params` object (header and canonical encoding).
    pub fn to_bytes(&self) -> Vec<u8> {
        let body = super::fingerprint::params_bytes(self);
        let mut v = Vec::with_capacity(HEADER_LEN + body.len());
        let put = |v: &mut Vec<u8>| -> Result<()> {
            put_header(v, Kind::Params, &self.fingerprint(), body.len() as u64)?;
            v.put(&body)
        };
        put(&mut v).expect("writing to a Vec cannot fail");
        v
    }

    /// Decodes and validates a parameter set with the 128-bit security check of
    /// [`Params::new`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Params> {
        Self::decode(bytes, false)
    }

    /// Decodes a parameter set **without the security check**, like
    /// [`Params::new_insecure_for_tests`]: for tests only.
    pub fn from_bytes_insecure_for_tests(bytes: &[u8]) -> Result<Params> {
        Self::decode(bytes, true)
    }

    fn decode(bytes: &[u8], insecure: bool) -> Result<Params> {
        let (h, mut r) = open(bytes, Kind::Params, None)?;
        let log_n = r.u8("log_n")? as u32;
        let log_scale = r.u8("log_scale")? as u32;
        let dnum = r.u32("dnum")? as usize;
        let secret = match r.u8("secret distribution")? {
            0 => SecretDist::Ternary,
            1 => SecretDist::Sparse {
                hamming_weight: r.u32("Hamming weight")? as usize,
            },
            t => {
                return Err(WireError::structure(
                    "secret distribution",
                    format!("unknown tag {t} (0 ternary, 1 sparse)"),
                )
                .into())
            }
        };
        let mut primes = Vec::new();
        let mut bits = Vec::new();
        for what in ["Q prime count", "P prime count"] {
            let c = r.u32(what)? as u64;
            let left = MAX_PRIMES - primes.len() as u64;
            if c > left {
                return Err(WireError::Length {
                    what: what.into(),
                    claimed: c,
                    limit: left,
                }
                .into());
            }
            if c * 9 > r.remaining() as u64 {
                return Err(WireError::Truncated {
                    what: what.into(),
                    needed: c * 9,
                    left: r.remaining() as u64,
                }
                .into());
            }
            let (mut b, mut p) = (Vec::new(), Vec::new());
            for _ in 0..c {
                b.push(r.u8("prime bit size")? as u32);
                p.push(r.u64("prime")?);
            }
            bits.push(b);
            primes.push(p);
        }
        let levels = r.u32("level count")? as u64;
        let q_count = primes[0].len() as u64;
        if levels > q_count {
            return Err(WireError::Length {
                what: "level count".into(),
                claimed: levels,
                limit: q_count,
            }
            .into());
        }
        if levels * 4 > r.remaining() as u64 {
            return Err(WireError::Truncated {
                what: "levels".into(),
                needed: levels * 4,
                left: r.remaining() as u64,
            }
            .into());
        }
        let level_primes = (0..levels)
            .map(|_| r.u32("primes per level").map(|x| x as usize))
            .collect::<Result<Vec<_>>>()?;
        close(&r, Kind::Params)?;
        let lit = ParamsLiteral {
            log_n,
            log_q: bits[0].clone(),
            log_p: bits[1].clone(),
            level_primes: (!level_primes.iter().all(|&k| k == 1)).then_some(level_primes),
            dnum,
            log_scale,
            secret,
        };
        let params = if insecure {
            Params::new_insecure_for_tests(lit)?
        } else {
            Params::new(lit)?
        };
        if params.q() != primes[0] || params.p() != primes[1] {
            return Err(WireError::structure(
                "parameter set",
                "its primes are not those its bit sizes select (made by another prime search?)",
            )
            .into());
        }
        let fp = params.fingerprint();
        if fp != h.params {
            return Err(WireError::structure(
                "parameter set",
                format!(
                    "its header fingerprint {} does not match its content ({fp})",
                    h.params
                ),
            )
            .into());
        }
        Ok(params)
    }
}

// ---- public key -------------------------------------------------------------------------

impl PublicKey {
    /// Serialised size under `params` (seeded, and with the uniform half whole).
    pub fn wire_size(params: &Params) -> WireSize {
        let b = poly_bytes(params.ring(), &params.q_primes_at(params.max_level())) as u64;
        let seeded = (HEADER_LEN + 32) as u64 + b;
        WireSize {
            seeded,
            expanded: seeded - 32 + b,
        }
    }

    /// The public key as a `PublicKey` object bound to `params`.
    pub fn to_bytes(&self, params: &Params) -> Result<Vec<u8>> {
        write_to_vec(Self::wire_size(params).seeded, |v| {
            put_header(
                v,
                Kind::PublicKey,
                &params.fingerprint(),
                (Self::wire_size(params).seeded as usize - HEADER_LEN) as u64,
            )?;
            v.put(&self.seed)?;
            let q = params.q_primes_at(params.max_level());
            put_poly(v, params.ring(), &self.b, &q, "public key")
        })
    }

    /// Decodes a public key made under `params`.
    pub fn from_bytes(bytes: &[u8], params: &Params) -> Result<PublicKey> {
        let (_, mut r) = open(bytes, Kind::PublicKey, Some(&params.fingerprint()))?;
        let seed = r.array("public key: seed")?;
        let q = params.q_primes_at(params.max_level());
        let b = get_poly(&mut r, params.ring(), &q, "public key")?;
        close(&r, Kind::PublicKey)?;
        Ok(PublicKey { seed, b })
    }
}

// ---- evaluation keys --------------------------------------------------------------------

impl EvaluationKeys {
    /// Serialised size under `params` (seeded, and with the uniform halves whole).
    pub fn wire_size(&self, params: &Params) -> WireSize {
        let fixed = (HEADER_LEN + 32) as u64;
        evk_body_len(params, self).add(WireSize {
            seeded: fixed,
            expanded: fixed,
        })
    }

    /// Writes the keys as an `EvaluationKeys` object bound to `params` and to the
    /// fingerprint of the request they answer; returns the bytes written. Streams: no
    /// second copy of the keys in memory.
    pub fn write_to(&self, params: &Params, w: impl std::io::Write) -> Result<u64> {
        let mut s = IoSink { w, written: 0 };
        self.put(&mut s, params)?;
        Ok(s.written)
    }

    /// The keys as an `EvaluationKeys` object (see [`write_to`](Self::write_to)).
    pub fn to_bytes(&self, params: &Params) -> Result<Vec<u8>> {
        write_to_vec(self.wire_size(params).seeded, |v| self.put(v, params))
    }

    fn put(&self, s: &mut impl Sink, params: &Params) -> Result<()> {
        let body = self.wire_size(params).seeded - HEADER_LEN as u64;
        put_header(s, Kind::EvaluationKeys, &params.fingerprint(), body)?;
        s.put(&self.request_fingerprint(params).0)?;
        put_evk(s, params, self)
    }

    /// Decodes evaluation keys made under `params` for exactly the keys `request` asks
    /// for (the model's `key_request()`): keys for another model, or for other
    /// parameters, are refused.
    pub fn from_bytes(bytes: &[u8], params: &Params, request: &KeyRequest) -> Result<Self> {
        Self::from_bytes_with_fingerprint(bytes, params, &request.fingerprint(params))
    }

    /// [`from_bytes`](Self::from_bytes) against a request fingerprint
    /// ([`KeyRequest::fingerprint`]).
    pub fn from_bytes_with_fingerprint(
        bytes: &[u8],
        params: &Params,
        request: &Fingerprint,
    ) -> Result<Self> {
        let kind = Kind::EvaluationKeys;
        let (_, mut r) = open(bytes, kind, Some(&params.fingerprint()))?;
        let declared = Fingerprint(r.array("key request fingerprint")?);
        check_request(declared, request, kind)?;
        let keys = get_evk(&mut r, params)?;
        close(&r, kind)?;
        check_content(params, &keys, false, &declared, kind)?;
        Ok(keys)
    }
}

// ---- bootstrapping keys -----------------------------------------------------------------

impl BootstrappingKeys {
    /// The fingerprint of the bundle [`BootstrappingKeys::generate`] makes for `config`
    /// and the program's own keys `extra`, under `params`: what
    /// [`from_bytes`](Self::from_bytes) checks.
    pub fn expected_fingerprint(
        params: &Params,
        config: &BootstrapConfig,
        extra: &KeyRequest,
    ) -> Result<Fingerprint> {
        let req = Self::key_request(params, config, extra)?;
        Ok(KeySet::of_request(params, &req, true).fingerprint(params))
    }

    /// The fingerprint of the keys this bundle holds.
    pub fn request_fingerprint(&self, params: &Params) -> Fingerprint {
        KeySet::of_keys(params, &self.evk, true).fingerprint(params)
    }

    fn encapsulation_primes(params: &Params) -> [usize; 2] {
        [0, params.ring().p_indices().start]
    }

    /// Serialised size under `params` (seeded, and with the uniform halves whole).
    pub fn wire_size(&self, params: &Params) -> WireSize {
        let fixed = (HEADER_LEN + 32) as u64;
        let enc = poly_bytes(params.ring(), &Self::encapsulation_primes(params)) as u64;
        evk_body_len(params, &self.evk)
            .add(swk_len(params, params.max_level()))
            .add(WireSize {
                seeded: fixed + 32 + enc,
                expanded: fixed + 2 * enc,
            })
    }

    /// Writes the bundle as a `BootstrappingKeys` object bound to `params` and to its
    /// request fingerprint; returns the bytes written. Streams: no second copy of the
    /// keys in memory.
    pub fn write_to(&self, params: &Params, w: impl std::io::Write) -> Result<u64> {
        let mut s = IoSink { w, written: 0 };
        self.put(&mut s, params)?;
        Ok(s.written)
    }

    /// The bundle as a `BootstrappingKeys` object (see [`write_to`](Self::write_to)).
    pub fn to_bytes(&self, params: &Params) -> Result<Vec<u8>> {
        write_to_vec(self.wire_size(params).seeded, |v| self.put(v, params))
    }

    fn put(&self, s: &mut impl Sink, params: &Params) -> Result<()> {
        let body = self.wire_size(params).seeded - HEADER_LEN as u64;
        put_header(s, Kind::BootstrappingKeys, &params.fingerprint(), body)?;
        s.put(&self.request_fingerprint(params).0)?;
        put_evk(s, params, &self.evk)?;
        s.put(&self.to_sparse.seed)?;
        put_poly(
            s,
            params.ring(),
            &self.to_sparse.b,
            &Self::encapsulation_primes(params),
            "encapsulation key",
        )?;
        if self.from_sparse.level(params) != params.max_level() {
            return Err(WireError::structure(
                "cannot encode the sparse→dense key",
                "it must serve the maximum level",
            )
            .into());
        }
        put_swk(s, params, &self.from_sparse, "sparse→dense key")
    }

    /// Decodes a bootstrapping bundle made under `params` for `config` and the
    /// program's keys `extra` (what was passed to [`generate`](Self::generate)).
    pub fn from_bytes(
        bytes: &[u8],
        params: &Params,
        config: &BootstrapConfig,
        extra: &KeyRequest,
    ) -> Result<Self> {
        let fp = Self::expected_fingerprint(params, config, extra)?;
        Self::from_bytes_with_fingerprint(bytes, params, &fp)
    }

    /// [`from_bytes`](Self::from_bytes) against a request fingerprint
    /// ([`expected_fingerprint`](Self::expected_fingerprint)).
    pub fn from_bytes_with_fingerprint(
        bytes: &[u8],
        params: &Params,
        request: &Fingerprint,
    ) -> Result<Self> {
        let kind = Kind::BootstrappingKeys;
        let (_, mut r) = open(bytes, kind, Some(&params.fingerprint()))?;
        let declared = Fingerprint(r.array("key request fingerprint")?);
        check_request(declared, request, kind)?;
        let evk = get_evk(&mut r, params)?;
        let seed = r.array("encapsulation key: seed")?;
        let b = get_poly(
            &mut r,
            params.ring(),
            &Self::encapsulation_primes(params),
            "encapsulation key",
        )?;
        let from_sparse = get_swk(&mut r, params, "sparse→dense key")?;
        if from_sparse.level(params) != params.max_level() {
            return Err(WireError::structure(
                "sparse→dense key",
                format!(
                    "level {} instead of the maximum {}",
                    from_sparse.level(params),
                    params.max_level()
                ),
            )
            .into());
        }
        close(&r, kind)?;
        check_content(params, &evk, true, &declared, kind)?;
        Ok(BootstrappingKeys {
            evk,
            to_sparse: EncapsulationKey { seed, b },
            from_sparse,
        })
    }
}

// ---- ciphertexts and plaintexts ---------------------------------------------------------

/// Serialised size of a ciphertext of `parts` parts (2 unless not relinearised) at
/// `level` under `params`.
pub fn ciphertext_len(params: &Params, level: usize, parts: usize) -> usize {
    HEADER_LEN + 4 + 8 + 8 + 8 + parts * poly_bytes(params.ring(), &params.q_primes_at(level))
}

impl<B: Backend> Ckks<B> {
    /// The ciphertext as a `Ciphertext` object bound to these parameters.
    pub fn ciphertext_to_bytes(&self, ct: &Ciphertext<B>) -> Result<Vec<u8>> {
        let params = self.params();
        let parts = ct.parts.len();
        if !(2..=MAX_PARTS as usize).contains(&parts) || ct.level > params.max_level() {
            return Err(WireError::structure(
                "cannot encode the ciphertext",
                format!("{parts} parts at level {}", ct.level),
            )
            .into());
        }
        let len = ciphertext_len(params, ct.level, parts);
        let q = params.q_primes_at(ct.level);
        write_to_vec(len as u64, |v| {
            put_header(
                v,
                Kind::Ciphertext,
                &params.fingerprint(),
                (len - HEADER_LEN) as u64,
            )?;
            v.u32(ct.level as u32)?;
            v.u64(ct.scale.to_bits())?;
            v.u64(ct.slots as u64)?;
            v.u64(parts as u64)?;
            for p in &ct.parts {
                let host = self.backend().download(params.ring(), p)?;
                put_poly(v, params.ring(), &host, &q, "ciphertext part")?;
            }
            Ok(())
        })
    }

    /// Decodes a ciphertext made under these parameters and uploads it to the backend.
    pub fn ciphertext_from_bytes(&self, bytes: &[u8]) -> Result<Ciphertext<B>> {
        let params = self.params();
        let kind = Kind::Ciphertext;
        let (_, mut r) = open(bytes, kind, Some(&params.fingerprint()))?;
        let level = get_level(&mut r, params, "ciphertext")?;
        let scale = get_scale(&mut r, "ciphertext")?;
        let slots = get_slots(&mut r, params, "ciphertext")?;
        let q = params.q_primes_at(level);
        let count = r.count(
            "ciphertext part count",
            2,
            MAX_PARTS,
            poly_bytes(params.ring(), &q) as u64,
        )?;
        let mut host = Vec::with_capacity(count);
        for j in 0..count {
            host.push(get_poly(
                &mut r,
                params.ring(),
                &q,
                &format!("ciphertext part {j}"),
            )?);
        }
        close(&r, kind)?;
        let parts = host
            .into_iter()
            .map(|p| self.backend().upload(params.ring(), p))
            .collect::<Result<Vec<_>>>()?;
        Ok(Ciphertext {
            parts,
            level,
            scale,
            slots,
        })
    }

    /// The plaintext as a `Plaintext` object bound to these parameters.
    pub fn plaintext_to_bytes(&self, pt: &Plaintext<B>) -> Result<Vec<u8>> {
        let params = self.params();
        if pt.level > params.max_level() {
            return Err(WireError::structure(
                "cannot encode the plaintext",
                format!("level {} above the maximum", pt.level),
            )
            .into());
        }
        let q = params.q_primes_at(pt.level);
        let len = HEADER_LEN + 4 + 8 + 8 + poly_bytes(params.ring(), &q);
        write_to_vec(len as u64, |v| {
            put_header(
                v,
                Kind::Plaintext,
                &params.fingerprint(),
                (len - HEADER_LEN) as u64,
            )?;
            v.u32(pt.level as u32)?;
            v.u64(pt.scale.to_bits())?;
            v.u64(pt.slots as u64)?;
            let host = self.backend().download(params.ring(), &pt.poly)?;
            put_poly(v, params.ring(), &host, &q, "plaintext")
        })
    }

    /// Decodes a plaintext made under these parameters and uploads it to the backend.
    pub fn plaintext_from_bytes(&self, bytes: &[u8]) -> Result<Plaintext<B>> {
        let params = self.params();
        let kind = Kind::Plaintext;
        let (_, mut r) = open(bytes, kind, Some(&params.fingerprint()))?;
        let level = get_level(&mut r, params, "plaintext")?;
        let scale = get_scale(&mut r, "plaintext")?;
        let slots = get_slots(&mut r, params, "plaintext")?;
        let q = params.q_primes_at(level);
        let host = get_poly(&mut r, params.ring(), &q, "plaintext")?;
        close(&r, kind)?;
        Ok(Plaintext {
            poly: self.backend().upload(params.ring(), host)?,
            level,
            scale,
            slots,
        })
    }
}

// ---- secret key -------------------------------------------------------------------------

impl SecretKey {
    /// **Exports the secret key.** Whoever holds these bytes decrypts everything
    /// encrypted under the key: keep them on the client, encrypted at rest. The buffer is
    /// wiped when dropped. Layout: the header (kind `SecretKey`, bound to `params`),
    /// `u64 N`, then the ternary coefficients at 2 bits each.
    pub fn to_secret_bytes(&self, params: &Params) -> Result<Zeroizing<Vec<u8>>> {
        let n = params.n();
        if self.coeffs.len() != n || self.coeffs.iter().any(|c| !(-1..=1).contains(c)) {
            return Err(WireError::structure(
                "cannot encode the secret key",
                format!("it is not {n} ternary coefficients"),
            )
            .into());
        }
        let len = HEADER_LEN + 8 + n / 4;
        let mut v = Zeroizing::new(Vec::with_capacity(len));
        put_header(
            &mut *v,
            Kind::SecretKey,
            &params.fingerprint(),
            (len - HEADER_LEN) as u64,
        )?;
        v.u64(n as u64)?;
        for c in self.coeffs.chunks_exact(4) {
            let code = |x: i64| match x {
                1 => 1u8,
                -1 => 2,
                _ => 0,
            };
            v.push(code(c[0]) | code(c[1]) << 2 | code(c[2]) << 4 | code(c[3]) << 6);
        }
        debug_assert_eq!(v.len(), len);
        Ok(v)
    }

    /// **Imports a secret key** exported by [`to_secret_bytes`](Self::to_secret_bytes)
    /// under `params`: checks the header, the degree, every coefficient code, and the
    /// Hamming weight when the parameters prescribe a sparse secret.
    pub fn from_secret_bytes(bytes: &[u8], params: &Params) -> Result<SecretKey> {
        let kind = Kind::SecretKey;
        let (_, mut r) = open(bytes, kind, Some(&params.fingerprint()))?;
        let n = params.n();
        r.exact_count("secret key: degree", n)?;
        let packed = r.take(n / 4, "secret key: coefficients")?;
        close(&r, kind)?;
        // built in place: wiped on drop, also when a later check fails
        let mut sk = SecretKey {
            coeffs: Vec::with_capacity(n),
        };
        for (i, &byte) in packed.iter().enumerate() {
            for j in 0..4 {
                sk.coeffs.push(match (byte >> (2 * j)) & 3 {
                    0 => 0,
                    1 => 1,
                    2 => -1,
                    _ => {
                        return Err(WireError::structure(
                            "secret key",
                            format!("coefficient {} has the invalid code 0b11", 4 * i + j),
                        )
                        .into())
                    }
                });
            }
        }
        if let SecretDist::Sparse { hamming_weight } = params.secret_dist() {
            let h = sk.coeffs.iter().filter(|&&c| c != 0).count();
            if h != hamming_weight {
                return Err(WireError::structure(
                    "secret key",
                    format!("Hamming weight {h}, the parameters prescribe {hamming_weight}"),
                )
                .into());
            }
        }
        Ok(sk)
    }
}
