//! The wire format: round trips of every serialised type (proptest, N = 2^10..2^12 with
//! insecure test parameters), and a typed error for each way bytes can be wrong.

use fhe_dsl::backend::reference::ReferenceBackend;
use fhe_dsl::circuits::{BootstrapPreset, BootstrappingKeys};
use fhe_dsl::ckks::{
    galois_element, Ciphertext, Ckks, EvaluationKeys, KeyGenerator, KeyRequest, Params,
    ParamsLiteral, PublicKey, SecretDist, SecretKey,
};
use fhe_dsl::wire::{self, Kind, WireError, FORMAT_VERSION, HEADER_LEN};
use fhe_dsl::Error;
use proptest::prelude::*;
use std::sync::OnceLock;

type Be = ReferenceBackend;

/// Three small, insecure parameter sets: N = 2^10, 2^11 (two primes in one level) and
/// 2^12.
fn literal(which: usize) -> ParamsLiteral {
    match which {
        0 => ParamsLiteral {
            log_n: 10,
            log_q: vec![55, 45, 45, 45],
            log_p: vec![56, 56],
            level_primes: None,
            dnum: 2,
            log_scale: 40,
            secret: SecretDist::Ternary,
        },
        1 => ParamsLiteral {
            log_n: 11,
            log_q: vec![55, 30, 30, 45],
            log_p: vec![61, 61],
            level_primes: Some(vec![1, 2, 1]),
            dnum: 2,
            log_scale: 40,
            secret: SecretDist::Ternary,
        },
        _ => ParamsLiteral::test_small(),
    }
}

fn ckks(which: usize) -> &'static Ckks<Be> {
    static CTX: OnceLock<Vec<Ckks<Be>>> = OnceLock::new();
    &CTX.get_or_init(|| {
        (0..3)
            .map(|w| {
                Ckks::new(
                    Params::new_insecure_for_tests(literal(w)).unwrap(),
                    ReferenceBackend,
                )
            })
            .collect()
    })[which]
}

/// A secret and public key per parameter set (fixed seeds).
fn keys(which: usize) -> &'static (SecretKey, PublicKey) {
    static KEYS: OnceLock<Vec<(SecretKey, PublicKey)>> = OnceLock::new();
    &KEYS.get_or_init(|| {
        (0..3)
            .map(|w| {
                let mut kg = KeyGenerator::from_seed(ckks(w), 100 + w as u64);
                let sk = kg.secret_key();
                let pk = kg.public_key(&sk).unwrap();
                (sk, pk)
            })
            .collect()
    })[which]
}

fn encrypt(which: usize, values: &[f64], level: usize, seed: u64, with_sk: bool) -> Ciphertext<Be> {
    let c = ckks(which);
    let (sk, pk) = keys(which);
    let pt = c
        .encode_real(values, level, c.params().default_scale())
        .unwrap();
    let enc = if with_sk {
        c.encryptor_sk(sk)
    } else {
        c.encryptor(pk)
    };
    enc.with_seed_for_tests(seed).encrypt(&pt).unwrap()
}

fn bits(v: &[num_complex::Complex64]) -> Vec<(u64, u64)> {
    v.iter().map(|c| (c.re.to_bits(), c.im.to_bits())).collect()
}

fn decrypt_bits(which: usize, ct: &Ciphertext<Be>) -> Vec<(u64, u64)> {
    bits(
        &ckks(which)
            .decryptor(&keys(which).0)
            .decrypt_complex(ct)
            .unwrap(),
    )
}

fn wire_err(r: Result<impl Sized, Error>) -> WireError {
    match r {
        Err(Error::Wire(w)) => w,
        Err(e) => panic!("expected a wire error, got {e:?}"),
        Ok(_) => panic!("expected a wire error, got Ok"),
    }
}

/// Writes `value` into the `w`-bit field at bit offset `bit` of `bytes` (LSB first).
fn set_bits(bytes: &mut [u8], bit: usize, w: u32, value: u64) {
    for k in 0..w as usize {
        let (byte, off) = ((bit + k) / 8, (bit + k) % 8);
        let b = (value >> k) & 1;
        bytes[byte] = (bytes[byte] & !(1 << off)) | ((b as u8) << off);
    }
}

