//! `fhe bench ops`: per-operation timings at the top level of a parameter preset;
//! `fhe bench bootstrap`: bootstrapping latency, stage breakdown and precision
//! ([`bench_bootstrap`]).

use anyhow::{bail, ensure, Result};
use fhe_dsl::backend::Backend;
use fhe_dsl::circuits::bootstrap::{
    BootstrapPreset, BootstrapTimings, Bootstrapper, BootstrappingKeys,
};
use fhe_dsl::circuits::precision_bits;
use fhe_dsl::ckks::{Ckks, KeyRequest, Params};
use fhe_dsl::math::sampling::uniform_from_seed;
use fhe_dsl::ring::RnsPoly;
use num_complex::Complex64;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::Serialize;
use std::time::Instant;

/// The operations, in report order.
pub const OPS: [&str; 10] = [
    "ntt",
    "encode",
    "encrypt_pk",
    "decrypt",
    "add",
    "mul_plain",
    "hmult_relin",
    "rescale",
    "rotate",
    "hoisted_rotate_8",
];

/// Default number of timed runs of an operation (after one warm-up run).
pub fn default_runs(op: &str) -> usize {
    match op {
        "hoisted_rotate_8" => 5,
        _ => 10,
    }
}

/// One benchmark result; serialises to the JSON line `compare-ops` reads.
#[derive(Clone, Debug, Serialize)]
pub struct Record {
    /// Operation name.
    pub op: String,
    /// Backend name.
    pub backend: String,
    /// Preset name.
    pub params: String,
    /// log2 N.
    pub log_n: u32,
    /// Q primes at the level the op ran at (the top).
    pub limbs_q: usize,
    /// Median over the runs, microseconds.
    pub median_us: f64,
    /// Fastest run, microseconds.
    pub min_us: f64,
    /// Timed runs.
    pub runs: usize,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// Preset name (reported).
    pub params_name: String,
    /// Override of the per-op run count.
    pub runs: Option<usize>,
    /// Subset of [`OPS`] (all when empty).
    pub only: Vec<String>,
}

/// Times `f`: one warm-up call, then `runs` calls; returns (median µs, min µs).
/// `sync` waits for queued device work, so asynchronous backends are timed to completion.
pub fn time_runs(
    runs: usize,
    sync: impl Fn() -> Result<()>,
    mut f: impl FnMut() -> Result<()>,
) -> Result<(f64, f64)> {
    ensure!(runs >= 1, "runs must be at least 1");
    f()?;
    sync()?;
    let mut ts = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        f()?;
        sync()?;
        ts.push(t.elapsed().as_secs_f64() * 1e6);
    }
    ts.sort_by(f64::total_cmp);
    let median = if runs % 2 == 1 {
        ts[runs / 2]
    } else {
        (ts[runs / 2 - 1] + ts[runs / 2]) / 2.0
    };
    Ok((median, ts[0]))
}

