//! The [`Bootstrapper`]: scale-up, encapsulation, ModRaise, CoeffToSlot, EvalMod and
//! SlotToCoeff on a ciphertext (the pipeline of the
//! [module docs](crate::circuits::bootstrap)), and the time each stage takes
//! ([`BootstrapTimings`]).

use super::config::BootstrapConfig;
use super::dft::{group_sizes, Stage, TransformStorage, Transforms};
use super::keys::{BootstrappingKeys, EncapsulationKey};
use crate::backend::Backend;
use crate::circuits::polynomial::evaluate_chebyshev_unit;
use crate::circuits::{add_integer_raw, mul_integer_raw};
use crate::ckks::{Ciphertext, Ckks, DeviceSwitchingKey, Evaluator, SecretKey, SwitchingKey};
use crate::error::{Error, Result};
use crate::ring::RnsPoly;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Wall-clock time of each stage of one bootstrapping, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BootstrapTimings {
    /// Scale-up, encapsulation, ModRaise, switch back, trace.
    pub mod_raise: f64,
    /// CoeffToSlot including the conjugate split.
    pub coeff_to_slot: f64,
    /// EvalMod (both halves for full slots).
    pub eval_mod: f64,
    /// SlotToCoeff including the recombination.
    pub slot_to_coeff: f64,
    /// Total.
    pub total: f64,
}

/// A bootstrapper built from parameters, a configuration and keys. See the
/// [module docs](crate::circuits::bootstrap).
pub struct Bootstrapper<B: Backend> {
    ckks: Ckks<B>,
    eval: Evaluator<B>,
    config: BootstrapConfig,
    cts: Vec<Stage<B>>,
    stc: Vec<Stage<B>>,
    trace_steps: Vec<i64>,
    sine: Vec<f64>,
    arcsine: Option<Vec<f64>>,
    eval_mod_depth: usize,
    to_sparse: (B::Poly, B::Poly),
    from_sparse: DeviceSwitchingKey<B>,
    /// NTT form of X^{N/2} over every Q prime (multiplies slots by i).
    monomial_i: B::Poly,
    check: Option<B::Poly>,
    /// log2 of the factor by which EvalMod's output scale exceeds Δ.
    boost_log: f64,
}

impl<B: Backend> Bootstrapper<B> {
    /// Builds the bootstrapper: validates the configuration, uploads the keys and
    /// encodes the CoeffToSlot/SlotToCoeff diagonals at their levels.
    pub fn new(ckks: &Ckks<B>, config: BootstrapConfig, keys: &BootstrappingKeys) -> Result<Self> {
        config.validate(ckks.params())?;
        let eval = ckks.evaluator(&keys.evk)?;
        Self::with_evaluator(
            ckks,
            config,
            eval,
            &keys.to_sparse,
            &keys.from_sparse,
            TransformStorage::Precomputed,
        )
    }

    /// Like [`new`](Self::new), consuming the keys so that their seeded copies are
    /// dropped as they are uploaded (a server's peak memory is then the uploaded keys).
    /// `storage` chooses whether the CoeffToSlot/SlotToCoeff diagonals are encoded once
    /// or per bootstrap.
    pub fn from_keys(
        ckks: &Ckks<B>,
        config: BootstrapConfig,
        keys: BootstrappingKeys,
        storage: TransformStorage,
    ) -> Result<Self> {
        config.validate(ckks.params())?;
        let BootstrappingKeys {
            evk,
            to_sparse,
            from_sparse,
        } = keys;
        let eval = ckks.evaluator_from(evk)?;
        Self::with_evaluator(ckks, config, eval, &to_sparse, &from_sparse, storage)
    }

