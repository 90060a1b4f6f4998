//! Same-process A/B of whole bootstraps at boot-n16: every repetition bootstraps the
//! same ciphertext with one CPU-backend feature off (A) and on (B), interleaved and
//! alternating which goes first, so both sides see the same machine load (on a shared
//! VM, runs minutes apart differ by ±15 %). The outputs must be bit-identical.
//! The feature (`AB=fused`, the default, or `AB=ifma`): the fused overrides (off: the
//! `Backend` trait's composed defaults), or the AVX-512 IFMA kernels (off: AVX2);
//! `AB=none` runs the same code on both sides (the machine's own spread).
//!
//! `AB=ifma cargo run --release -p fhe-backend-cpu --example bootstrap_ab [reps]`

use fhe_backend_cpu::{set_fused_enabled, set_ifma_enabled, CpuBackend};
use fhe_dsl::circuits::{BootstrapPreset, BootstrapTimings, Bootstrapper, BootstrappingKeys};
use fhe_dsl::ckks::{Ckks, KeyRequest, Params};
use num_complex::Complex64;
use rand::{Rng, SeedableRng};

/// Process CPU time (user + system) in ms, minor page faults so far, and this (the
/// main) thread's CPU time in ms: rayon's workers do the parallel work while the main
/// thread waits, so the main thread's own time is the serial part.
fn usage() -> (f64, f64, f64) {
    let get = |who| {
        // SAFETY: getrusage only writes the struct it is given.
        unsafe {
            let mut ru: libc::rusage = std::mem::zeroed();
            libc::getrusage(who, &mut ru);
            ru
        }
    };
    let (ru, th) = (get(libc::RUSAGE_SELF), get(libc::RUSAGE_THREAD));
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    (
        tv(ru.ru_utime) + tv(ru.ru_stime),
        ru.ru_minflt as f64,
        tv(th.ru_utime) + tv(th.ru_stime),
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // SAFETY: allocator tunables only, set before any allocation-heavy work (as `fhe` does).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
    let reps: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let preset = BootstrapPreset::n16();
    let params = Params::new(preset.params.clone()).expect("boot-n16");
    let ckks = Ckks::new(params.clone(), CpuBackend::new());
    let mut kg = ckks.key_generator();
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk).unwrap();
    let keys = BootstrappingKeys::generate(&mut kg, &ckks, &sk, &preset.config, &KeyRequest::new())
        .expect("keys");
    let bs = Bootstrapper::new(&ckks, preset.config.clone(), &keys).expect("bootstrapper");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let v: Vec<Complex64> = (0..preset.config.slots())
        .map(|_| Complex64::new(rng.gen_range(-1.0..=1.0), rng.gen_range(-1.0..=1.0)))
        .collect();
    let pt = ckks.encode(&v, 0, params.default_scale()).expect("encode");
    let ct = ckks.encryptor(&pk).encrypt(&pt).expect("encrypt");
    let feature = std::env::var("AB").unwrap_or_else(|_| "fused".into());
    let set: fn(bool) = match feature.as_str() {
        "fused" => set_fused_enabled,
        "ifma" => set_ifma_enabled,
        // A/A: both sides identical, to see the machine's own spread
        "none" => |_| {},
        other => panic!("AB={other}: expected fused, ifma or none"),
    };
    println!(
        "boot-n16, {} threads, {reps} reps; A = {feature} off, B = {feature} on",
        rayon::current_num_threads()
    );
    let mut side: [Vec<BootstrapTimings>; 2] = [Vec::new(), Vec::new()];
    let mut cpu: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut faults: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut serial: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut outs: [Option<Vec<fhe_dsl::ring::RnsPoly>>; 2] = [None, None];
    for r in 0..reps {
        // alternate which side goes first
        let order = if r % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let on = i == 1;
            set(on);
            let (c0, f0, m0) = usage();
            let (out, t) = bs.bootstrap_timed(&ct).expect("bootstrap");
            let (c1, f1, m1) = usage();
            cpu[i].push(c1 - c0);
            serial[i].push(m1 - m0);
            faults[i].push(f1 - f0);
            side[i].push(t);
            if let Some(prev) = &outs[i] {
                assert!(out.parts() == prev.as_slice(), "side {i} not deterministic");
            }
            outs[i] = Some(out.parts().to_vec());
        }
    }
    assert!(outs[0] == outs[1], "A and B outputs differ");
    println!("A and B outputs are bit-identical");
    type Phase = (&'static str, fn(&BootstrapTimings) -> f64);
    let phases: [Phase; 4] = [
        ("coeff_to_slot", |t| t.coeff_to_slot),
        ("eval_mod", |t| t.eval_mod),
        ("slot_to_coeff", |t| t.slot_to_coeff),
        ("total", |t| t.total),
    ];
    for (name, f) in phases {
        let a = median(side[0].iter().map(f).collect());
        let b = median(side[1].iter().map(f).collect());
        println!("{name:<14} A {a:>8.0} ms | B {b:>8.0} ms | x{:.2}", a / b);
    }
    let (ca, cb) = (median(cpu[0].clone()), median(cpu[1].clone()));
    let (wa, wb) = (
        median(side[0].iter().map(|t| t.total).collect()),
        median(side[1].iter().map(|t| t.total).collect()),
    );
    println!(
        "cpu time       A {ca:>8.0} ms | B {cb:>8.0} ms | x{:.2} (cores busy: A {:.2}, B {:.2})",
        ca / cb,
        ca / wa,
        cb / wb
    );
    println!(
        "serial         A {:>8.0} ms | B {:>8.0} ms (main thread: pool idle)",
        median(serial[0].clone()),
        median(serial[1].clone())
    );
    println!(
        "page faults    A {:>8.0}    | B {:>8.0}    (minor, per bootstrap)",
        median(faults[0].clone()),
        median(faults[1].clone())
    );
}
