//! Device timings of the GPU backend at a parameter preset (default `bench-a`), measured
//! with CUDA events after warm-up, median of `RUNS` (default 20) runs; one JSON object per
//! line in the shape of `fhe bench ops --format json`. Exits 0 with a message when there is
//! no GPU.
//!
//! `cargo run --release -p fhe-backend-gpu --example gpu_timing -- [preset] [runs]`
//! (`-- --probe`: only check that the backend starts; exit code 3 when it cannot;
//! `FHE_GPU_PROFILE=1 ... -- profile-bootstrap`: device time per primitive of one boot-n16
//! bootstrap after a warm-up)

use fhe_backend_gpu::GpuBackend;
use fhe_dsl::backend::Backend;
use fhe_dsl::ckks::{Ckks, KeyRequest, Params, ParamsLiteral};
use fhe_dsl::conformance::random_poly;

fn median(mut v: Vec<f32>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2] as f64
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let preset = args.next().unwrap_or_else(|| "bench-a".into());
    // `--source`: the CUDA program as NVRTC compiles it (for nvcc's resource report)
    if preset == "--source" {
        print!("{}", fhe_backend_gpu::kernels::full_source());
        return Ok(());
    }
    // `--probe`: only say whether the backend can start here (exit 3 when it cannot)
    if preset == "--probe" {
        match GpuBackend::new() {
            Ok(g) => {
                println!(
                    "gpu_timing: GPU backend on {} ({})",
                    g.device_name(),
                    g.arch()
                );
                return Ok(());
            }
            Err(e) => {
                eprintln!("gpu_timing: no GPU: {e}");
                std::process::exit(3);
            }
        }
    }
    let runs: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(20);
    let gpu = match GpuBackend::new() {
        Ok(g) => g,
        Err(e) => {
            eprintln!("gpu_timing: no GPU: {e}");
            return Ok(());
        }
    };
    eprintln!("device {} ({})", gpu.device_name(), gpu.arch());
    if preset == "profile-bootstrap" {
        return profile_bootstrap(&gpu);
    }
    let params = Params::new(ParamsLiteral::preset(&preset)?)?;
    let ctx = params.ring().clone();
    let ckks = Ckks::new(params.clone(), gpu.clone());
    let top = params.max_level();
    let emit = |op: &str, us: f64| {
        println!(
            "{{\"op\":\"{op}\",\"backend\":\"gpu\",\"device\":\"{}\",\"params\":\"{preset}\",\"median_us\":{us:.1},\"runs\":{runs}}}",
            gpu.device_name()
        );
    };
    let time = |f: &mut dyn FnMut()| -> Result<f64, Box<dyn std::error::Error>> {
        for _ in 0..3 {
            f();
        }
        let mut v = Vec::with_capacity(runs);
        for _ in 0..runs {
            v.push(gpu.time_ms(&mut *f)?);
        }
        Ok(median(v) * 1000.0)
    };

    // NTT of one polynomial over the top-level Q primes
    let q: Vec<usize> = (0..params.limbs_at(top)).collect();
    let mut x = gpu.upload(&ctx, random_poly(&ctx, &q, 1))?;
    emit(
        &format!("ntt_{}limbs", q.len()),
        time(&mut || gpu.ntt(&ctx, &mut x).unwrap())?,
    );
    emit(
        &format!("intt_{}limbs", q.len()),
        time(&mut || gpu.intt(&ctx, &mut x).unwrap())?,
    );

    let (free0, _) = gpu.mem_info()?;
    let mut kg = ckks.key_generator();
    let sk = kg.secret_key();
    let evk = kg.evaluation_keys(&sk, &KeyRequest::new().relin().rotations(1..=8))?;
    let ev = ckks.evaluator(&evk)?;
    gpu.synchronize()?;
    let (free1, _) = gpu.mem_info()?;
    eprintln!(
        "device memory reserved during key generation + evaluator (relin + 8 rotations; an upper bound on the keys, the pool keeps freed blocks): {:.1} MiB",
        free0.saturating_sub(free1) as f64 / (1 << 20) as f64
    );
    let vals: Vec<f64> = (0..params.max_slots())
        .map(|i| (i % 17) as f64 / 17.0)
        .collect();
    let pt = ckks.encode_real(&vals, top, params.default_scale())?;
    let ct = ckks.encryptor_sk(&sk).encrypt(&pt)?;
    let prod = ev.mul_relin_new(&ct, &ct)?;
    emit(
        "hmult_relin",
        time(&mut || {
            ev.mul_relin_new(&ct, &ct).unwrap();
        })?,
    );
    emit(
        "rescale",
        time(&mut || {
            ev.rescale_new(&prod).unwrap();
        })?,
    );
    emit(
        "rotate",
        time(&mut || {
            ev.rotate_new(&ct, 1).unwrap();
        })?,
    );
    let steps: Vec<i64> = (1..=8).collect();
    emit(
        "rotate_8_plain",
        time(&mut || {
            for &k in &steps {
                ev.rotate_new(&ct, k).unwrap();
            }
        })?,
    );
    emit(
        "rotate_8_hoisted",
        time(&mut || {
            ev.rotate_hoisted_new(&ct, &steps).unwrap();
        })?,
    );
    Ok(())
}

