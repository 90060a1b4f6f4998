//! The backend conformance suite: written once, instantiated by every backend crate
//! with [`backend_conformance_tests!`](crate::backend_conformance_tests).
//!
//! Each check runs the same operation on identical RNS inputs through the backend under
//! test and through the [`ReferenceBackend`], and requires bit-identical results.

use crate::backend::reference::ReferenceBackend;
use crate::backend::Backend;
use crate::ckks::{Ciphertext, Ckks, KeyGenerator, KeyRequest, Params, ParamsLiteral};
use crate::math::sampling::uniform_from_seed;
use crate::ring::{RingContext, RnsPoly};

/// Parameters the suite runs at: N = 2^log_n, insecure test set.
pub fn suite_params(log_n: u32) -> Params {
    let mut lit = ParamsLiteral::test_small();
    lit.log_n = log_n;
    Params::new_insecure_for_tests(lit).expect("suite parameters")
}

/// A deterministic pseudo-random polynomial over `primes`.
pub fn random_poly(ctx: &RingContext, primes: &[usize], seed: u8) -> RnsPoly {
    let mut p = RnsPoly::zero(ctx.n(), primes);
    let moduli: Vec<_> = primes.iter().map(|&i| *ctx.modulus(i)).collect();
    uniform_from_seed(&[seed; 32], seed as u64, &moduli, ctx.n(), &mut p.data);
    p
}

fn same<B: Backend>(b: &B, ctx: &RingContext, got: &B::Poly, want: &RnsPoly, what: &str) {
    let got = b.download(ctx, got).expect("download");
    assert_eq!(
        got.primes,
        want.primes,
        "{}: limb primes differ for {what}",
        b.name()
    );
    if let Some(k) = got.data.iter().zip(&want.data).position(|(x, y)| x != y) {
        panic!(
            "{}: {what} differs from the reference at limb {}, coefficient {}: {} vs {}",
            b.name(),
            k / ctx.n(),
            k % ctx.n(),
            got.data[k],
            want.data[k]
        );
    }
}

/// NTT and inverse NTT, on all Q and P primes.
pub fn check_ntt<B: Backend>(b: &B, log_n: u32) {
    let params = suite_params(log_n);
    let ctx = params.ring();
    let all: Vec<usize> = (0..ctx.moduli().len()).collect();
    let x = random_poly(ctx, &all, 1);
    let mut want = x.clone();
    ReferenceBackend.ntt(ctx, &mut want).unwrap();
    let mut got = b.upload(ctx, x.clone()).expect("upload");
    b.ntt(ctx, &mut got).unwrap();
    same(b, ctx, &got, &want, "forward NTT");
    b.intt(ctx, &mut got).unwrap();
    same(b, ctx, &got, &x, "inverse NTT");
}

