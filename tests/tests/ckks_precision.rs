//! CKKS results checked by precision in bits against float64 references, on the CPU
//! backend (the reference for every other backend).

mod common;

use common::*;
use fhe_backend_cpu::CpuBackend;
use fhe_dsl::backend::Backend;
use fhe_dsl::ckks::{KeyRequest, Params};
use num_complex::Complex64;
use rand::{Rng, SeedableRng};

fn backend() -> CpuBackend {
    CpuBackend::new()
}

#[test]
fn fresh_encryption_precision() {
    let s = Setup::new(small_params(), backend(), &KeyRequest::new());
    let p = s.ckks.params().clone();
    for slots in [p.max_slots(), 64, 1] {
        let v = random_complex(slots, 1);
        for level in [p.max_level(), 0] {
            let got = s.decrypt(&s.encrypt(&v, level));
            let (min_bits, mean_bits) = precision(&got, &v);
            // scale 2^45, fresh noise ~ N·σ: ≥ 30 bits expected
            assert!(
                min_bits > 26.0,
                "public-key encryption, {slots} slots, level {level}: {min_bits:.1} bits"
            );
            assert!(mean_bits >= min_bits);
        }
        let pt = s.ckks.encode(&v, p.max_level(), p.default_scale()).unwrap();
        let ct = s.ckks.encryptor_sk(&s.sk).encrypt(&pt).unwrap();
        let (bits, _) = precision(&s.decrypt(&ct), &v);
        assert!(bits > 28.0, "secret-key encryption: {bits:.1} bits");
    }
}

#[test]
fn arithmetic_against_float64() {
    let s = Setup::new(small_params(), backend(), &KeyRequest::new().relin());
    let p = s.ckks.params().clone();
    let ev = s.ckks.evaluator(&s.evk).unwrap();
    let n = p.max_slots();
    let (x, y) = (random_complex(n, 2), random_complex(n, 3));
    let (cx, cy) = (s.encrypt(&x, p.max_level()), s.encrypt(&y, p.max_level()));
    let check =
        |name: &str, ct: &fhe_dsl::ckks::Ciphertext<CpuBackend>, want: Vec<Complex64>, bar: f64| {
            let (bits, _) = precision(&s.decrypt(ct), &want);
            assert!(bits > bar, "{name}: {bits:.1} bits ≤ {bar}");
        };
    let zip = |f: &dyn Fn(Complex64, Complex64) -> Complex64| -> Vec<Complex64> {
        x.iter().zip(&y).map(|(&a, &b)| f(a, b)).collect()
    };
    check(
        "add",
        &ev.add_new(&cx, &cy).unwrap(),
        zip(&|a, b| a + b),
        26.0,
    );
    check(
        "sub",
        &ev.sub_new(&cx, &cy).unwrap(),
        zip(&|a, b| a - b),
        26.0,
    );
    check(
        "neg",
        &ev.neg_new(&cx).unwrap(),
        x.iter().map(|a| -a).collect(),
        26.0,
    );
    let py = s.ckks.encode(&y, p.max_level(), p.default_scale()).unwrap();
    check(
        "add_plain",
        &ev.add_plain_new(&cx, &py).unwrap(),
        zip(&|a, b| a + b),
        26.0,
    );
    let mp = ev
        .rescale_new(&ev.mul_plain_new(&cx, &py).unwrap())
        .unwrap();
    check("mul_plain+rescale", &mp, zip(&|a, b| a * b), 23.0);
    let mr = ev
        .rescale_new(&ev.mul_relin_new(&cx, &cy).unwrap())
        .unwrap();
    check("mul_relin+rescale", &mr, zip(&|a, b| a * b), 23.0);
    let mut c = cx.clone();
    ev.mul_const_assign(&mut c, -0.75).unwrap();
    ev.rescale_assign(&mut c).unwrap();
    assert!(
        (c.scale() / cx.scale() - 1.0).abs() < 1e-12,
        "mul_const keeps the scale across rescale"
    );
    check("mul_const", &c, x.iter().map(|a| a * -0.75).collect(), 23.0);
    let mut c = cx.clone();
    ev.add_const_assign(&mut c, 0.3).unwrap();
    check("add_const", &c, x.iter().map(|a| a + 0.3).collect(), 26.0);
    let mut c = cx.clone();
    ev.mul_int_assign(&mut c, -3).unwrap();
    check("mul_int", &c, x.iter().map(|a| a * -3.0).collect(), 24.0);
    // a degree-2 ciphertext decrypts too, and relinearising it changes nothing visible
    let m3 = ev.mul_new(&cx, &cy).unwrap();
    assert_eq!(m3.degree(), 2);
    check(
        "mul (degree 2)",
        &ev.rescale_new(&m3).unwrap(),
        zip(&|a, b| a * b),
        23.0,
    );
}