    fn with_evaluator(
        ckks: &Ckks<B>,
        config: BootstrapConfig,
        eval: Evaluator<B>,
        to_sparse: &EncapsulationKey,
        from_sparse: &SwitchingKey,
        storage: TransformStorage,
    ) -> Result<Self> {
        let params = ckks.params().clone();
        for k in config.rotations(&params)? {
            if !eval.has_rotation_key(k) {
                return Err(Error::MissingKey(format!(
                    "rotation key for step {k} (needed by bootstrapping)"
                )));
            }
        }
        let t = Transforms::new(&config, &params)?;
        let top = params.max_level();
        let cts = t
            .cts
            .into_iter()
            .enumerate()
            .map(|(i, lt)| {
                let level = top - i;
                Stage::new(ckks, lt, level, params.rescale_divisor(level), storage)
            })
            .collect::<Result<Vec<_>>>()?;
        let poly = config.eval_mod_poly()?;
        let arcsine = config.arcsine_poly()?.map(|p| p.coeffs);
        let eval_mod_depth = config.eval_mod_depth()?;
        let stc_top = top - config.cts_levels - eval_mod_depth;
        // EvalMod outputs the coefficients (≈ 2^{-log_slots/2} of the slot values) at the
        // raised scale Δ·2^c, c ≈ log_slots/2 + 2, so the noise SlotToCoeff adds is not
        // amplified by the DFT gain; each stage gives back its share of 2^c.
        let boost_log = (config.log_slots as f64 / 2.0).ceil() + 2.0;
        let sizes = group_sizes(config.log_slots as usize, config.stc_levels);
        let stc = t
            .stc
            .into_iter()
            .zip(&sizes)
            .enumerate()
            .map(|(i, (lt, &layers))| {
                let give = boost_log * layers as f64 / config.log_slots as f64;
                let q = params.rescale_divisor(stc_top - i);
                Stage::new(ckks, lt, stc_top - i, q / 2f64.powf(give), storage)
            })
            .collect::<Result<Vec<_>>>()?;
        let (be, ctx) = (ckks.backend(), params.ring());
        let pa = ctx.p_indices().start;
        let key = to_sparse;
        if key.b.primes != [0, pa] || key.b.n != params.n() {
            return Err(Error::ParamsMismatch(
                "encapsulation key was generated for other parameters".into(),
            ));
        }
        let to_sparse = (
            be.upload(ctx, key.b.clone())?,
            ckks.uniform(&key.seed, 0, &[0, pa])?,
        );
        let from_sparse = eval.upload_switching_key(from_sparse)?;
        let q = params.q_primes_at(top);
        let mut mono = RnsPoly::zero(params.n(), &q);
        for i in 0..q.len() {
            mono.limb_mut(i)[params.n() / 2] = 1;
        }
        let mut monomial_i = be.upload(ctx, mono)?;
        be.ntt(ctx, &mut monomial_i)?;
        Ok(Bootstrapper {
            ckks: ckks.clone(),
            eval,
            config,
            cts,
            stc,
            trace_steps: t.trace_steps,
            sine: poly.coeffs,
            arcsine,
            eval_mod_depth,
            to_sparse,
            from_sparse,
            monomial_i,
            check: None,
            boost_log,
        })
    }

    /// Enables the debug range check: every bootstrap decrypts the raised ciphertext
    /// with `sk` and returns an error naming the fitted range when `|I| > K` or the
    /// message is too large for the sine approximation. Slow (one decryption); for
    /// debugging and simulation runs, never in production (it holds the secret key).
    pub fn with_range_check(mut self, sk: &SecretKey) -> Result<Self> {
        self.check = Some(self.ckks.small_to_ntt(&sk.coeffs, &[0, 1])?);
        Ok(self)
    }

    /// The evaluator holding the bootstrapping keys (and any extra keys requested).
    pub fn evaluator(&self) -> &Evaluator<B> {
        &self.eval
    }

    /// The configuration.
    pub fn config(&self) -> &BootstrapConfig {
        &self.config
    }

    /// Level of bootstrapped ciphertexts.
    pub fn output_level(&self) -> usize {
        self.ckks.params().max_level()
            - self.config.cts_levels
            - self.eval_mod_depth
            - self.config.stc_levels
    }

    /// Refreshes a ciphertext: same message (up to the bootstrapping error) at
    /// [`output_level`](Self::output_level) and the default scale.
    pub fn bootstrap(&self, ct: &Ciphertext<B>) -> Result<Ciphertext<B>> {
        Ok(self.bootstrap_timed(ct)?.0)
    }