fn put_u64(bytes: &mut [u8], at: usize, x: u64) {
    bytes[at..at + 8].copy_from_slice(&x.to_le_bytes());
}

fn body_len_patched(bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let body = (b.len() - HEADER_LEN) as u64;
    put_u64(&mut b, 40, body);
    b
}

// ---- round trips --------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn params_round_trip(
        log_n in 10u32..=12,
        q in prop::collection::vec(30u32..=55, 1..6),
        p in prop::collection::vec(50u32..=61, 1..3),
        dnum_frac in 0.0f64..1.0,
        log_scale in 20u32..=45,
        grouped in any::<bool>(),
        sparse in prop::option::of(1usize..64),
    ) {
        let dnum = 1 + (dnum_frac * q.len() as f64) as usize;
        let level_primes = (grouped && q.len() >= 2).then(|| {
            let mut v = vec![1; q.len() - 2];
            v.push(2);
            v
        });
        let lit = ParamsLiteral {
            log_n,
            log_q: q,
            log_p: p,
            level_primes,
            dnum,
            log_scale,
            secret: sparse.map_or(SecretDist::Ternary, |h| SecretDist::Sparse { hamming_weight: h }),
        };
        let Ok(params) = Params::new_insecure_for_tests(lit.clone()) else {
            return Err(TestCaseError::reject("literal does not validate"));
        };
        let bytes = params.to_bytes();
        let back = Params::from_bytes_insecure_for_tests(&bytes).unwrap();
        prop_assert_eq!(back.fingerprint(), params.fingerprint());
        prop_assert_eq!(back.q(), params.q());
        prop_assert_eq!(back.p(), params.p());
        prop_assert_eq!(back.max_level(), params.max_level());
        prop_assert_eq!(back.literal(), params.literal());
        prop_assert_eq!(back.to_bytes(), bytes.clone());
        // the secure decoder accepts exactly what Params::new accepts
        match Params::new(lit) {
            Ok(p) => prop_assert_eq!(Params::from_bytes(&bytes).unwrap().fingerprint(), p.fingerprint()),
            Err(e) => prop_assert_eq!(Params::from_bytes(&bytes).unwrap_err(), e),
        }
    }
}