/// Device time per backend primitive of one boot-n16 bootstrap (after a warm-up one), as
/// a table and one JSON line.
fn profile_bootstrap(gpu: &GpuBackend) -> Result<(), Box<dyn std::error::Error>> {
    use fhe_dsl::circuits::{BootstrapPreset, Bootstrapper, BootstrappingKeys};
    if !gpu.profiling() {
        return Err("profile-bootstrap needs FHE_GPU_PROFILE=1".into());
    }
    let preset = BootstrapPreset::by_name("boot-n16")?;
    let params = Params::new(preset.params.clone())?;
    let ckks = Ckks::new(params.clone(), gpu.clone());
    let mut kg = ckks.key_generator();
    let sk = kg.secret_key();
    let keys =
        BootstrappingKeys::generate(&mut kg, &ckks, &sk, &preset.config, &KeyRequest::new())?;
    let bs = Bootstrapper::new(&ckks, preset.config.clone(), &keys)?;
    let v: Vec<f64> = (0..preset.config.slots())
        .map(|i| ((i * 7919) % 2001) as f64 / 1000.0 - 1.0)
        .collect();
    let ct = ckks
        .encryptor_sk(&sk)
        .encrypt(&ckks.encode_real(&v, 0, params.default_scale())?)?;
    bs.bootstrap(&ct)?;
    gpu.take_profile();
    let t = std::time::Instant::now();
    bs.bootstrap(&ct)?;
    let wall = t.elapsed().as_secs_f64() * 1e3;
    let prof = gpu.take_profile();
    let total: f64 = prof.iter().map(|p| p.2).sum();
    eprintln!("one boot-n16 bootstrap, profiled: {wall:.1} ms wall (each primitive waited for), {total:.1} ms device");
    eprintln!(
        "{:<20}{:>8}{:>12}{:>8}",
        "primitive", "calls", "device ms", "%"
    );
    let mut json = Vec::new();
    for (name, calls, ms) in &prof {
        eprintln!("{name:<20}{calls:>8}{ms:>12.2}{:>8.1}", 100.0 * ms / total);
        json.push(format!("\"{name}\":{{\"calls\":{calls},\"ms\":{ms:.3}}}"));
    }
    println!(
        "{{\"op\":\"bootstrap_profile\",\"backend\":\"gpu\",\"device\":\"{}\",\"params\":\"boot-n16\",\"wall_ms\":{wall:.1},\"device_ms\":{total:.1},\"primitives\":{{{}}}}}",
        gpu.device_name(),
        json.join(",")
    );
    Ok(())
}
