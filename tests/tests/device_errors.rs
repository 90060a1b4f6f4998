//! The backend error channel end to end: a backend that runs out of memory in any one
//! operation makes the user's call (key generation, encryption, an evaluator operation,
//! decryption) return `Error::Device` of kind `OutOfMemory` — never a panic — and the
//! backend works again afterwards.
//!
//! [`Faulty`] wraps the CPU backend and fails one chosen operation once, after a chosen
//! number of successful calls. It overrides the primitives and three coarse operations
//! (`key_switch`, `relinearize_rescale`, `hoisted_rotations`, delegated to the CPU's fused
//! kernels); every other coarse operation runs as the trait's default composition over
//! the faulty primitives, so an error raised deep inside one (a `base_convert` inside a
//! ModDown inside a rescale) has to travel through the defaults' `?` as well.

use fhe_backend_cpu::CpuBackend;
use fhe_dsl::backend::{Backend, KeyDigits};
use fhe_dsl::ckks::{Ciphertext, Ckks, KeyGenerator, KeyRequest, Params, ParamsLiteral};
use fhe_dsl::ring::{RingContext, RnsPoly};
use fhe_dsl::{DeviceErrorKind, Error, Result};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
struct Plan {
    /// The operation to fail, and how many of its calls succeed first.
    armed: Option<(&'static str, usize)>,
    /// Operations that failed.
    fired: Vec<&'static str>,
    /// Every operation called.
    seen: BTreeSet<&'static str>,
}

#[derive(Clone, Debug, Default)]
struct Faulty {
    inner: CpuBackend,
    plan: Arc<Mutex<Plan>>,
}

impl Faulty {
    fn arm(&self, op: &'static str, skip: usize) {
        let mut p = self.plan.lock().unwrap();
        p.armed = Some((op, skip));
        p.fired.clear();
    }

    fn disarm(&self) {
        self.plan.lock().unwrap().armed = None;
    }

    fn fired(&self) -> Vec<&'static str> {
        self.plan.lock().unwrap().fired.clone()
    }