#[test]
fn secure_params_round_trip_through_the_secure_decoder() {
    for lit in [ParamsLiteral::bench_b(), BootstrapPreset::n16().params] {
        let params = Params::new(lit).unwrap();
        let back = Params::from_bytes(&params.to_bytes()).unwrap();
        assert_eq!(back.fingerprint(), params.fingerprint());
        assert!(back.is_secure());
        assert!(back.same_as(&params));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn ciphertexts_round_trip_and_decrypt_bit_for_bit(
        which in 0usize..3,
        level_frac in 0.0f64..1.0,
        values in prop::collection::vec(-1.0f64..1.0, 1..40),
        seed in any::<u64>(),
        with_sk in any::<bool>(),
        tensor in any::<bool>(),
    ) {
        let c = ckks(which);
        let level = (level_frac * (c.params().max_level() + 1) as f64) as usize;
        let mut ct = encrypt(which, &values, level, seed, with_sk);
        if tensor {
            // a degree-2 ciphertext (three parts), as a product before relinearisation
            ct = c.evaluator(&EvaluationKeys::default()).unwrap().mul_new(&ct, &ct).unwrap();
        }
        let bytes = c.ciphertext_to_bytes(&ct).unwrap();
        prop_assert_eq!(bytes.len(), wire::ciphertext_len(c.params(), level, ct.parts().len()));
        let back = c.ciphertext_from_bytes(&bytes).unwrap();
        prop_assert_eq!(back.parts(), ct.parts());
        prop_assert_eq!((back.level(), back.slots()), (ct.level(), ct.slots()));
        prop_assert_eq!(back.scale().to_bits(), ct.scale().to_bits());
        prop_assert_eq!(decrypt_bits(which, &back), decrypt_bits(which, &ct));
        let h = wire::peek_header(&bytes).unwrap();
        prop_assert_eq!(h.kind, Kind::Ciphertext);
        prop_assert_eq!(h.params, c.params().fingerprint());
    }

    #[test]
    fn plaintexts_round_trip(
        which in 0usize..3,
        level_frac in 0.0f64..1.0,
        values in prop::collection::vec(-8.0f64..8.0, 1..40),
    ) {
        let c = ckks(which);
        let level = (level_frac * (c.params().max_level() + 1) as f64) as usize;
        let pt = c.encode_real(&values, level, c.params().default_scale()).unwrap();
        let bytes = c.plaintext_to_bytes(&pt).unwrap();
        let back = c.plaintext_from_bytes(&bytes).unwrap();
        prop_assert_eq!(c.plaintext_to_bytes(&back).unwrap(), bytes);
        prop_assert_eq!((back.level(), back.slots()), (pt.level(), pt.slots()));
        prop_assert_eq!(bits(&c.decode(&back).unwrap()), bits(&c.decode(&pt).unwrap()));
    }

    #[test]
    fn public_keys_round_trip_and_encrypt_identically(which in 0usize..3, seed in any::<u64>()) {
        let c = ckks(which);
        let mut kg = KeyGenerator::from_seed(c, seed);
        let sk = kg.secret_key();
        let pk = kg.public_key(&sk).unwrap();
        let bytes = pk.to_bytes(c.params()).unwrap();
        prop_assert_eq!(bytes.len() as u64, PublicKey::wire_size(c.params()).seeded);
        let back = PublicKey::from_bytes(&bytes, c.params()).unwrap();
        prop_assert_eq!(back.to_bytes(c.params()).unwrap(), bytes);
        let pt = c.encode_real(&[0.5, -0.25], 1, c.params().default_scale()).unwrap();
        let a = c.encryptor(&pk).with_seed_for_tests(seed).encrypt(&pt).unwrap();
        let b = c.encryptor(&back).with_seed_for_tests(seed).encrypt(&pt).unwrap();
        prop_assert_eq!(a.parts(), b.parts());
    }

    #[test]
    fn secret_keys_round_trip_through_the_explicit_export(which in 0usize..3, seed in any::<u64>()) {
        let c = ckks(which);
        let sk = KeyGenerator::from_seed(c, seed).secret_key();
        let bytes = sk.to_secret_bytes(c.params()).unwrap();
        prop_assert_eq!(bytes.len(), HEADER_LEN + 8 + c.params().n() / 4);
        let back = SecretKey::from_secret_bytes(&bytes, c.params()).unwrap();
        prop_assert_eq!(back.expose_coefficients(), sk.expose_coefficients());
        prop_assert_eq!(&*back.to_secret_bytes(c.params()).unwrap(), &*bytes);
        prop_assert_eq!(wire::peek_header(&bytes).unwrap().kind, Kind::SecretKey);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10))]

    /// Keys for random requests (rotations at random levels, relinearisation,
    /// conjugation): the bytes decode to keys that re-encode to the same bytes and
    /// rotate, conjugate and relinearise bit for bit like the originals.
    #[test]
    fn evaluation_keys_round_trip_and_rotate_bit_for_bit(
        which in 0usize..3,
        relin in any::<bool>(),
        conjugate in any::<bool>(),
        steps in prop::collection::vec((-600i64..600, 0usize..4), 0..4),
        seed in any::<u64>(),
    ) {
        let c = ckks(which);
        let (sk, _) = keys(which);
        let mut req = KeyRequest::new();
        req.relin = relin;
        req.conjugate = conjugate;
        for &(k, l) in &steps {
            req = req.rotations_up_to([k], l);
        }
        let evk = KeyGenerator::from_seed(c, seed).evaluation_keys(sk, &req).unwrap();
        let bytes = evk.to_bytes(c.params()).unwrap();
        prop_assert_eq!(bytes.len() as u64, evk.wire_size(c.params()).seeded);
        let mut streamed = Vec::new();
        prop_assert_eq!(evk.write_to(c.params(), &mut streamed).unwrap(), bytes.len() as u64);
        prop_assert_eq!(&streamed, &bytes);
        prop_assert_eq!(evk.request_fingerprint(c.params()), req.fingerprint(c.params()));
        let back = EvaluationKeys::from_bytes(&bytes, c.params(), &req).unwrap();
        prop_assert_eq!(back.to_bytes(c.params()).unwrap(), bytes.clone());

        let (e1, e2) = (c.evaluator(&evk).unwrap(), c.evaluator(&back).unwrap());
        let max = c.params().max_level();
        for &(k, l) in &steps {
            if galois_element(k, c.params().log_n()) == 1 {
                continue;
            }
            let ct = encrypt(which, &[0.1, 0.2, 0.3], l.min(max), seed, true);
            let (a, b) = (e1.rotate_new(&ct, k).unwrap(), e2.rotate_new(&ct, k).unwrap());
            prop_assert_eq!(a.parts(), b.parts());
        }
        let ct = encrypt(which, &[0.1, 0.2, 0.3], max, seed, false);
        if conjugate {
            let (a, b) = (e1.conjugate_new(&ct).unwrap(), e2.conjugate_new(&ct).unwrap());
            prop_assert_eq!(a.parts(), b.parts());
        }
        if relin {
            let (a, b) = (e1.mul_relin_new(&ct, &ct).unwrap(), e2.mul_relin_new(&ct, &ct).unwrap());
            prop_assert_eq!(a.parts(), b.parts());
        }
    }
}