/// Element-wise operations, including operands that hold extra limbs.
pub fn check_elementwise<B: Backend>(b: &B, log_n: u32) {
    let params = suite_params(log_n);
    let ctx = params.ring();
    let r = ReferenceBackend;
    let dst: Vec<usize> = vec![0, 1, 2, 6];
    let wide: Vec<usize> = (0..ctx.moduli().len()).collect();
    let x = random_poly(ctx, &dst, 2);
    let y = random_poly(ctx, &wide, 3);
    let z = random_poly(ctx, &wide, 4);
    let scal: Vec<u64> = dst
        .iter()
        .map(|&i| ctx.modulus(i).value() / 3 + i as u64)
        .collect();
    let run = |name: &str, fr: &dyn Fn(&mut RnsPoly), fb: &dyn Fn(&mut B::Poly)| {
        let mut want = x.clone();
        fr(&mut want);
        let mut got = b.upload(ctx, x.clone()).expect("upload");
        fb(&mut got);
        same(b, ctx, &got, &want, name);
    };
    let (yb, zb) = (
        b.upload(ctx, y.clone()).expect("upload"),
        b.upload(ctx, z.clone()).expect("upload"),
    );
    run("add", &|p| r.add_assign(ctx, p, &y).unwrap(), &|p| {
        b.add_assign(ctx, p, &yb).unwrap()
    });
    run("sub", &|p| r.sub_assign(ctx, p, &y).unwrap(), &|p| {
        b.sub_assign(ctx, p, &yb).unwrap()
    });
    run("neg", &|p| r.neg_assign(ctx, p).unwrap(), &|p| {
        b.neg_assign(ctx, p).unwrap()
    });
    run("mul", &|p| r.mul_assign(ctx, p, &y).unwrap(), &|p| {
        b.mul_assign(ctx, p, &yb).unwrap()
    });
    run(
        "mul_add",
        &|p| r.mul_add_assign(ctx, p, &y, &z).unwrap(),
        &|p| b.mul_add_assign(ctx, p, &yb, &zb).unwrap(),
    );
    run(
        "mul_scalar",
        &|p| r.mul_scalar_assign(ctx, p, &scal).unwrap(),
        &|p| b.mul_scalar_assign(ctx, p, &scal).unwrap(),
    );
    run(
        "add_scalar",
        &|p| r.add_scalar_assign(ctx, p, &scal).unwrap(),
        &|p| b.add_scalar_assign(ctx, p, &scal).unwrap(),
    );
    run(
        "mul_scalar_add",
        &|p| r.mul_scalar_add_assign(ctx, p, &y, &scal).unwrap(),
        &|p| b.mul_scalar_add_assign(ctx, p, &yb, &scal).unwrap(),
    );
    run(
        "keep_limbs (prefix)",
        &|p| r.keep_limbs(ctx, p, &dst[..2]).unwrap(),
        &|p| b.keep_limbs(ctx, p, &dst[..2]).unwrap(),
    );
    run(
        "keep_limbs (not a prefix)",
        &|p| r.keep_limbs(ctx, p, &[6, 1]).unwrap(),
        &|p| b.keep_limbs(ctx, p, &[6, 1]).unwrap(),
    );
    // fused multiply-accumulate of 1, 3, 9 and 20 terms (register and blocked kernels,
    // more than one GPU launch takes), sources with extra limbs
    let polys: Vec<RnsPoly> = (0..60).map(|i| random_poly(ctx, &wide, 20 + i)).collect();
    let up: Vec<B::Poly> = polys
        .iter()
        .map(|p| b.upload(ctx, p.clone()).expect("upload"))
        .collect();
    for count in [1usize, 3, 9, 20] {
        let x1 = random_poly(ctx, &dst, 19);
        let (mut w0, mut w1) = (x.clone(), x1.clone());
        let terms: Vec<_> = (0..count)
            .map(|t| (&polys[3 * t], &polys[3 * t + 1], &polys[3 * t + 2]))
            .collect();
        r.mul_add_terms(ctx, &mut w0, &mut w1, &terms).unwrap();
        let (mut g0, mut g1) = (
            b.upload(ctx, x.clone()).expect("upload"),
            b.upload(ctx, x1).expect("upload"),
        );
        let terms: Vec<_> = (0..count)
            .map(|t| (&up[3 * t], &up[3 * t + 1], &up[3 * t + 2]))
            .collect();
        b.mul_add_terms(ctx, &mut g0, &mut g1, &terms).unwrap();
        same(
            b,
            ctx,
            &g0,
            &w0,
            &format!("mul_add_terms ({count} terms, first)"),
        );
        same(
            b,
            ctx,
            &g1,
            &w1,
            &format!("mul_add_terms ({count} terms, second)"),
        );
    }
    // select and concat
    let sel = [6usize, 0];
    same(
        b,
        ctx,
        &b.select(ctx, &yb, &sel).unwrap(),
        &r.select(ctx, &y, &sel).unwrap(),
        "select",
    );
    let xb = b.upload(ctx, x.clone()).expect("upload");
    let tail = b.select(ctx, &yb, &[3, 4]).unwrap();
    same(
        b,
        ctx,
        &b.concat(ctx, &xb, &tail).unwrap(),
        &r.concat(ctx, &x, &r.select(ctx, &y, &[3, 4]).unwrap())
            .unwrap(),
        "concat",
    );
    same(
        b,
        ctx,
        &b.zero(ctx, &dst).unwrap(),
        &RnsPoly::zero(ctx.n(), &dst),
        "zero",
    );
}

/// Automorphisms in NTT form, for rotations and conjugation.
pub fn check_automorphism<B: Backend>(b: &B, log_n: u32) {
    let params = suite_params(log_n);
    let ctx = params.ring();
    let prim: Vec<usize> = (0..4).collect();
    let x = random_poly(ctx, &prim, 5);
    let xb = b.upload(ctx, x.clone()).expect("upload");
    for g in [5usize, 25, 3125, 2 * ctx.n() - 1, 2 * ctx.n() - 5] {
        let mut want = RnsPoly::zero(ctx.n(), &prim);
        ReferenceBackend
            .automorphism_ntt(ctx, &x, g, &mut want)
            .unwrap();
        let mut got = b.zero(ctx, &prim).unwrap();
        b.automorphism_ntt(ctx, &xb, g, &mut got).unwrap();
        same(b, ctx, &got, &want, &format!("automorphism {g}"));
    }
}