    /// Bootstraps two real-valued ciphertexts with one bootstrap: `a + i·b` is refreshed
    /// and split again with one conjugation, `a = (z + z̄)/2`, `b = −i(z − z̄)/2` — the
    /// halving is exact bookkeeping (the outputs carry twice the usual scale) and the
    /// multiplications by `±i` are monomial products, so no level is spent beyond the
    /// bootstrap's. Both inputs must hold real values (any imaginary part leaks into
    /// the other output) at the same scale; the higher one is dropped to the other's
    /// level.
    pub fn bootstrap_two_real(
        &self,
        a: &Ciphertext<B>,
        b: &Ciphertext<B>,
    ) -> Result<(Ciphertext<B>, Ciphertext<B>)> {
        if a.slots != b.slots {
            return Err(Error::InvalidInput(format!(
                "bootstrap_two_real: {} and {} slots",
                a.slots, b.slots
            )));
        }
        if (a.scale / b.scale - 1.0).abs() > 1e-9 {
            return Err(Error::ScaleMismatch {
                op: "bootstrap_two_real",
                left: a.scale,
                right: b.scale,
            });
        }
        let (mut a, mut b) = (a.clone(), b.clone());
        let level = a.level.min(b.level);
        for x in [&mut a, &mut b] {
            let d = x.level - level;
            if d > 0 {
                self.eval.drop_level_assign(x, d)?;
            }
        }
        b.scale = a.scale;
        self.mul_by_i(&mut b)?;
        let z = self.bootstrap(&self.eval.add_new(&a, &b)?)?;
        let zc = self.eval.conjugate_new(&z)?;
        let mut re = self.eval.add_new(&z, &zc)?;
        re.scale *= 2.0;
        let mut im = self.eval.sub_new(&z, &zc)?;
        self.mul_by_i(&mut im)?;
        self.eval.neg_assign(&mut im)?;
        im.scale *= 2.0;
        Ok((re, im))
    }

    /// [`bootstrap`](Self::bootstrap) with the time of each stage.
    pub fn bootstrap_timed(&self, ct: &Ciphertext<B>) -> Result<(Ciphertext<B>, BootstrapTimings)> {
        let t0 = Instant::now();
        let params = self.ckks.params();
        let n = self.config.slots();
        if ct.degree() != 1 {
            return Err(Error::Degree {
                op: "bootstrap",
                expected: 1,
                found: ct.degree(),
            });
        }
        if ct.slots > n {
            return Err(Error::InvalidInput(format!(
                "bootstrapper is configured for {n} slots, ciphertext has {}",
                ct.slots
            )));
        }
        let out_slots = ct.slots;
        let raised = self.mod_raise(ct)?;
        // asynchronous backends (GPU) are timed to completion of each stage
        self.ckks.backend().synchronize()?;
        let t1 = Instant::now();
        // CoeffToSlot
        let mut x = raised;
        for lt in &self.cts {
            x = lt.apply(&self.eval, &x)?;
        }
        let conj = self.eval.conjugate_new(&x)?;
        let halves = if n < params.max_slots() {
            let mut y = self.eval.add_new(&x, &conj)?;
            y.slots = 2 * n;
            vec![y]
        } else {
            let re = self.eval.add_new(&x, &conj)?;
            let mut im = self.eval.sub_new(&x, &conj)?;
            self.mul_by_i(&mut im)?;
            self.eval.neg_assign(&mut im)?;
            vec![re, im]
        };
        self.ckks.backend().synchronize()?;
        let t2 = Instant::now();
        // EvalMod: sin(2π(K+½)y)/(2π) ≈ Δ'm/q0; asking for scale Δ·q0/Δ' makes the raw
        // value Δ·m, i.e. the message m at the default scale Δ.
        let delta = params.default_scale() * 2f64.powf(self.boost_log);
        let in_scale = halves[0].scale; // = q0 (set at ModRaise)
        let target = delta * in_scale / self.message_scale(ct.scale);
        let mut modded = Vec::with_capacity(halves.len());
        for h in &halves {
            let mut r = match &self.arcsine {
                None if self.config.double_angle > 0 => self.cos_double_angle(h, target)?,
                None => evaluate_chebyshev_unit(&self.eval, h, &self.sine, target)?,
                Some(asin) => {
                    let s = evaluate_chebyshev_unit(&self.eval, h, &self.sine, in_scale)?;
                    evaluate_chebyshev_unit(&self.eval, &s, asin, target)?
                }
            };
            r.scale = delta;
            modded.push(r);
        }
        self.ckks.backend().synchronize()?;
        let t3 = Instant::now();
        // SlotToCoeff
        let mut y = if modded.len() == 2 {
            let mut im = modded.pop().expect("two halves");
            self.mul_by_i(&mut im)?;
            let mut re = modded.pop().expect("two halves");
            self.eval.add_assign(&mut re, &im)?;
            re
        } else {
            modded.pop().expect("one")
        };
        for lt in &self.stc {
            y = lt.apply(&self.eval, &y)?;
            y.slots = n;
        }
        y.slots = out_slots;
        y.scale = params.default_scale();
        self.ckks.backend().synchronize()?;
        let t4 = Instant::now();
        let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
        Ok((
            y,
            BootstrapTimings {
                mod_raise: ms(t0, t1),
                coeff_to_slot: ms(t1, t2),
                eval_mod: ms(t2, t3),
                slot_to_coeff: ms(t3, t4),
                total: ms(t0, t4),
            },
        ))
    }