#[test]
fn bootstrapping_keys_round_trip_bound_to_their_configuration() {
    let preset = BootstrapPreset::test_tiny();
    let params = Params::new_insecure_for_tests(preset.params.clone()).unwrap();
    let c = Ckks::new(params.clone(), ReferenceBackend);
    let mut kg = KeyGenerator::from_seed(&c, 7);
    let sk = kg.secret_key();
    let extra = KeyRequest::new().rotations([3]);
    let keys = BootstrappingKeys::generate(&mut kg, &c, &sk, &preset.config, &extra).unwrap();
    let bytes = keys.to_bytes(&params).unwrap();
    let size = keys.wire_size(&params);
    assert_eq!(bytes.len() as u64, size.seeded);
    assert!(size.expanded > size.seeded);
    assert_eq!(
        keys.request_fingerprint(&params),
        BootstrappingKeys::expected_fingerprint(&params, &preset.config, &extra).unwrap()
    );
    let back = BootstrappingKeys::from_bytes(&bytes, &params, &preset.config, &extra).unwrap();
    assert_eq!(back.to_bytes(&params).unwrap(), bytes);
    // the same keys are not an answer to another program's request
    let e = wire_err(BootstrappingKeys::from_bytes(
        &bytes,
        &params,
        &preset.config,
        &KeyRequest::new(),
    ));
    assert!(
        matches!(
            e,
            WireError::RequestFingerprint {
                what: Kind::BootstrappingKeys,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("key_request()"), "{e}");
    // nor are they plain evaluation keys
    let e = wire_err(EvaluationKeys::from_bytes(&bytes, &params, &extra));
    assert!(
        matches!(
            e,
            WireError::Kind {
                expected: Kind::EvaluationKeys,
                found: 4
            }
        ),
        "{e}"
    );
}

// ---- rejections ---------------------------------------------------------------------------

#[test]
fn objects_from_other_parameters_are_refused() {
    let (a, b) = (ckks(0), ckks(1));
    let (sk, pk) = keys(0);
    let ct = a
        .ciphertext_to_bytes(&encrypt(0, &[0.5], 0, 1, true))
        .unwrap();
    let e = wire_err(b.ciphertext_from_bytes(&ct));
    assert!(
        matches!(&e, WireError::ParamsFingerprint { what: Kind::Ciphertext, expected, found }
            if *expected == b.params().fingerprint() && *found == a.params().fingerprint()),
        "{e}"
    );
    assert!(e.to_string().contains("other parameters"), "{e}");
    let pt = a
        .plaintext_to_bytes(&a.encode_real(&[1.0], 0, 1e6).unwrap())
        .unwrap();
    assert!(matches!(
        wire_err(b.plaintext_from_bytes(&pt)),
        WireError::ParamsFingerprint { .. }
    ));
    let pkb = pk.to_bytes(a.params()).unwrap();
    assert!(matches!(
        wire_err(PublicKey::from_bytes(&pkb, b.params())),
        WireError::ParamsFingerprint {
            what: Kind::PublicKey,
            ..
        }
    ));
    let skb = sk.to_secret_bytes(a.params()).unwrap();
    assert!(matches!(
        wire_err(SecretKey::from_secret_bytes(&skb, b.params())),
        WireError::ParamsFingerprint {
            what: Kind::SecretKey,
            ..
        }
    ));
    let req = KeyRequest::new().relin();
    let evk = KeyGenerator::from_seed(a, 1)
        .evaluation_keys(sk, &req)
        .unwrap();
    let evb = evk.to_bytes(a.params()).unwrap();
    assert!(matches!(
        wire_err(EvaluationKeys::from_bytes(&evb, b.params(), &req)),
        WireError::ParamsFingerprint {
            what: Kind::EvaluationKeys,
            ..
        }
    ));
    // the same literal validated again is the same parameter set
    let again = Params::new_insecure_for_tests(literal(0)).unwrap();
    assert_eq!(again.fingerprint(), a.params().fingerprint());
    // a scale or dnum of difference is another set
    let mut lit = literal(0);
    lit.log_scale += 1;
    assert_ne!(
        Params::new_insecure_for_tests(lit).unwrap().fingerprint(),
        again.fingerprint()
    );
}

#[test]
fn every_prefix_of_a_ciphertext_is_truncated() {
    let c = ckks(0);
    let bytes = c
        .ciphertext_to_bytes(&encrypt(0, &[0.5, 0.25], 0, 3, true))
        .unwrap();
    assert!(c.ciphertext_from_bytes(&bytes).is_ok());
    for len in 0..bytes.len() {
        let prefix = &bytes[..len];
        let e = wire_err(c.ciphertext_from_bytes(prefix));
        assert!(
            matches!(e, WireError::Truncated { .. }),
            "prefix {len}: {e}"
        );
        // and with a header that agrees with the truncated length: the body's own
        // fields run out
        if len >= HEADER_LEN {
            let e = wire_err(c.ciphertext_from_bytes(&body_len_patched(prefix)));
            assert!(
                matches!(e, WireError::Truncated { .. }),
                "patched prefix {len}: {e}"
            );
        }
    }
}

#[test]
fn bytes_after_the_object_are_refused() {
    let c = ckks(0);
    let mut bytes = c
        .ciphertext_to_bytes(&encrypt(0, &[0.5], 1, 3, true))
        .unwrap();
    bytes.push(0);
    assert!(matches!(
        wire_err(c.ciphertext_from_bytes(&bytes)),
        WireError::Trailing {
            what: Kind::Ciphertext,
            count: 1
        }
    ));
    let e = wire_err(c.ciphertext_from_bytes(&body_len_patched(&bytes)));
    assert!(matches!(e, WireError::Trailing { count: 1, .. }), "{e}");
}

#[test]
fn wrong_magic_version_kind_and_flags_are_refused() {
    let c = ckks(0);
    let good = c
        .ciphertext_to_bytes(&encrypt(0, &[0.5], 1, 3, true))
        .unwrap();

    let mut b = good.clone();
    b[0] = b'{';
    assert!(matches!(
        wire_err(c.ciphertext_from_bytes(&b)),
        WireError::BadMagic { .. }
    ));
    assert!(matches!(
        wire_err(c.ciphertext_from_bytes(b"{\"json\": 1}")),
        WireError::BadMagic { .. }
    ));

    let mut b = good.clone();
    b[4..6].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let e = wire_err(c.ciphertext_from_bytes(&b));
    assert_eq!(
        e,
        WireError::Version {
            found: FORMAT_VERSION + 1,
            supported: FORMAT_VERSION
        }
    );
    assert!(e.to_string().contains("version 2"), "{e}");

    let e = wire_err(c.plaintext_from_bytes(&good));
    assert_eq!(
        e,
        WireError::Kind {
            expected: Kind::Plaintext,
            found: Kind::Ciphertext as u8
        }
    );
    assert_eq!(e.to_string(), "expected a plaintext, found a ciphertext");
    let pk = keys(0).1.to_bytes(c.params()).unwrap();
    assert!(matches!(
        wire_err(c.ciphertext_from_bytes(&pk)),
        WireError::Kind {
            expected: Kind::Ciphertext,
            found: 2
        }
    ));
    assert!(matches!(
        wire_err(SecretKey::from_secret_bytes(&pk, c.params())),
        WireError::Kind {
            expected: Kind::SecretKey,
            ..
        }
    ));
    let mut b = good.clone();
    b[6] = 200;
    assert!(matches!(
        wire_err(c.ciphertext_from_bytes(&b)),
        WireError::Kind { found: 200, .. }
    ));

    let mut b = good;
    b[7] = 1;
    assert_eq!(wire_err(c.ciphertext_from_bytes(&b)), WireError::Flags(1));
}

#[test]
fn residues_not_below_their_prime_are_refused() {
    for which in 0..3 {
        let c = ckks(which);
        let params = c.params();
        let level = params.max_level();
        let good = c
            .ciphertext_to_bytes(&encrypt(which, &[0.5], level, 3, true))
            .unwrap();
        // the first residue of part 0, the last residue of part 1's last limb
        let first = HEADER_LEN + 4 + 8 + 8 + 8 + 8;
        let limbs = params.limbs_at(level);
        let w = |i: usize| 64 - params.q()[i].leading_zeros();
        let n = params.n();
        let part_bytes = 8 + (0..limbs).map(|i| n * w(i) as usize / 8).sum::<usize>();
        let last_limb_start =
            first + part_bytes + (0..limbs - 1).map(|i| n * w(i) as usize / 8).sum::<usize>();
        let cases = [
            (first * 8, 0usize, 0usize, params.q()[0]),
            (
                last_limb_start * 8 + (n - 1) * w(limbs - 1) as usize,
                limbs - 1,
                n - 1,
                params.q()[limbs - 1] + 1,
            ),
        ];
        for (bit, limb, index, value) in cases {
            let prime = params.q()[limb];
            let wl = w(limb);
            let mut b = good.clone();
            set_bits(&mut b, bit, wl, value);
            let e = wire_err(c.ciphertext_from_bytes(&b));
            assert!(
                matches!(&e, WireError::Residue { limb: l, index: i, value: v, prime: p, .. }
                    if *l == limb && *i == index && *v == value && *p == prime),
                "{e}"
            );
        }
        // a public key's residue
        let mut pk = keys(which).1.to_bytes(params).unwrap();
        let at = HEADER_LEN + 32 + 8;
        set_bits(&mut pk, at * 8, w(0), u64::MAX >> (64 - w(0)));
        assert!(matches!(
            wire_err(PublicKey::from_bytes(&pk, params)),
            WireError::Residue { .. }
        ));
    }
}

#[test]
fn a_length_field_claiming_2_pow_60_elements_is_refused_without_allocating() {
    let c = ckks(0);
    let ct = c
        .ciphertext_to_bytes(&encrypt(0, &[0.5], 1, 3, true))
        .unwrap();
    // the part count
    let mut b = ct.clone();
    put_u64(&mut b, HEADER_LEN + 20, 1 << 60);
    let e = wire_err(c.ciphertext_from_bytes(&b));
    assert!(
        matches!(&e, WireError::Length { claimed, limit: 3, .. } if *claimed == 1 << 60),
        "{e}"
    );
    // a limb count
    let mut b = ct.clone();
    put_u64(&mut b, HEADER_LEN + 28, 1 << 60);
    let e = wire_err(c.ciphertext_from_bytes(&b));
    assert!(
        matches!(&e, WireError::Length { claimed, .. } if *claimed == 1 << 60),
        "{e}"
    );
    // the body length in the header
    let mut b = ct;
    put_u64(&mut b, 40, 1 << 60);
    assert!(
        matches!(wire_err(c.ciphertext_from_bytes(&b)), WireError::Truncated { needed, .. } if needed == 1 << 60)
    );

    // the number of Galois keys, and a key's digit count
    let (sk, _) = keys(0);
    let req = KeyRequest::new().rotations([1]);
    let evk = KeyGenerator::from_seed(c, 2)
        .evaluation_keys(sk, &req)
        .unwrap();
    let bytes = evk.to_bytes(c.params()).unwrap();
    let count_at = HEADER_LEN + 32 + 1;
    let mut b = bytes.clone();
    put_u64(&mut b, count_at, 1 << 60);
    let e = wire_err(EvaluationKeys::from_bytes(&b, c.params(), &req));
    assert!(
        matches!(&e, WireError::Length { claimed, limit: 1024, .. } if *claimed == 1 << 60),
        "{e}"
    );
    // a count below N that the input cannot hold is refused before allocating too
    let mut b = bytes.clone();
    put_u64(&mut b, count_at, 1000);
    assert!(matches!(
        wire_err(EvaluationKeys::from_bytes(&b, c.params(), &req)),
        WireError::Truncated { .. }
    ));
    let digits_at = count_at + 8 + 8 + 4 + 32;
    let mut b = bytes;
    put_u64(&mut b, digits_at, 1 << 60);
    let e = wire_err(EvaluationKeys::from_bytes(&b, c.params(), &req));
    assert!(
        matches!(&e, WireError::Length { claimed, .. } if *claimed == 1 << 60),
        "{e}"
    );

    // a parameter set's prime count
    let mut p = c.params().to_bytes();
    p[HEADER_LEN + 7..HEADER_LEN + 11].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        wire_err(Params::from_bytes_insecure_for_tests(&p)),
        WireError::Length { .. }
    ));
}