/// HMult + relinearise + rescale down to level 0: x^(2^k) style chains with fresh factors.
#[test]
fn multiplication_chain_to_level_zero() {
    let s = Setup::new(deep_params(), backend(), &KeyRequest::new().relin());
    let p = s.ckks.params().clone();
    let ev = s.ckks.evaluator(&s.evk).unwrap();
    let n = p.max_slots();
    let x = random_complex(n, 4);
    // factors near the unit circle keep the magnitude stable along the chain
    let f: Vec<Complex64> = random_complex(n, 5).iter().map(|z| z / z.norm()).collect();
    let mut want = x.clone();
    let mut ct = s.encrypt(&x, p.max_level());
    let cf = s.encrypt(&f, p.max_level());
    let mut worst = f64::INFINITY;
    while ct.level() > 0 {
        let mut cfl = cf.clone();
        ev.drop_level_assign(&mut cfl, cf.level() - ct.level())
            .unwrap();
        cfl.set_scale(ct.scale()); // drop_level keeps Δ; chains in Δ²/q drift by < 2^-9
        let wf: Vec<Complex64> = f.iter().map(|z| z * (cf.scale() / ct.scale())).collect();
        ct = ev
            .rescale_new(&ev.mul_relin_new(&ct, &cfl).unwrap())
            .unwrap();
        want = want.iter().zip(&wf).map(|(a, b)| a * b).collect();
        let (bits, _) = precision(&s.decrypt(&ct), &want);
        worst = worst.min(bits);
        assert!(bits > 20.0, "level {}: {bits:.1} bits", ct.level());
    }
    assert_eq!(ct.level(), 0);
    assert!(
        ev.rescale_new(&ct).is_err(),
        "rescale at level 0 is an error"
    );
    eprintln!(
        "chain of {} multiplications: worst precision {worst:.1} bits",
        p.max_level()
    );
}

#[test]
fn rotations_by_random_steps_and_conjugation() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
    let params = small_params();
    let n = params.max_slots() as i64;
    let mut steps: Vec<i64> = (0..6).map(|_| rng.gen_range(-n + 1..n)).collect();
    steps.push(1);
    let s = Setup::new(
        params.clone(),
        backend(),
        &KeyRequest::new().rotations(steps.clone()).conjugate(),
    );
    let ev = s.ckks.evaluator(&s.evk).unwrap();
    let x = random_complex(n as usize, 7);
    let ct = s.encrypt(&x, params.max_level());
    let hoisted = ev.rotate_hoisted_new(&ct, &steps).unwrap();
    for (k, h) in steps.iter().zip(&hoisted) {
        let want: Vec<Complex64> = (0..n).map(|j| x[(j + k).rem_euclid(n) as usize]).collect();
        let plain = ev.rotate_new(&ct, *k).unwrap();
        let (bits, _) = precision(&s.decrypt(&plain), &want);
        assert!(bits > 26.0, "rotate {k}: {bits:.1} bits");
        // hoisted and plain rotations give identical ciphertexts
        for (a, b) in h.parts().iter().zip(plain.parts()) {
            let ctx = params.ring();
            assert_eq!(
                s.ckks.backend().download(ctx, a).expect("download"),
                s.ckks.backend().download(ctx, b).expect("download"),
                "hoisted vs plain, step {k}"
            );
        }
    }
    let conj = ev.conjugate_new(&ct).unwrap();
    let (bits, _) = precision(
        &s.decrypt(&conj),
        &x.iter().map(|z| z.conj()).collect::<Vec<_>>(),
    );
    assert!(bits > 26.0, "conjugate: {bits:.1} bits");
    // sparse slots rotate within their own cycle
    let xs = random_complex(16, 8);
    let cs = s.encrypt(&xs, params.max_level());
    let r = ev.rotate_new(&cs, 1).unwrap();
    let want: Vec<Complex64> = (0..16).map(|j| xs[(j + 1) % 16]).collect();
    let (bits, _) = precision(&s.decrypt(&r), &want);
    assert!(bits > 26.0, "sparse rotate: {bits:.1} bits");
}