    /// The integer ScaleUp factor and the resulting message scale Δ' for input scale `s`.
    fn scale_up(&self, s: f64) -> f64 {
        let q0 = self.ckks.params().q()[0] as f64;
        let r = 2f64.powi(self.config.log_message_ratio as i32);
        (q0 / (r * s)).floor().max(1.0)
    }

    /// EvalMod by double angles: the cosine interpolant, then `r` times
    /// `c ← 2c² − 1`, the last step folding in the `1/(2π)`, so the result is
    /// `sin(2πt)/(2π)` at exactly `target`. Scales are chosen backwards from `target`
    /// so that each square lands where the next step needs it with no constant
    /// multiplication: step `i` squares at scale `s_i` and rescales by `q_i`,
    /// `s_i = √(2 q_i s_{i+1})`, and the last `s = √(target · q / π)`.
    fn cos_double_angle(&self, h: &Ciphertext<B>, target: f64) -> Result<Ciphertext<B>> {
        let params = self.ckks.params();
        let r = self.config.double_angle;
        let pi = std::f64::consts::PI;
        let cheb_depth = self.eval_mod_depth - r;
        if h.level < cheb_depth + r {
            return Err(Error::LevelTooLow {
                op: "EvalMod (double angle)",
                needed: cheb_depth + r,
                level: h.level,
            });
        }
        let out0 = h.level - cheb_depth;
        let mut scales = vec![target; r + 1];
        for i in (0..r).rev() {
            let q = params.rescale_divisor(out0 - i);
            scales[i] = if i == r - 1 {
                (target * q / pi).sqrt()
            } else {
                (2.0 * q * scales[i + 1]).sqrt()
            };
        }
        let mut c = evaluate_chebyshev_unit(&self.eval, h, &self.sine, scales[0])?;
        for i in 0..r {
            let s = c.scale;
            let mut p = self.eval.mul_new(&c, &c)?;
            // raw s²c² − s²/2: the value 2c² − 1 at scale s²/2, or on the last step
            // (2c² − 1)/(2π) at scale π s²
            add_integer_raw(&self.eval, &mut p, -(s * s / 2.0).round())?;
            p.scale = if i + 1 == r { pi * s * s } else { s * s / 2.0 };
            self.eval.relinearize_rescale_assign(&mut p)?;
            c = p;
        }
        // equal up to rounding
        c.scale = target;
        Ok(c)
    }

    fn message_scale(&self, s: f64) -> f64 {
        s * self.scale_up(s)
    }