/// Fast basis conversion, rescale (divide-and-round by tail primes), ModUp and key switch.
pub fn check_basis_ops<B: Backend>(b: &B, log_n: u32) {
    let params = suite_params(log_n);
    let ctx = params.ring();
    let r = ReferenceBackend;
    let from = [1usize, 2, 3];
    let to = [0usize, 4, 6, 7];
    let x = random_poly(ctx, &from, 6);
    let got = b
        .base_convert(ctx, &b.upload(ctx, x.clone()).expect("upload"), &to)
        .unwrap();
    same(
        b,
        ctx,
        &got,
        &r.base_convert(ctx, &x, &to).unwrap(),
        "base_convert",
    );

    let q: Vec<usize> = (0..6).collect();
    let y = random_poly(ctx, &q, 7);
    for drop in [1usize, 2] {
        let mut want = y.clone();
        r.rescale(ctx, &mut want, drop).unwrap();
        let mut got = b.upload(ctx, y.clone()).expect("upload");
        b.rescale(ctx, &mut got, drop).unwrap();
        same(b, ctx, &got, &want, &format!("rescale by {drop} primes"));
    }
    let yq: Vec<usize> = (0..5).collect();
    let y5 = r.select(ctx, &y, &yq).unwrap();
    let want = r.decompose_mod_up(ctx, &y5, params.alpha()).unwrap();
    let got = b
        .decompose_mod_up(
            ctx,
            &b.upload(ctx, y5.clone()).expect("upload"),
            params.alpha(),
        )
        .unwrap();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        same(b, ctx, g, w, "decompose_mod_up");
    }

    // division by a tail of 1 to 4 primes (rescale, ModDown by larger P)
    let all: Vec<usize> = (0..ctx.moduli().len()).collect();
    for tail in 1..=4usize.min(all.len() - 1) {
        let x = random_poly(ctx, &all, 60 + tail as u8);
        let mut want = x.clone();
        r.div_round_by_tail(ctx, &mut want, tail).unwrap();
        let mut got = b.upload(ctx, x).expect("upload");
        b.div_round_by_tail(ctx, &mut got, tail).unwrap();
        same(b, ctx, &got, &want, &format!("div_round_by_tail({tail})"));
    }

    // rotation kept over Q·P (double hoisting); its ModDown is the hoisted rotation
    let qp: Vec<usize> = (0..ctx.num_q()).chain(ctx.p_indices()).collect();
    let key: Vec<(RnsPoly, RnsPoly)> = (0..want.len() as u8)
        .map(|j| (random_poly(ctx, &qp, 20 + j), random_poly(ctx, &qp, 40 + j)))
        .collect();
    let bkey: Vec<(B::Poly, B::Poly)> = key
        .iter()
        .map(|(x, y)| {
            (
                b.upload(ctx, x.clone()).expect("upload"),
                b.upload(ctx, y.clone()).expect("upload"),
            )
        })
        .collect();
    let c0 = random_poly(ctx, &yq, 8);
    let galois = 5;
    let (w0, w1) = r.rotate_extended(ctx, &c0, &want, &key, galois).unwrap();
    let (g0, g1) = b
        .rotate_extended(
            ctx,
            &b.upload(ctx, c0.clone()).expect("upload"),
            &got,
            &bkey,
            galois,
        )
        .unwrap();
    same(b, ctx, &g0, &w0, "rotate_extended (c0 part)");
    same(b, ctx, &g1, &w1, "rotate_extended (c1 part)");
    let (mut d0, mut d1) = (g0, g1);
    b.div_round_by_tail(ctx, &mut d0, ctx.num_p()).unwrap();
    b.div_round_by_tail(ctx, &mut d1, ctx.num_p()).unwrap();
    let h = r
        .hoisted_rotations(ctx, &c0, &y5, &[(galois, &key[..])], params.alpha())
        .unwrap();
    same(
        b,
        ctx,
        &d0,
        &h[0].0,
        "ModDown of rotate_extended vs hoisted rotation (c0)",
    );
    same(
        b,
        ctx,
        &d1,
        &h[0].1,
        "ModDown of rotate_extended vs hoisted rotation (c1)",
    );

    // ModRaise of a one-prime polynomial, to primes including its own
    let one = random_poly(ctx, &[0], 13);
    let to: Vec<usize> = (0..ctx.num_q()).collect();
    let got = b
        .mod_raise(ctx, &b.upload(ctx, one.clone()).expect("upload"), &to)
        .unwrap();
    same(
        b,
        ctx,
        &got,
        &r.mod_raise(ctx, &one, &to).unwrap(),
        "mod_raise",
    );

    // the key-switching inner product alone, with many digits (more than a fused kernel
    // may take in one launch), with and without an automorphism
    let many: Vec<RnsPoly> = (0..18u8)
        .map(|j| random_poly(ctx, &qp[1..], 90 + j))
        .collect();
    let many_key: Vec<(RnsPoly, RnsPoly)> = (0..18u8)
        .map(|j| {
            (
                random_poly(ctx, &qp, 120 + j),
                random_poly(ctx, &qp, 150 + j),
            )
        })
        .collect();
    let up_many: Vec<B::Poly> = many
        .iter()
        .map(|x| b.upload(ctx, x.clone()).expect("upload"))
        .collect();
    let up_key: Vec<(B::Poly, B::Poly)> = many_key
        .iter()
        .map(|(x, y)| {
            (
                b.upload(ctx, x.clone()).expect("upload"),
                b.upload(ctx, y.clone()).expect("upload"),
            )
        })
        .collect();
    for galois in [None, Some(2 * ctx.n() - 1)] {
        let (w0, w1) = r.key_switch_inner(ctx, &many, &many_key, galois).unwrap();
        let (g0, g1) = b.key_switch_inner(ctx, &up_many, &up_key, galois).unwrap();
        same(
            b,
            ctx,
            &g0,
            &w0,
            &format!("key_switch_inner {galois:?} (b part)"),
        );
        same(
            b,
            ctx,
            &g1,
            &w1,
            &format!("key_switch_inner {galois:?} (a part)"),
        );
    }

    // relinearisation fused with a rescale by 1 or 2 primes
    let (e0, e1, e2) = (
        random_poly(ctx, &yq, 9),
        random_poly(ctx, &yq, 10),
        random_poly(ctx, &yq, 11),
    );
    for drop in [1usize, 2] {
        let (w0, w1) = r
            .relinearize_rescale(ctx, &e0, &e1, &e2, &key, params.alpha(), drop)
            .unwrap();
        let up = |x: &RnsPoly| b.upload(ctx, x.clone()).expect("upload");
        let (g0, g1) = b
            .relinearize_rescale(
                ctx,
                &up(&e0),
                &up(&e1),
                &up(&e2),
                &bkey,
                params.alpha(),
                drop,
            )
            .unwrap();
        same(b, ctx, &g0, &w0, &format!("relinearize_rescale({drop}) c0"));
        same(b, ctx, &g1, &w1, &format!("relinearize_rescale({drop}) c1"));
    }
}

