//! Quick timings of the CPU backend at bench-a (N = 2^16, 24 Q primes, 6 P primes).
//!
//! `cargo run --release -p fhe-backend-cpu --example cpu_timing [reps]`
//!
//! Each figure is the median of `reps` runs (default 10). The "composed" column runs the
//! trait's default coarse operations on the same primitives (the backend before fusion).

use fhe_backend_cpu::CpuBackend;
use fhe_dsl::backend::Backend;
use fhe_dsl::ckks::{Ckks, KeyGenerator, KeyRequest, Params, ParamsLiteral};
use fhe_dsl::conformance::random_poly;
use fhe_dsl::ring::{RingContext, RnsPoly};
use std::time::Instant;

/// CpuBackend's primitives with the trait's composed default coarse operations.
#[derive(Clone, Copy, Debug, Default)]
struct Composed(CpuBackend);

impl Backend for Composed {
    type Poly = RnsPoly;
    fn name(&self) -> &'static str {
        "cpu-composed"
    }
    fn upload(&self, c: &RingContext, p: RnsPoly) -> fhe_dsl::Result<RnsPoly> {
        self.0.upload(c, p)
    }
    fn download(&self, c: &RingContext, p: &RnsPoly) -> fhe_dsl::Result<RnsPoly> {
        self.0.download(c, p)
    }
    fn zero(&self, c: &RingContext, primes: &[usize]) -> fhe_dsl::Result<RnsPoly> {
        self.0.zero(c, primes)
    }
    fn primes<'a>(&self, p: &'a RnsPoly) -> &'a [usize] {
        &p.primes
    }
    fn select(&self, c: &RingContext, a: &RnsPoly, primes: &[usize]) -> fhe_dsl::Result<RnsPoly> {
        self.0.select(c, a, primes)
    }
    fn concat(&self, c: &RingContext, a: &RnsPoly, b: &RnsPoly) -> fhe_dsl::Result<RnsPoly> {
        self.0.concat(c, a, b)
    }
    fn ntt(&self, c: &RingContext, a: &mut RnsPoly) -> fhe_dsl::Result<()> {
        self.0.ntt(c, a)
    }
    fn intt(&self, c: &RingContext, a: &mut RnsPoly) -> fhe_dsl::Result<()> {
        self.0.intt(c, a)
    }
    fn add_assign(&self, c: &RingContext, a: &mut RnsPoly, b: &RnsPoly) -> fhe_dsl::Result<()> {
        self.0.add_assign(c, a, b)
    }
    fn sub_assign(&self, c: &RingContext, a: &mut RnsPoly, b: &RnsPoly) -> fhe_dsl::Result<()> {
        self.0.sub_assign(c, a, b)
    }
    fn neg_assign(&self, c: &RingContext, a: &mut RnsPoly) -> fhe_dsl::Result<()> {
        self.0.neg_assign(c, a)
    }
    fn mul_assign(&self, c: &RingContext, a: &mut RnsPoly, b: &RnsPoly) -> fhe_dsl::Result<()> {
        self.0.mul_assign(c, a, b)
    }
    fn mul_add_assign(
        &self,
        c: &RingContext,
        acc: &mut RnsPoly,
        a: &RnsPoly,
        b: &RnsPoly,
    ) -> fhe_dsl::Result<()> {
        self.0.mul_add_assign(c, acc, a, b)
    }
    fn mul_scalar_assign(
        &self,
        c: &RingContext,
        a: &mut RnsPoly,
        s: &[u64],
    ) -> fhe_dsl::Result<()> {
        self.0.mul_scalar_assign(c, a, s)
    }
    fn add_scalar_assign(
        &self,
        c: &RingContext,
        a: &mut RnsPoly,
        s: &[u64],
    ) -> fhe_dsl::Result<()> {
        self.0.add_scalar_assign(c, a, s)
    }
    fn automorphism_ntt(
        &self,
        c: &RingContext,
        a: &RnsPoly,
        g: usize,
        out: &mut RnsPoly,
    ) -> fhe_dsl::Result<()> {
        self.0.automorphism_ntt(c, a, g, out)
    }
    fn base_convert(&self, c: &RingContext, a: &RnsPoly, to: &[usize]) -> fhe_dsl::Result<RnsPoly> {
        self.0.base_convert(c, a, to)
    }
}

/// CPU time consumed by all threads of this process so far, in ns (Linux schedstat;
/// 0 elsewhere). Robust to other processes competing for the cores, unlike wall time.
fn cpu_ns() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Medians (wall ms, all-thread CPU ms) of `reps` runs of `f`.
fn median_ms(reps: usize, mut f: impl FnMut()) -> (f64, f64) {
    f(); // warm caches and lazily built tables
    let mut t: Vec<(f64, f64)> = (0..reps)
        .map(|_| {
            let c = cpu_ns();
            let s = Instant::now();
            f();
            let wall = s.elapsed().as_secs_f64() * 1e3;
            (wall, (cpu_ns() - c) as f64 / 1e6)
        })
        .collect();
    t.sort_by(|a, b| a.0.total_cmp(&b.0));
    let wall = t[t.len() / 2].0;
    t.sort_by(|a, b| a.1.total_cmp(&b.1));
    (wall, t[t.len() / 2].1)
}