    fn mul_by_i(&self, ct: &mut Ciphertext<B>) -> Result<()> {
        let ctx = self.ckks.params().ring();
        for p in &mut ct.parts {
            self.ckks.backend().mul_assign(ctx, p, &self.monomial_i)?;
        }
        Ok(())
    }

    /// Scale-up, encapsulation, ModRaise, switch back, trace; optional range check.
    fn mod_raise(&self, ct: &Ciphertext<B>) -> Result<Ciphertext<B>> {
        let params = self.ckks.params();
        let (be, ctx) = (self.ckks.backend(), params.ring());
        let mut c = ct.clone();
        if c.level > 0 {
            let d = c.level;
            self.eval.drop_level_assign(&mut c, d)?;
        }
        let k = self.scale_up(c.scale);
        if k > 1.0 {
            mul_integer_raw(&self.eval, &mut c, k)?;
        }
        // dense → sparse at level 0, key modulo q0·p
        let pa = ctx.p_indices().start;
        let c1 = &c.parts[1];
        let mut coeff = c1.clone();
        be.intt(ctx, &mut coeff)?;
        let mut raised = be.base_convert(ctx, &coeff, &[pa])?;
        be.ntt(ctx, &mut raised)?;
        let full = be.concat(ctx, c1, &raised)?;
        let mut u0 = full.clone();
        be.mul_assign(ctx, &mut u0, &self.to_sparse.0)?;
        let mut u1 = full;
        be.mul_assign(ctx, &mut u1, &self.to_sparse.1)?;
        be.div_round_by_tail(ctx, &mut u0, 1)?;
        be.div_round_by_tail(ctx, &mut u1, 1)?;
        be.add_assign(ctx, &mut u0, &c.parts[0])?;
        // ModRaise
        let top = params.max_level();
        let q = params.q_primes_at(top);
        let r0 = be.mod_raise(ctx, &u0, &q)?;
        let r1 = be.mod_raise(ctx, &u1, &q)?;
        let sparse_ct = Ciphertext {
            parts: vec![r0, r1],
            level: top,
            scale: params.q()[0] as f64,
            slots: c.slots,
        };
        let mut x = self.eval.switch_key_new(&sparse_ct, &self.from_sparse)?;
        if let Some(s) = &self.check {
            self.range_check(&x, s, c.scale * k)?;
        }
        // trace onto the coefficients of Y = X^{N/2n}
        for &step in &self.trace_steps {
            let r = self.eval.rotate_new(&x, step)?;
            self.eval.add_assign(&mut x, &r)?;
        }
        x.slots = self.config.slots();
        Ok(x)
    }