/// Runs the benchmark on `backend`, calling `emit` with each record as soon as it is
/// measured and `progress` with human-readable status lines.
pub fn run<B: Backend>(
    params: Params,
    backend: B,
    cfg: &BenchConfig,
    mut emit: impl FnMut(&Record),
    mut progress: impl FnMut(&str),
) -> Result<Vec<Record>> {
    for o in &cfg.only {
        if !OPS.contains(&o.as_str()) {
            bail!("unknown op `{o}` (known: {})", OPS.join(", "));
        }
    }
    if let Some(0) = cfg.runs {
        bail!("--runs must be at least 1");
    }
    let wanted = |op: &str| cfg.only.is_empty() || cfg.only.iter().any(|o| o == op);
    let top = params.max_level();
    let limbs_q = params.limbs_at(top);
    let ckks = Ckks::new(params.clone(), backend);
    let backend_name = ckks.backend().name().to_string();
    let ctx = params.ring().clone();

    progress(&format!(
        "bench ops: {} ({}), backend {backend_name}: generating keys (relin + rotations 1..=8)",
        cfg.params_name,
        params.summary()
    ));
    let mut kg = ckks.key_generator();
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk)?;
    let evk = kg.evaluation_keys(&sk, &KeyRequest::new().relin().rotations(1..=8))?;
    let eval = ckks.evaluator(&evk)?;
    let enc = ckks.encryptor(&pk);
    let dec = ckks.decryptor(&sk);

    let slots = params.max_slots();
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut vec = || -> Vec<f64> { (0..slots).map(|_| rng.gen_range(-1.0..=1.0)).collect() };
    let (x, y) = (vec(), vec());
    let px = ckks.encode_real(&x, top, params.default_scale())?;
    let py = ckks.encode_real(&y, top, params.default_scale())?;
    let cx = enc.encrypt(&px)?;
    let cy = enc.encrypt(&py)?;
    let prod = eval.mul_relin_new(&cx, &cy)?;
    // a full-level polynomial for the NTT
    let q_primes = params.q_primes_at(top);
    let mut host = RnsPoly::zero(ctx.n(), &q_primes);
    let moduli: Vec<_> = q_primes.iter().map(|&i| *ctx.modulus(i)).collect();
    uniform_from_seed(&[7; 32], 0, &moduli, ctx.n(), &mut host.data);
    let mut ntt_poly = ckks.backend().upload(&ctx, host)?;

    // correctness spot check so a broken build cannot report fast nonsense
    let check = dec.decrypt_real(&eval.rescale_new(&prod)?)?;
    let err = check
        .iter()
        .zip(x.iter().zip(&y))
        .map(|(g, (a, b))| (g - a * b).abs())
        .fold(0.0, f64::max);
    ensure!(
        err < 1e-6,
        "spot check failed: x·y decrypts with error {err:e}"
    );

    let steps8: Vec<i64> = (1..=8).collect();
    let mut out = Vec::new();
    for op in OPS.iter().copied().filter(|op| wanted(op)) {
        let runs = cfg.runs.unwrap_or_else(|| default_runs(op));
        progress(&format!("  {op} ({runs} runs)"));
        let be = ckks.backend();
        let sync = || be.synchronize().map_err(anyhow::Error::from);
        let (median_us, min_us) = match op {
            "ntt" => time_runs(runs, sync, || {
                be.ntt(&ctx, &mut ntt_poly).map_err(Into::into)
            })?,
            // a full-slot vector at the top level, as each weight diagonal of a layer is
            "encode" => time_runs(runs, sync, || {
                ckks.encode_real(&x, top, params.default_scale())
                    .map(drop)
                    .map_err(Into::into)
            })?,
            "encrypt_pk" => time_runs(runs, sync, || {
                enc.encrypt(&px).map(drop).map_err(Into::into)
            })?,
            "decrypt" => time_runs(runs, sync, || {
                dec.decrypt_real(&cx).map(drop).map_err(Into::into)
            })?,
            "add" => time_runs(runs, sync, || {
                eval.add_new(&cx, &cy).map(drop).map_err(Into::into)
            })?,
            "mul_plain" => time_runs(runs, sync, || {
                eval.mul_plain_new(&cx, &py).map(drop).map_err(Into::into)
            })?,
            "hmult_relin" => time_runs(runs, sync, || {
                eval.mul_relin_new(&cx, &cy).map(drop).map_err(Into::into)
            })?,
            "rescale" => time_runs(runs, sync, || {
                eval.rescale_new(&prod).map(drop).map_err(Into::into)
            })?,
            "rotate" => time_runs(runs, sync, || {
                eval.rotate_new(&cx, 5).map(drop).map_err(Into::into)
            })?,
            "hoisted_rotate_8" => time_runs(runs, sync, || {
                eval.rotate_hoisted_new(&cx, &steps8)
                    .map(drop)
                    .map_err(Into::into)
            })?,
            other => bail!("internal: no timer for op `{other}`"),
        };
        let rec = Record {
            op: op.to_string(),
            backend: backend_name.clone(),
            params: cfg.params_name.clone(),
            log_n: params.log_n(),
            limbs_q,
            median_us,
            min_us,
            runs,
        };
        emit(&rec);
        out.push(rec);
    }
    Ok(out)
}

/// The readable table.
pub fn table(records: &[Record]) -> String {
    let mut s = String::new();
    if let Some(r) = records.first() {
        s.push_str(&format!(
            "backend {}, params {} (N = 2^{}, {} Q limbs), top level\n",
            r.backend, r.params, r.log_n, r.limbs_q
        ));
    }
    s.push_str(&format!(
        "{:<18}{:>14}{:>14}{:>6}\n",
        "op", "median ms", "min ms", "runs"
    ));
    for r in records {
        s.push_str(&format!(
            "{:<18}{:>14.3}{:>14.3}{:>6}\n",
            r.op,
            r.median_us / 1e3,
            r.min_us / 1e3,
            r.runs
        ));
    }
    s
}