fn row(what: &str, fused: (f64, f64), composed: Option<(f64, f64)>) {
    let (w, c) = fused;
    match composed {
        Some((cw, cc)) => println!(
            "{what:<32} {w:>8.2} ms wall {c:>8.2} ms cpu | composed {cw:>8.2} wall {cc:>8.2} cpu (cpu x{:.2})",
            cc / c
        ),
        None => println!("{what:<32} {w:>8.2} ms wall {c:>8.2} ms cpu"),
    }
}

fn main() {
    let reps: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let params = Params::new(ParamsLiteral::bench_a()).expect("bench-a");
    let ctx = params.ring().clone();
    let (be, co) = (CpuBackend::new(), Composed::default());
    let top = params.max_level();
    let q = params.q_primes_at(top);
    let alpha = params.alpha();
    println!(
        "bench-a: N = 2^{}, {} Q + {} P primes, alpha = {alpha}, {} threads, {reps} reps",
        params.log_n(),
        q.len(),
        ctx.num_p(),
        rayon::current_num_threads()
    );

    // primitives
    let x = random_poly(&ctx, &q, 1);
    let mut y = x.clone();
    row(
        "NTT (24 limbs)",
        median_ms(reps, || be.ntt(&ctx, &mut y).unwrap()),
        None,
    );
    row(
        "INTT (24 limbs)",
        median_ms(reps, || be.intt(&ctx, &mut y).unwrap()),
        None,
    );
    let mut one = random_poly(&ctx, &[0], 2);
    row(
        "NTT (1 limb, 1 thread)",
        median_ms(reps, || be.ntt(&ctx, &mut one).unwrap()),
        None,
    );
    let from: Vec<usize> = q[..alpha].to_vec();
    let to: Vec<usize> = q[alpha..].iter().copied().chain(ctx.p_indices()).collect();
    let xs = random_poly(&ctx, &from, 3);
    row(
        "base_convert 6 -> 24",
        median_ms(reps, || {
            std::hint::black_box(be.base_convert(&ctx, &xs, &to).unwrap());
        }),
        None,
    );
    let mut z = x.clone();
    row(
        "mul_assign (24 limbs)",
        median_ms(reps, || be.mul_assign(&ctx, &mut z, &x).unwrap()),
        None,
    );
    row(
        "decompose_mod_up (level 23)",
        median_ms(reps, || {
            std::hint::black_box(be.decompose_mod_up(&ctx, &x, alpha).unwrap());
        }),
        Some(median_ms(reps, || {
            std::hint::black_box(co.decompose_mod_up(&ctx, &x, alpha).unwrap());
        })),
    );
    let rs = |b: &dyn Fn(&mut RnsPoly)| {
        median_ms(reps, || {
            let mut t = x.clone();
            b(&mut t);
            std::hint::black_box(t);
        })
    };
    row(
        "rescale 1 poly (24 -> 23 limbs)",
        rs(&|t| be.rescale(&ctx, t, 1).unwrap()),
        Some(rs(&|t| co.rescale(&ctx, t, 1).unwrap())),
    );

    // key switching with real keys
    let ck = Ckks::new(params.clone(), be);
    let cc = Ckks::new(params.clone(), co);
    let mut kg = KeyGenerator::from_seed(&ck, 1);
    let sk = kg.secret_key();
    let steps = [1i64, 2, 3, 4];
    let ek = kg
        .evaluation_keys(&sk, &KeyRequest::new().relin().rotations(steps))
        .unwrap();
    let (ev, evc) = (ck.evaluator(&ek).unwrap(), cc.evaluator(&ek).unwrap());
    let vals: Vec<f64> = (0..params.max_slots())
        .map(|i| (i % 7) as f64 / 7.0)
        .collect();
    let pt = ck.encode_real(&vals, top, params.default_scale()).unwrap();
    let ct = ck.encryptor_sk(&sk).encrypt(&pt).unwrap();
    let ctc = fhe_dsl::ckks::Ciphertext::<Composed>::from_parts(
        ct.parts().to_vec(),
        ct.level(),
        ct.scale(),
        ct.slots(),
    );
    let prod = ev.mul_relin_new(&ct, &ct).unwrap();
    let prodc = evc.mul_relin_new(&ctc, &ctc).unwrap();
    assert_eq!(prod.parts(), prodc.parts(), "fused and composed differ");
    row(
        "HMult + relinearise (level 23)",
        median_ms(reps, || {
            std::hint::black_box(ev.mul_relin_new(&ct, &ct).unwrap());
        }),
        Some(median_ms(reps, || {
            std::hint::black_box(evc.mul_relin_new(&ctc, &ctc).unwrap());
        })),
    );
    row(
        "rotate 1 (level 23)",
        median_ms(reps, || {
            std::hint::black_box(ev.rotate_new(&ct, 1).unwrap());
        }),
        Some(median_ms(reps, || {
            std::hint::black_box(evc.rotate_new(&ctc, 1).unwrap());
        })),
    );
    row(
        "hoisted rotations x4 (level 23)",
        median_ms(reps, || {
            std::hint::black_box(ev.rotate_hoisted_new(&ct, &steps).unwrap());
        }),
        Some(median_ms(reps, || {
            std::hint::black_box(evc.rotate_hoisted_new(&ctc, &steps).unwrap());
        })),
    );
    row(
        "rescale ciphertext (level 23)",
        median_ms(reps, || {
            std::hint::black_box(ev.rescale_new(&prod).unwrap());
        }),
        Some(median_ms(reps, || {
            std::hint::black_box(evc.rescale_new(&prodc).unwrap());
        })),
    );
}