#[test]
fn structure_is_checked_field_by_field() {
    let c = ckks(0);
    let max = c.params().max_level();
    let ct = c
        .ciphertext_to_bytes(&encrypt(0, &[0.5], 1, 3, true))
        .unwrap();
    let patch = |at: usize, bytes: &[u8]| {
        let mut b = ct.clone();
        b[at..at + bytes.len()].copy_from_slice(bytes);
        wire_err(c.ciphertext_from_bytes(&b))
    };
    let level = patch(HEADER_LEN, &(max as u32 + 1).to_le_bytes());
    assert!(
        level
            .to_string()
            .contains("above the parameters' maximum level"),
        "{level}"
    );
    for scale in [f64::NAN, f64::INFINITY, -1.0, 0.0] {
        let e = patch(HEADER_LEN + 4, &scale.to_bits().to_le_bytes());
        assert!(matches!(e, WireError::Structure { .. }), "{e}");
    }
    for slots in [0u64, 3, 1 << 20] {
        let e = patch(HEADER_LEN + 12, &slots.to_le_bytes());
        assert!(e.to_string().contains("power of two"), "{e}");
    }
    let one_part = patch(HEADER_LEN + 20, &1u64.to_le_bytes());
    assert!(
        matches!(one_part, WireError::Structure { .. }),
        "{one_part}"
    );

    // Galois elements: even, out of range, repeated
    let (sk, _) = keys(0);
    let req = KeyRequest::new().rotations([1, 2]);
    let bytes = KeyGenerator::from_seed(c, 2)
        .evaluation_keys(sk, &req)
        .unwrap()
        .to_bytes(c.params())
        .unwrap();
    let g_at = HEADER_LEN + 32 + 1 + 8;
    for g in [4u64, 2049, 1] {
        let mut b = bytes.clone();
        put_u64(&mut b, g_at, g);
        let e = wire_err(EvaluationKeys::from_bytes(&b, c.params(), &req));
        assert!(e.to_string().contains("Galois element"), "{g}: {e}");
    }
    // keys for another request, and a bundle whose keys are not those it declares
    let other = KeyRequest::new().rotations([1, 3]);
    let e = wire_err(EvaluationKeys::from_bytes(&bytes, c.params(), &other));
    assert!(matches!(e, WireError::RequestFingerprint { .. }), "{e}");
    let mut b = bytes.clone();
    b[HEADER_LEN..HEADER_LEN + 32].copy_from_slice(&other.fingerprint(c.params()).0);
    let e = wire_err(EvaluationKeys::from_bytes(&b, c.params(), &other));
    assert!(e.to_string().contains("not those its header names"), "{e}");
    // the same keys asked for by other steps (2 and 2 + N/2 are one rotation) are the
    // same request
    let same = KeyRequest::new().rotations([1 + 512, 2]);
    assert!(EvaluationKeys::from_bytes(&bytes, c.params(), &same).is_ok());

    // a secret key's invalid coefficient code, and a parameter set whose primes were
    // not chosen by this build's search
    let mut s = keys(0).0.to_secret_bytes(c.params()).unwrap().to_vec();
    s[HEADER_LEN + 8] = 0b11;
    let e = wire_err(SecretKey::from_secret_bytes(&s, c.params()));
    assert!(e.to_string().contains("0b11"), "{e}");
    let mut p = c.params().to_bytes();
    let first_prime = HEADER_LEN + 7 + 4 + 1;
    p[first_prime] ^= 2;
    let e = wire_err(Params::from_bytes_insecure_for_tests(&p));
    assert!(e.to_string().contains("prime search"), "{e}");
}