    fn range_check(&self, x: &Ciphertext<B>, s: &B::Poly, msg_scale: f64) -> Result<()> {
        let params = self.ckks.params();
        let (be, ctx) = (self.ckks.backend(), params.ring());
        let primes = [0usize, 1];
        let mut acc = be.select(ctx, &x.parts[1], &primes)?;
        be.mul_assign(ctx, &mut acc, s)?;
        be.add_assign(ctx, &mut acc, &x.parts[0])?;
        be.intt(ctx, &mut acc)?;
        let host = be.download(ctx, &acc)?;
        let q0 = params.q()[0] as f64;
        let (mut max_i, mut max_frac) = (0.0f64, 0.0f64);
        for k in 0..params.n() {
            let t = num_traits::ToPrimitive::to_f64(&ctx.crt_coeff(&host, k)).unwrap_or(f64::NAN);
            let v = t / q0;
            let i = v.round();
            max_i = max_i.max(i.abs());
            max_frac = max_frac.max((v - i).abs());
        }
        let kk = self.config.k as f64;
        if max_i.is_nan() || max_i > kk {
            return Err(Error::InvalidInput(format!(
                "bootstrapping range check: ModRaise produced |I| = {max_i}, outside the \
                 range [-{kk}, {kk}] the EvalMod polynomial was fitted for (interval \
                 [-{0}, {0}] in units of q0); raise `k` or lower the sparse Hamming weight",
                kk + 0.5
            )));
        }
        // message coefficients: |Δ'm/q0| must stay small for sin(2πx)/2π ≈ x
        let bound = self.config.message_bound();
        if max_frac.is_nan() || max_frac > bound {
            return Err(Error::InvalidInput(format!(
                "bootstrapping range check: the message reaches at least {:.3e}·q0 (coefficient \
                 magnitude {:.3} at scale 2^{:.1}), beyond the supported range ±{bound:.3e}·q0 \
                 (coefficients of magnitude ≤ 4; keep slot values within about [-1, 1])",
                max_frac,
                max_frac * q0 / msg_scale,
                msg_scale.log2()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::reference::ReferenceBackend;
    use crate::circuits::bootstrap::BootstrapPreset;
    use crate::ckks::{KeyGenerator, KeyRequest, Params};
    use num_complex::Complex64;

    fn run_tiny(log_slots: u32) -> (f64, f64) {
        run_tiny_with(log_slots, |_| {})
    }

    fn run_tiny_with(log_slots: u32, edit: impl Fn(&mut BootstrapConfig)) -> (f64, f64) {
        let preset = BootstrapPreset::test_tiny();
        let params = Params::new_insecure_for_tests(preset.params).unwrap();
        let mut cfg = preset.config;
        cfg.log_slots = log_slots;
        edit(&mut cfg);
        let ckks = Ckks::new(params.clone(), ReferenceBackend);
        let mut kg = KeyGenerator::from_seed(&ckks, 11);
        let sk = kg.secret_key();
        let pk = kg.public_key(&sk).unwrap();
        let keys =
            BootstrappingKeys::generate(&mut kg, &ckks, &sk, &cfg, &KeyRequest::new()).unwrap();
        let bs = Bootstrapper::new(&ckks, cfg.clone(), &keys)
            .unwrap()
            .with_range_check(&sk)
            .unwrap();
        let n = cfg.slots();
        let v: Vec<Complex64> = (0..n)
            .map(|i| {
                Complex64::new(
                    ((i * 7919) % 1000) as f64 / 500.0 - 1.0,
                    ((i * 104729) % 997) as f64 / 498.5 - 1.0,
                )
            })
            .collect();
        let ct = ckks
            .encryptor(&pk)
            .encrypt(&ckks.encode(&v, 0, params.default_scale()).unwrap())
            .unwrap();
        let out = bs.bootstrap(&ct).unwrap();
        assert_eq!(out.level(), bs.output_level());
        assert_eq!(out.scale(), params.default_scale());
        let got = ckks.decryptor(&sk).decrypt_complex(&out).unwrap();
        let p = crate::circuits::precision_bits(&got, &v);
        eprintln!(
            "tiny bootstrap, {n} slots: min {:.1} mean {:.1} bits",
            p.0, p.1
        );
        p
    }

    #[test]
    fn bootstrap_full_slots_reference_backend() {
        let (min, mean) = run_tiny(9);
        assert!(
            min > 18.0 && mean > 22.0,
            "full slots: min {min:.1} mean {mean:.1} bits"
        );
    }

    #[test]
    fn bootstrap_double_angle_reference_backend() {
        let (min, mean) = run_tiny_with(9, |c| {
            c.double_angle = 3;
            c.sine_degree = 31;
            c.arcsine_degree = 0;
        });
        // as precise as the direct sine without arcsine correction (measured: both
        // 21.3 min / 22.5 mean bits): the approximation is not what limits it
        let (smin, smean) = run_tiny_with(9, |c| c.arcsine_degree = 0);
        assert!(
            (mean - smean).abs() < 0.5 && min > smin - 0.5,
            "double angle: min {min:.1} mean {mean:.1} bits; sine: {smin:.1} / {smean:.1}"
        );
        assert!(mean > 21.0, "double angle: mean {mean:.1} bits");
    }

    #[test]
    fn bootstrap_sparse_slots_reference_backend() {
        let (min, mean) = run_tiny(4);
        assert!(
            min > 18.0 && mean > 22.0,
            "sparse slots: min {min:.1} mean {mean:.1} bits"
        );
    }
}