    /// Fails `op` when it is armed and its successful calls are used up (once).
    fn gate(&self, op: &'static str) -> Result<()> {
        let mut p = self.plan.lock().unwrap();
        p.seen.insert(op);
        match &mut p.armed {
            Some((o, 0)) if *o == op => {
                p.armed = None;
                p.fired.push(op);
                Err(Error::device("faulty", op, DeviceErrorKind::OutOfMemory))
            }
            Some((o, skip)) if *o == op => {
                *skip -= 1;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

impl Backend for Faulty {
    type Poly = RnsPoly;

    fn name(&self) -> &'static str {
        "faulty"
    }

    fn upload(&self, ctx: &RingContext, p: RnsPoly) -> Result<RnsPoly> {
        self.gate("upload")?;
        self.inner.upload(ctx, p)
    }

    fn download(&self, ctx: &RingContext, p: &RnsPoly) -> Result<RnsPoly> {
        self.gate("download")?;
        self.inner.download(ctx, p)
    }

    fn zero(&self, ctx: &RingContext, primes: &[usize]) -> Result<RnsPoly> {
        self.gate("zero")?;
        self.inner.zero(ctx, primes)
    }

    fn primes<'a>(&self, p: &'a RnsPoly) -> &'a [usize] {
        &p.primes
    }

    fn select(&self, ctx: &RingContext, a: &RnsPoly, primes: &[usize]) -> Result<RnsPoly> {
        self.gate("select")?;
        self.inner.select(ctx, a, primes)
    }

    fn concat(&self, ctx: &RingContext, a: &RnsPoly, b: &RnsPoly) -> Result<RnsPoly> {
        self.gate("concat")?;
        self.inner.concat(ctx, a, b)
    }

    fn ntt(&self, ctx: &RingContext, a: &mut RnsPoly) -> Result<()> {
        self.gate("ntt")?;
        self.inner.ntt(ctx, a)
    }

    fn intt(&self, ctx: &RingContext, a: &mut RnsPoly) -> Result<()> {
        self.gate("intt")?;
        self.inner.intt(ctx, a)
    }

    fn add_assign(&self, ctx: &RingContext, a: &mut RnsPoly, b: &RnsPoly) -> Result<()> {
        self.gate("add_assign")?;
        self.inner.add_assign(ctx, a, b)
    }

    fn sub_assign(&self, ctx: &RingContext, a: &mut RnsPoly, b: &RnsPoly) -> Result<()> {
        self.gate("sub_assign")?;
        self.inner.sub_assign(ctx, a, b)
    }

    fn neg_assign(&self, ctx: &RingContext, a: &mut RnsPoly) -> Result<()> {
        self.gate("neg_assign")?;
        self.inner.neg_assign(ctx, a)
    }

    fn mul_assign(&self, ctx: &RingContext, a: &mut RnsPoly, b: &RnsPoly) -> Result<()> {
        self.gate("mul_assign")?;
        self.inner.mul_assign(ctx, a, b)
    }

    fn mul_add_assign(
        &self,
        ctx: &RingContext,
        acc: &mut RnsPoly,
        a: &RnsPoly,
        b: &RnsPoly,
    ) -> Result<()> {
        self.gate("mul_add_assign")?;
        self.inner.mul_add_assign(ctx, acc, a, b)
    }

    fn mul_scalar_assign(&self, ctx: &RingContext, a: &mut RnsPoly, s: &[u64]) -> Result<()> {
        self.gate("mul_scalar_assign")?;
        self.inner.mul_scalar_assign(ctx, a, s)
    }

    fn add_scalar_assign(&self, ctx: &RingContext, a: &mut RnsPoly, s: &[u64]) -> Result<()> {
        self.gate("add_scalar_assign")?;
        self.inner.add_scalar_assign(ctx, a, s)
    }

    fn automorphism_ntt(
        &self,
        ctx: &RingContext,
        a: &RnsPoly,
        galois: usize,
        out: &mut RnsPoly,
    ) -> Result<()> {
        self.gate("automorphism_ntt")?;
        self.inner.automorphism_ntt(ctx, a, galois, out)
    }

    fn base_convert(&self, ctx: &RingContext, a: &RnsPoly, to: &[usize]) -> Result<RnsPoly> {
        self.gate("base_convert")?;
        self.inner.base_convert(ctx, a, to)
    }

    fn key_switch(
        &self,
        ctx: &RingContext,
        a: &RnsPoly,
        key: &KeyDigits<RnsPoly>,
        alpha: usize,
        galois: Option<usize>,
    ) -> Result<(RnsPoly, RnsPoly)> {
        self.gate("key_switch")?;
        self.inner.key_switch(ctx, a, key, alpha, galois)
    }

    fn relinearize_rescale(
        &self,
        ctx: &RingContext,
        d0: &RnsPoly,
        d1: &RnsPoly,
        d2: &RnsPoly,
        key: &KeyDigits<RnsPoly>,
        alpha: usize,
        drop: usize,
    ) -> Result<(RnsPoly, RnsPoly)> {
        self.gate("relinearize_rescale")?;
        self.inner
            .relinearize_rescale(ctx, d0, d1, d2, key, alpha, drop)
    }

    fn hoisted_rotations(
        &self,
        ctx: &RingContext,
        c0: &RnsPoly,
        c1: &RnsPoly,
        keys: &[(usize, &KeyDigits<RnsPoly>)],
        alpha: usize,
    ) -> Result<Vec<(RnsPoly, RnsPoly)>> {
        self.gate("hoisted_rotations")?;
        self.inner.hoisted_rotations(ctx, c0, c1, keys, alpha)
    }
}

fn params() -> Params {
    Params::new_insecure_for_tests(ParamsLiteral::test_small()).unwrap()
}

fn request() -> KeyRequest {
    KeyRequest::new().relin().rotations([1]).conjugate()
}

const X: [f64; 4] = [0.5, -0.25, 0.125, 0.75];

/// Every operation the evaluator runs on the backend in one small program: a product
/// relinearised and rescaled (two ways), a rotation, a conjugation, constants and a
/// level drop; returns the decrypted slots.
fn program(ckks: &Ckks<Faulty>, keys: &Keys) -> Result<Vec<f64>> {
    let ev = ckks.evaluator(&keys.evk)?;
    let level = ckks.params().max_level();
    let pt = ckks.encode_real(&X, level, ckks.params().default_scale())?;
    let x: Ciphertext<Faulty> = ckks.encryptor(&keys.pk).encrypt(&pt)?;
    let sq = ev.rescale_new(&ev.mul_relin_new(&x, &x)?)?;
    let mut prod = ev.mul_new(&x, &x)?;
    ev.relinearize_rescale_assign(&mut prod)?;
    let mut y = ev.add_new(&sq, &prod)?; // 2x²
    y = ev.rotate_new(&y, 1)?;
    y = ev.add_new(&y, &ev.conjugate_new(&y)?)?; // 4x² (real slots)
    ev.add_const_assign(&mut y, 1.0)?;
    ev.mul_const_assign(&mut y, 0.5)?;
    ev.rescale_assign(&mut y)?;
    ev.drop_level_assign(&mut y, 1)?;
    let neg = ev.neg_new(&y)?;
    ev.sub_assign(&mut y, &neg)?; // 2·(4x² + 1)/2 = 4x² + 1, rotated by one slot
    ckks.decryptor(&keys.sk).decrypt_real(&y)
}

fn expected(i: usize) -> f64 {
    4.0 * X[(i + 1) % X.len()].powi(2) + 1.0
}

struct Keys {
    sk: fhe_dsl::ckks::SecretKey,
    pk: fhe_dsl::ckks::PublicKey,
    evk: fhe_dsl::ckks::EvaluationKeys,
}

fn keys(ckks: &Ckks<Faulty>) -> Result<Keys> {
    let mut kg = KeyGenerator::from_seed(ckks, 7);
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk)?;
    let evk = kg.evaluation_keys(&sk, &request())?;
    Ok(Keys { sk, pk, evk })
}