#[test]
fn sparse_secrets_keep_their_hamming_weight() {
    let mut lit = literal(0);
    lit.secret = SecretDist::Sparse { hamming_weight: 16 };
    let params = Params::new_insecure_for_tests(lit).unwrap();
    let c = Ckks::new(params.clone(), ReferenceBackend);
    let sk = KeyGenerator::from_seed(&c, 1).secret_key();
    let bytes = sk.to_secret_bytes(&params).unwrap();
    let back = SecretKey::from_secret_bytes(&bytes, &params).unwrap();
    assert_eq!(
        back.expose_coefficients()
            .iter()
            .filter(|&&x| x != 0)
            .count(),
        16
    );
    // one more nonzero coefficient
    let mut b = bytes.to_vec();
    let at = (HEADER_LEN + 8..b.len()).find(|&i| b[i] & 3 == 0).unwrap();
    b[at] |= 1;
    let e = wire_err(SecretKey::from_secret_bytes(&b, &params));
    assert!(e.to_string().contains("Hamming weight 17"), "{e}");
}

#[test]
fn secret_keys_print_no_coefficients() {
    let (sk, _) = keys(0);
    assert_eq!(format!("{sk:?}"), "SecretKey(<redacted>)");
    assert_eq!(format!("{sk:#?}"), "SecretKey(<redacted>)");
}