/// Whole-ciphertext operations with real keys: multiply+relinearise, rescale, rotations
/// (plain and hoisted), conjugation, encryption and decryption.
pub fn check_ciphertext_ops<B: Backend>(b: B, log_n: u32) {
    let params = suite_params(log_n);
    let rk = Ckks::new(params.clone(), ReferenceBackend);
    let bk = Ckks::new(params.clone(), b);
    let ctx = params.ring();
    let req = KeyRequest::new().relin().rotations([1, -3, 7]).conjugate();
    let sk = KeyGenerator::from_seed(&rk, 11).secret_key();
    // keys generated on either backend from the same seed are identical
    let ek_ref = KeyGenerator::from_seed(&rk, 12)
        .evaluation_keys(&sk, &req)
        .unwrap();
    let ek_b = KeyGenerator::from_seed(&bk, 12)
        .evaluation_keys(&sk, &req)
        .unwrap();
    for (g, k) in &ek_ref.galois {
        assert_eq!(
            k.b,
            ek_b.galois[g].b,
            "{}: Galois key {g} differs",
            bk.backend().name()
        );
    }
    assert_eq!(
        ek_ref.relin.as_ref().map(|k| &k.b),
        ek_b.relin.as_ref().map(|k| &k.b)
    );
    let (re, be_) = (
        rk.evaluator(&ek_ref).unwrap(),
        bk.evaluator(&ek_ref).unwrap(),
    );
    let x: Vec<f64> = (0..params.max_slots())
        .map(|i| ((i * 37 % 101) as f64 / 50.0) - 1.0)
        .collect();
    let pt = rk
        .encode_real(&x, params.max_level(), params.default_scale())
        .unwrap();
    let enc = rk.encryptor_sk(&sk);
    let c1 = enc.encrypt(&pt).unwrap();
    let c2 = enc.encrypt(&pt).unwrap();
    let up = |c: &Ciphertext<ReferenceBackend>| {
        Ciphertext::<B>::from_parts(
            c.parts()
                .iter()
                .map(|p| bk.backend().upload(ctx, p.clone()).expect("upload"))
                .collect(),
            c.level(),
            c.scale(),
            c.slots(),
        )
    };
    let cmp = |got: &Ciphertext<B>, want: &Ciphertext<ReferenceBackend>, what: &str| {
        assert_eq!(got.level(), want.level(), "{what}: level");
        assert_eq!(got.scale(), want.scale(), "{what}: scale");
        for (g, w) in got.parts().iter().zip(want.parts()) {
            same(bk.backend(), ctx, g, w, what);
        }
    };
    let (b1, b2) = (up(&c1), up(&c2));
    let want = re.mul_relin_new(&c1, &c2).unwrap();
    let got = be_.mul_relin_new(&b1, &b2).unwrap();
    cmp(&got, &want, "mul_relin");
    let want = re.rescale_new(&want).unwrap();
    let got = be_.rescale_new(&got).unwrap();
    cmp(&got, &want, "rescale");
    for k in [1i64, -3, 7] {
        cmp(
            &be_.rotate_new(&got, k).unwrap(),
            &re.rotate_new(&want, k).unwrap(),
            &format!("rotate {k}"),
        );
    }
    let hg = be_.rotate_hoisted_new(&got, &[1, -3, 7]).unwrap();
    let hw = re.rotate_hoisted_new(&want, &[1, -3, 7]).unwrap();
    for (g, w) in hg.iter().zip(&hw) {
        cmp(g, w, "hoisted rotation");
    }
    cmp(
        &be_.conjugate_new(&got).unwrap(),
        &re.conjugate_new(&want).unwrap(),
        "conjugate",
    );
    // decryption through the backend agrees with the reference's
    let dr = rk.decryptor(&sk).decrypt_real(&want).unwrap();
    let db = bk.decryptor(&sk).decrypt_real(&got).unwrap();
    assert_eq!(dr, db, "decryption differs");
}