#[test]
fn errors_name_both_values() {
    let s = Setup::new(
        small_params(),
        backend(),
        &KeyRequest::new().relin().rotations([1]),
    );
    let p: Params = s.ckks.params().clone();
    let ev = s.ckks.evaluator(&s.evk).unwrap();
    let x = random_complex(8, 9);
    let a = s.encrypt(&x, p.max_level());
    let b = s.encrypt(&x, p.max_level() - 1);
    let e = ev.add_new(&a, &b).unwrap_err().to_string();
    assert!(
        e.contains(&p.max_level().to_string()) && e.contains(&(p.max_level() - 1).to_string()),
        "{e}"
    );
    let sq = ev.mul_relin_new(&a, &a).unwrap();
    let e = ev.add_new(&sq, &a).unwrap_err().to_string();
    assert!(
        e.contains("scale") && e.contains("2^90") && e.contains("2^45"),
        "{e}"
    );
    let e = ev.rotate_new(&a, 5).unwrap_err().to_string();
    assert!(e.contains("rotation key for step 5"), "{e}");
    assert!(ev
        .conjugate_new(&a)
        .unwrap_err()
        .to_string()
        .contains("conjugation key"));
    let no_relin = s.ckks.evaluator(&Default::default()).unwrap();
    assert!(no_relin
        .mul_relin_new(&a, &a)
        .unwrap_err()
        .to_string()
        .contains("relinearisation key"));
    let e = s
        .ckks
        .encode_real(&vec![0.5; p.max_slots() + 1], 0, 1e10)
        .unwrap_err()
        .to_string();
    assert!(e.contains("slots"), "{e}");
    assert!(s.ckks.encode_real(&[f64::NAN], 0, 1e10).is_err());
    let e = s
        .ckks
        .encode_real(&[1e30], 0, 2f64.powi(45))
        .unwrap_err()
        .to_string();
    assert!(e.contains("beyond Q"), "{e}");
    // keys made for other parameters are refused with a clear error
    let other = Setup::new(deep_params(), backend(), &KeyRequest::new().relin());
    let e = s
        .ckks
        .evaluator(&other.evk)
        .err()
        .expect("mismatched keys refused")
        .to_string();
    // a deeper key set: its keys claim a level these parameters do not have
    assert!(
        e.contains("switching key for level") && e.contains("stop at level"),
        "{e}"
    );
}

/// Decoding reconstructs through several limbs without big integers: large messages
/// (here up to 2^40 at scale 2^45, 85-bit integers) come back exactly.
#[test]
fn decode_large_values() {
    let s = Setup::new(small_params(), backend(), &KeyRequest::new());
    let p = s.ckks.params().clone();
    let v: Vec<Complex64> = random_complex(p.max_slots(), 10)
        .iter()
        .map(|z| z * 2f64.powi(40))
        .collect();
    for level in [p.max_level(), 2, 1] {
        let pt = s.ckks.encode(&v, level, p.default_scale()).unwrap();
        let got = s.ckks.decode(&pt).unwrap();
        let rel = got
            .iter()
            .zip(&v)
            .map(|(g, w)| (g - w).norm() / w.norm())
            .fold(0.0, f64::max);
        assert!(rel < 1e-12, "level {level}: relative error {rel:e}");
        let ct = s.ckks.encryptor_sk(&s.sk).encrypt(&pt).unwrap();
        let (bits, _) = precision(&s.decrypt(&ct), &v);
        assert!(
            bits > -14.0,
            "level {level}: error 2^{:.1} on 2^40-sized values",
            -bits
        );
    }
}
