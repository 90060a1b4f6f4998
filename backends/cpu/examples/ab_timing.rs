//! Same-process A/B timings of the CPU backend's vector kernels at bench-a: every
//! repetition runs the operation with the kernels off (A) and on (B), interleaved, so
//! both see the same machine load. Results are bit-identical either way (checked).
//!
//! `cargo run --release -p fhe-backend-cpu --example ab_timing [reps] [op...]`

use fhe_backend_cpu::{set_simd_enabled, CpuBackend};
use fhe_dsl::backend::Backend;
use fhe_dsl::ckks::{Ckks, KeyRequest, Params, ParamsLiteral};
use fhe_dsl::conformance::random_poly;
use std::time::Instant;

fn stats(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0])
}

fn ab(name: &str, reps: usize, elems: f64, mut f: impl FnMut()) {
    // AB_ONLY=B (or A) runs one side only, e.g. under a profiler
    let only = std::env::var("AB_ONLY").ok();
    let sides: Vec<bool> = match only.as_deref() {
        Some("A") => vec![false],
        Some("B") => vec![true],
        _ => vec![false, true],
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for &on in &sides {
        set_simd_enabled(on);
        f(); // warm-up
    }
    for _ in 0..reps {
        for (on, out) in [(false, &mut a), (true, &mut b)] {
            if !sides.contains(&on) {
                out.push(f64::NAN);
                continue;
            }
            set_simd_enabled(on);
            let t = Instant::now();
            f();
            out.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    let ((am, an), (bm, bn)) = (stats(a), stats(b));
    println!(
        "{name:<22} A {am:>9.3} ms (min {an:>9.3}) | B {bm:>9.3} ms (min {bn:>9.3}) | x{:.2} | B {:.2} ns/elem",
        am / bm,
        bm * 1e6 / elems
    );
}

fn main() {
    // SAFETY: allocator tunables only, set before any allocation-heavy work (as `fhe` does).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
    let mut args = std::env::args().skip(1);
    let reps: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(15);
    let only: Vec<String> = args.collect();
    let want = |op: &str| only.is_empty() || only.iter().any(|o| o == op);
    let params = Params::new(ParamsLiteral::bench_a()).expect("bench-a");
    let ctx = params.ring().clone();
    let be = CpuBackend::new();
    let top = params.max_level();
    let q = params.q_primes_at(top);
    let words = (q.len() * ctx.n()) as f64;
    println!(
        "bench-a, {} threads, {reps} reps; A = scalar kernels, B = vector kernels",
        rayon::current_num_threads()
    );

    let x = random_poly(&ctx, &q, 1);
    let y = random_poly(&ctx, &q, 2);
    let mut z = x.clone();
    if want("mul_assign") {
        ab("mul_assign 24 limbs", reps, words, || {
            be.mul_assign(&ctx, &mut z, &y).unwrap()
        });
    }
    if want("mul_add_assign") {
        ab("mul_add_assign", reps, words, || {
            be.mul_add_assign(&ctx, &mut z, &x, &y).unwrap()
        });
    }
    if want("ntt") {
        ab("ntt 24 limbs", reps, words, || {
            be.ntt(&ctx, &mut z).unwrap()
        });
        ab("intt 24 limbs", reps, words, || {
            be.intt(&ctx, &mut z).unwrap()
        });
    }
    if want("base_convert") {
        // 6 P limbs (57-bit, split into halves) -> 24 Q limbs: ModDown's conversion
        let pp: Vec<usize> = ctx.p_indices().collect();
        let xp = random_poly(&ctx, &pp, 4);
        ab("base_convert P->Q", reps, words, || {
            std::hint::black_box(be.base_convert(&ctx, &xp, &q).unwrap());
        });
        let xq = random_poly(&ctx, &q[1..7], 5);
        let to: Vec<usize> = q[7..].to_vec();
        ab("base_convert 6Q->17Q", reps, (17 * ctx.n()) as f64, || {
            std::hint::black_box(be.base_convert(&ctx, &xq, &to).unwrap());
        });
    }
    if want("rescale_poly") {
        ab("rescale 1 poly", reps, words, || {
            let mut t = x.clone();
            be.rescale(&ctx, &mut t, 1).unwrap();
            std::hint::black_box(t);
        });
    }

    let poly_ops = [
        "mul_assign",
        "mul_add_assign",
        "rescale_poly",
        "ntt",
        "base_convert",
    ];
    if !only.is_empty() && only.iter().all(|o| poly_ops.contains(&o.as_str())) {
        return;
    }
    let ck = Ckks::new(params.clone(), be);
    let mut kg = ck.key_generator();
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk).unwrap();
    let steps: Vec<i64> = (1..=8).collect();
    let ek = kg
        .evaluation_keys(&sk, &KeyRequest::new().relin().rotations(1..=8))
        .unwrap();
    let ev = ck.evaluator(&ek).unwrap();
    let vals: Vec<f64> = (0..params.max_slots())
        .map(|i| (i % 7) as f64 / 7.0)
        .collect();
    let pt = ck.encode_real(&vals, top, params.default_scale()).unwrap();
    let enc = ck.encryptor(&pk);
    let ct = enc.encrypt(&pt).unwrap();
    let ct2 = enc.encrypt(&pt).unwrap();
    // bit-exactness of the whole pipeline, A vs B
    let run = |on: bool| {
        set_simd_enabled(on);
        let p = ev.mul_relin_new(&ct, &ct2).unwrap();
        let r = ev.rescale_new(&p).unwrap();
        let m = ev.mul_plain_new(&ct, &pt).unwrap();
        let h = ev.rotate_hoisted_new(&ct, &steps[..3]).unwrap();
        let o = ev.rotate_new(&ct, 5).unwrap();
        (p, r, m, h, o)
    };
    let (pa, ra, ma, ha, oa) = run(false);
    let (pb, rb, mb, hb, ob) = run(true);
    assert!(pa.parts() == pb.parts() && ra.parts() == rb.parts() && ma.parts() == mb.parts());
    assert!(oa.parts() == ob.parts());
    assert!(ha.iter().zip(&hb).all(|(a, b)| a.parts() == b.parts()));
    println!("A and B results are bit-identical");
    let cw = 2.0 * words;
    if want("mul_plain") {
        ab("mul_plain", reps, cw, || {
            std::hint::black_box(ev.mul_plain_new(&ct, &pt).unwrap());
        });
    }
    if want("add") {
        ab("add", reps, cw, || {
            std::hint::black_box(ev.add_new(&ct, &ct2).unwrap());
        });
    }
    if want("rescale") {
        ab("rescale", reps, cw, || {
            std::hint::black_box(ev.rescale_new(&pa).unwrap());
        });
    }
    if want("hmult_relin") {
        ab("hmult_relin", reps, cw, || {
            std::hint::black_box(ev.mul_relin_new(&ct, &ct2).unwrap());
        });
    }
    if want("rotate") {
        ab("rotate", reps, cw, || {
            std::hint::black_box(ev.rotate_new(&ct, 5).unwrap());
        });
    }
    if want("encrypt") {
        ab("encrypt_pk", reps, cw, || {
            std::hint::black_box(enc.encrypt(&pt).unwrap());
        });
    }
    if want("hoisted_rotate_8") {
        ab("hoisted_rotate_8", reps.div_ceil(3), 8.0 * cw, || {
            std::hint::black_box(ev.rotate_hoisted_new(&ct, &steps).unwrap());
        });
    }
}