/// Malformed host polynomials are refused by [`Backend::upload`] with an error (never read
/// past their data), and an encryptor built on a malformed public key reports it from
/// `encrypt` instead of panicking.
pub fn check_upload_rejects_malformed<B: Backend>(b: B, log_n: u32) {
    let params = suite_params(log_n);
    let ctx = params.ring();
    let good = random_poly(ctx, &[0, 1], 3);
    assert!(b.upload(ctx, good.clone()).is_ok());
    let count = ctx.moduli().len();
    let mut short = good.clone();
    short.data.pop();
    let mut degree = good.clone();
    degree.n /= 2;
    let mut unknown = good.clone();
    unknown.primes[1] = count;
    let mut repeated = good.clone();
    repeated.primes[1] = 0;
    for (what, p) in [
        ("a word short", short),
        ("half the degree", degree),
        ("a prime index past the ring", unknown),
        ("a repeated prime", repeated),
    ] {
        match b.upload(ctx, p) {
            Err(crate::Error::Malformed(_)) => {}
            Err(e) => panic!("{}: upload of {what}: wrong error {e}", b.name()),
            Ok(_) => panic!("{}: upload of {what} was accepted", b.name()),
        }
    }
    let ckks = Ckks::new(params.clone(), b);
    let mut kg = KeyGenerator::from_seed(&ckks, 5);
    let sk = kg.secret_key();
    let mut pk = kg.public_key(&sk).unwrap();
    pk.b.data.truncate(ctx.n());
    let pt = ckks
        .encode_real(&[0.5], params.max_level(), params.default_scale())
        .expect("encode");
    assert!(
        ckks.encryptor(&pk).encrypt(&pt).is_err(),
        "a truncated public key encrypted"
    );
}