// ---- no panic on mutated input (a stable-toolchain stand-in for the fuzz targets) ----------

/// Every decoder on `bytes`: any result, never a panic.
fn decode_all(bytes: &[u8]) {
    let c = ckks(0);
    let p = c.params();
    let req = KeyRequest::new().relin().rotations([1, -3]);
    let _ = Params::from_bytes_insecure_for_tests(bytes);
    let _ = Params::from_bytes(bytes);
    let _ = PublicKey::from_bytes(bytes, p);
    let _ = EvaluationKeys::from_bytes(bytes, p, &req);
    let _ = c.ciphertext_from_bytes(bytes);
    let _ = c.plaintext_from_bytes(bytes);
    let _ = SecretKey::from_secret_bytes(bytes, p);
    let _ = wire::peek_header(bytes);
}

fn samples() -> &'static Vec<Vec<u8>> {
    static S: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    S.get_or_init(|| {
        let c = ckks(0);
        let p = c.params();
        let (sk, pk) = keys(0);
        let req = KeyRequest::new().relin().rotations([1, -3]);
        let evk = KeyGenerator::from_seed(c, 5)
            .evaluation_keys(sk, &req)
            .unwrap();
        vec![
            p.to_bytes(),
            pk.to_bytes(p).unwrap(),
            evk.to_bytes(p).unwrap(),
            c.ciphertext_to_bytes(&encrypt(0, &[0.5], 1, 3, true))
                .unwrap(),
            c.plaintext_to_bytes(&c.encode_real(&[0.5], 0, 1e9).unwrap())
                .unwrap(),
            sk.to_secret_bytes(p).unwrap().to_vec(),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mutated_objects_never_panic(
        which in 0usize..6,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in prop::option::of(any::<prop::sample::Index>()),
        fix_length in any::<bool>(),
    ) {
        let mut b = samples()[which].clone();
        for (i, x) in edits {
            let i = i.index(b.len());
            b[i] = x;
        }
        if let Some(c) = cut {
            b.truncate(c.index(b.len()));
        }
        if fix_length && b.len() >= HEADER_LEN {
            b = body_len_patched(&b);
        }
        decode_all(&b);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256), kind in 1u8..8) {
        let mut b = bytes;
        // a valid header in front, so the body decoders run on noise
        if b.len() >= HEADER_LEN {
            b[..4].copy_from_slice(&wire::MAGIC);
            b[4..6].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
            b[6] = kind;
            b[7] = 0;
            b[8..40].copy_from_slice(&ckks(0).params().fingerprint().0);
            b = body_len_patched(&b);
        }
        decode_all(&b);
    }
}