fn check_values(got: &[f64]) {
    for (i, g) in got.iter().take(X.len()).enumerate() {
        assert!(
            (g - expected(i)).abs() < 1e-4,
            "slot {i}: {g} vs {}",
            expected(i)
        );
    }
}

/// The error as the user sees it: `Error::Device` from the failing operation, of kind
/// `OutOfMemory`, with a message that says so.
fn assert_out_of_memory(e: &Error, op: &str) {
    match e {
        Error::Device {
            backend: "faulty",
            op: o,
            kind: DeviceErrorKind::OutOfMemory,
        } if *o == op => {}
        e => panic!("failing {op}: got {e:?}"),
    }
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!(
            "faulty backend: `{op}` failed: out of device memory"
        )),
        "{msg}"
    );
}

#[test]
fn the_program_runs_on_the_faulty_backend_when_nothing_fails() {
    let ckks = Ckks::new(params(), Faulty::default());
    let keys = keys(&ckks).unwrap();
    check_values(&program(&ckks, &keys).unwrap());
}

/// A product with relinearisation and a rotation, each failing in its coarse operation:
/// the evaluator call returns the typed error.
#[test]
fn out_of_memory_in_relinearisation_or_rotation_reaches_the_evaluator_caller() {
    let be = Faulty::default();
    let ckks = Ckks::new(params(), be.clone());
    let keys = keys(&ckks).unwrap();
    let ev = ckks.evaluator(&keys.evk).unwrap();
    let pt = ckks
        .encode_real(&X, ckks.params().max_level(), ckks.params().default_scale())
        .unwrap();
    let x = ckks.encryptor(&keys.pk).encrypt(&pt).unwrap();

    be.arm("key_switch", 0);
    let e = ev.mul_relin_new(&x, &x).unwrap_err();
    assert_out_of_memory(&e, "key_switch");

    be.arm("relinearize_rescale", 0);
    let mut d = ev.mul_new(&x, &x).unwrap();
    let e = ev.relinearize_rescale_assign(&mut d).unwrap_err();
    assert_out_of_memory(&e, "relinearize_rescale");

    be.arm("hoisted_rotations", 0);
    let e = ev.rotate_new(&x, 1).unwrap_err();
    assert_out_of_memory(&e, "hoisted_rotations");
    assert_eq!(e.device_kind(), Some(&DeviceErrorKind::OutOfMemory));

    // a primitive deep inside a default composition: the ModDown of a rescale
    be.arm("base_convert", 0);
    let e = ev.rescale_new(&x).unwrap_err();
    assert_out_of_memory(&e, "base_convert");

    // the backend is usable again, with the same results
    be.disarm();
    let r = ev.rotate_new(
        &ev.rescale_new(&ev.mul_relin_new(&x, &x).unwrap()).unwrap(),
        1,
    );
    let got = ckks.decryptor(&keys.sk).decrypt_real(&r.unwrap()).unwrap();
    for (i, g) in got.iter().take(X.len()).enumerate() {
        let want = X[(i + 1) % X.len()].powi(2);
        assert!((g - want).abs() < 1e-4, "slot {i}: {g} vs {want}");
    }
}

/// Every backend operation the program (key generation included) calls, failing at its
/// first, second and sixth call: the program returns that error, no call panics, and
/// once the failure is spent the same backend runs the program to the right values.
#[test]
fn every_operation_failing_anywhere_is_an_error_not_a_panic() {
    let be = Faulty::default();
    let ckks = Ckks::new(params(), be.clone());
    let run = || -> Result<Vec<f64>> { program(&ckks, &keys(&ckks)?) };
    check_values(&run().unwrap());
    let seen: Vec<&'static str> = be.plan.lock().unwrap().seen.iter().copied().collect();
    for op in [
        "upload",
        "download",
        "zero",
        "select",
        "ntt",
        "intt",
        "add_assign",
        "sub_assign",
        "neg_assign",
        "mul_assign",
        "mul_add_assign",
        "mul_scalar_assign",
        "add_scalar_assign",
        "automorphism_ntt",
        "base_convert",
        "key_switch",
        "relinearize_rescale",
        "hoisted_rotations",
    ] {
        assert!(seen.contains(&op), "the program never calls {op}");
    }
    let mut failures = 0;
    for &op in &seen {
        for skip in [0, 1, 5] {
            be.arm(op, skip);
            let r = run();
            if be.fired().is_empty() {
                // fewer calls than `skip`: nothing failed
                check_values(&r.unwrap());
            } else {
                assert_out_of_memory(&r.unwrap_err(), op);
                failures += 1;
            }
            be.disarm();
        }
    }
    // each operation fails at least at its first call
    assert!(failures >= seen.len(), "only {failures} failures injected");
    check_values(&run().unwrap());
}