/// Operands that do not fit an operation are an [`Error::Device`](crate::Error::Device)
/// of kind [`InvalidInput`](crate::DeviceErrorKind::InvalidInput) naming the backend,
/// never a panic or a read past a buffer: a source lacking a prime of the destination,
/// ring degrees that differ, too few scalars, an even Galois element, a division by every
/// prime.
pub fn check_invalid_operands<B: Backend>(b: B, log_n: u32) {
    let params = suite_params(log_n);
    let ctx = params.ring();
    let up = |primes: &[usize], seed| b.upload(ctx, random_poly(ctx, primes, seed)).unwrap();
    let expect = |what: &str, r: crate::Result<()>| match r {
        Err(crate::Error::Device {
            backend,
            kind: crate::DeviceErrorKind::InvalidInput(m),
            ..
        }) => {
            assert_eq!(backend, b.name(), "{what}");
            assert!(!m.is_empty(), "{what}");
        }
        Err(e) => panic!("{}: {what}: wrong error {e:?}", b.name()),
        Ok(()) => panic!("{}: {what} was accepted", b.name()),
    };
    let mut a = up(&[0, 1, 2], 1);
    let narrow = up(&[0, 1], 2);
    expect(
        "add of a source lacking a prime",
        b.add_assign(ctx, &mut a, &narrow),
    );
    expect(
        "mul of a source lacking a prime",
        b.mul_assign(ctx, &mut a, &narrow),
    );
    expect(
        "mul_add of a source lacking a prime",
        b.mul_add_assign(ctx, &mut a, &narrow, &narrow),
    );
    expect(
        "select of a prime the source lacks",
        b.select(ctx, &narrow, &[0, 2]).map(drop),
    );
    expect(
        "one scalar for three limbs",
        b.mul_scalar_assign(ctx, &mut a, &[1]),
    );
    expect(
        "one scalar for three limbs",
        b.add_scalar_assign(ctx, &mut a, &[1]),
    );
    let mut out = b.zero(ctx, &[0, 1, 2]).unwrap();
    expect(
        "an even Galois element",
        b.automorphism_ntt(ctx, &a, 4, &mut out),
    );
    expect(
        "division by every prime",
        b.div_round_by_tail(ctx, &mut a, 3),
    );
    expect("division by no prime", b.rescale(ctx, &mut a, 0));
    // a polynomial of another ring degree (from a second context)
    let other = suite_params(log_n + 1);
    let big = b
        .upload(other.ring(), random_poly(other.ring(), &[0, 1, 2], 3))
        .unwrap();
    expect(
        "add of another ring degree",
        b.add_assign(ctx, &mut a, &big),
    );
    // the valid form of each still works
    let wide = up(&[0, 1, 2, 3], 4);
    b.add_assign(ctx, &mut a, &wide).unwrap();
    b.mul_add_assign(ctx, &mut a, &wide, &wide).unwrap();
    b.automorphism_ntt(ctx, &a, 5, &mut out).unwrap();
    b.div_round_by_tail(ctx, &mut a, 1).unwrap();
}

/// Instantiates the conformance suite for a backend: `backend_conformance_tests!(MyBackend::new());`
/// expands to one `#[test]` per check, at N = 2^10 and 2^12.
#[macro_export]
macro_rules! backend_conformance_tests {
    ($make:expr) => {
        mod backend_conformance {
            #[allow(unused_imports)]
            use super::*;
            use $crate::conformance as c;
            #[test]
            fn ntt() {
                c::check_ntt(&$make, 10);
                c::check_ntt(&$make, 12);
            }
            #[test]
            fn elementwise() {
                c::check_elementwise(&$make, 12);
            }
            #[test]
            fn automorphism() {
                c::check_automorphism(&$make, 12);
            }
            #[test]
            fn basis_ops() {
                c::check_basis_ops(&$make, 10);
                c::check_basis_ops(&$make, 12);
            }
            #[test]
            fn invalid_operands() {
                c::check_invalid_operands($make, 10);
            }
            #[test]
            fn ciphertext_ops() {
                c::check_ciphertext_ops($make, 12);
            }
            #[test]
            fn upload_rejects_malformed() {
                c::check_upload_rejects_malformed($make, 10);
            }
        }
    };
}

#[cfg(test)]
mod tests {
    // The reference passes its own suite (sanity of the harness).
    crate::backend_conformance_tests!(crate::backend::reference::ReferenceBackend);
}