/// Runs one untimed warm-up and then `runs` timed bootstrappings of a fresh encryption of
/// uniform `[-1, 1]` complex values
/// and returns the JSON object the `fhe bench bootstrap` command prints (`op`, `backend`,
/// `params`, `log_n`, `slots`, `median_ms`, `min_ms`, `runs`, `precision_bits_mean`,
/// `precision_bits_min`, `levels_after`, `keygen_ms`, `breakdown_ms`, `key_bytes`).
pub fn bench_bootstrap<B: Backend>(
    preset: &BootstrapPreset,
    backend: B,
    runs: usize,
    allow_insecure: bool,
) -> fhe_dsl::Result<serde_json::Value> {
    let params = if allow_insecure {
        Params::new_insecure_for_tests(preset.params.clone())?
    } else {
        Params::new(preset.params.clone())?
    };
    let ckks = Ckks::new(params.clone(), backend);
    let t = Instant::now();
    let mut kg = ckks.key_generator();
    let sk = kg.secret_key();
    let pk = kg.public_key(&sk)?;
    let keys =
        BootstrappingKeys::generate(&mut kg, &ckks, &sk, &preset.config, &KeyRequest::new())?;
    let keygen_ms = t.elapsed().as_secs_f64() * 1e3;
    let bs = Bootstrapper::new(&ckks, preset.config.clone(), &keys)?;
    let slots = preset.config.slots();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let v: Vec<Complex64> = (0..slots)
        .map(|_| Complex64::new(rng.gen_range(-1.0..=1.0), rng.gen_range(-1.0..=1.0)))
        .collect();
    let pt = ckks.encode(&v, 0, params.default_scale())?;
    let ct = ckks.encryptor(&pk).encrypt(&pt)?;
    let dec = ckks.decryptor(&sk);
    let mut times = Vec::new();
    let mut breakdown = Vec::new();
    let (mut pmean, mut pmin) = (f64::INFINITY, f64::INFINITY);
    let mut levels_after = 0;
    // one untimed warm-up first (its precision counts): the first bootstrap of a
    // process pays the first touch of its working memory (~0.7 GB of page faults at
    // boot-n16), as OpenFHE's in the peer script pays its own warm-up
    for run in 0..=runs.max(1) {
        let (out, tm) = bs.bootstrap_timed(&ct)?;
        if run > 0 {
            times.push(tm.total);
            breakdown.push(tm);
        }
        let got = dec.decrypt_complex(&out)?;
        let (mn, me) = precision_bits(&got, &v);
        pmin = pmin.min(mn);
        pmean = pmean.min(me);
        levels_after = out.level();
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let med = |f: fn(&BootstrapTimings) -> f64| {
        let mut v: Vec<f64> = breakdown.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Ok(serde_json::json!({
        "op": "bootstrap",
        "backend": ckks.backend().name(),
        "params": preset.name,
        "log_n": params.log_n(),
        "slots": slots,
        "median_ms": median,
        "min_ms": sorted[0],
        "runs": times.len(),
        "precision_bits_mean": pmean,
        "precision_bits_min": pmin,
        "levels_after": levels_after,
        "keygen_ms": keygen_ms,
        "breakdown_ms": {
            "mod_raise": med(|t| t.mod_raise),
            "coeff_to_slot": med(|t| t.coeff_to_slot),
            "eval_mod": med(|t| t.eval_mod),
            "slot_to_coeff": med(|t| t.slot_to_coeff),
        },
        "key_bytes": keys.byte_size(),
    }))
}

/// A readable table of a `bench bootstrap` JSON object.
pub fn bootstrap_table(v: &serde_json::Value) -> String {
    let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    let b = |k: &str| v["breakdown_ms"][k].as_f64().unwrap_or(f64::NAN);
    let mut s = String::new();
    s += &format!(
        "bootstrap: backend {}, params {} (N = 2^{}, {} slots), {} runs\n",
        v["backend"].as_str().unwrap_or("?"),
        v["params"].as_str().unwrap_or("?"),
        v["log_n"],
        v["slots"],
        v["runs"]
    );
    s += &format!(
        "{:<24}{:>12}\n",
        "latency median",
        format!("{:.2} s", f("median_ms") / 1e3)
    );
    s += &format!(
        "{:<24}{:>12}\n",
        "latency min",
        format!("{:.2} s", f("min_ms") / 1e3)
    );
    for k in ["mod_raise", "coeff_to_slot", "eval_mod", "slot_to_coeff"] {
        if v["breakdown_ms"].get(k).is_some() {
            s += &format!(
                "{:<24}{:>12}\n",
                format!("  {k}"),
                format!("{:.2} s", b(k) / 1e3)
            );
        }
    }
    s += &format!(
        "{:<24}{:>12}\n",
        "precision mean",
        format!("{:.1} bits", f("precision_bits_mean"))
    );
    s += &format!(
        "{:<24}{:>12}\n",
        "precision min",
        format!("{:.1} bits", f("precision_bits_min"))
    );
    s += &format!(
        "{:<24}{:>12}\n",
        "levels after",
        v["levels_after"].to_string()
    );
    s += &format!(
        "{:<24}{:>12}\n",
        "key generation",
        format!("{:.2} s", f("keygen_ms") / 1e3)
    );
    s += &format!(
        "{:<24}{:>12}\n",
        "key bytes",
        format!("{:.2} GB", f("key_bytes") / 1e9)
    );
    s
}
