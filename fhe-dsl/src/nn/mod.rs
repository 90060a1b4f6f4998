//! Encrypted CNN layers on packed tensors ([`Layout`]).
//!
//! Every linear layer (convolution of any stride, 1×1 projection, the classifier) is
//! compiled into a [`LinearTransform`] on the slot vector: a term `out[so] += w·in[si]`
//! lands on diagonal `si − so` (mod the input's period), so the layer costs one level
//! and the rotations of a baby-step / giant-step evaluation, whatever its shape. With the
//! multiplexed layout, a 3×3 convolution has `(input grids) · (2k−1+2k)²`-ish distinct
//! diagonals, and a stride-2 convolution into the next gap is no more expensive than a
//! stride-1 one: no repacking anywhere.
//!
//! Each layer has a plaintext twin on the same slots (`apply_plain`), so a model can be
//! simulated with exactly the packing it will run with.

use crate::backend::Backend;
use crate::circuits::{evaluate_chebyshev, ChebyshevPoly, LinearTransform};
use crate::ckks::{Ciphertext, Evaluator};
use crate::error::{Error, Result};
use crate::tensor::Layout;
use num_complex::Complex64;
use std::collections::BTreeMap;

/// A linear map between packed tensors, ready to run encrypted or in the clear.
#[derive(Clone, Debug)]
pub struct PackedLinear {
    transform: LinearTransform,
    in_period: usize,
    out_period: usize,
    replicate: bool,
}

impl PackedLinear {
    /// The map given by terms `(output slot, input slot, weight)`, slots taken within
    /// the periods. The input must repeat every `in_period` slots; the output repeats
    /// every `out_period`. Terms with the same slots add up.
    pub fn from_terms(
        in_period: usize,
        out_period: usize,
        slots: usize,
        terms: impl IntoIterator<Item = (usize, usize, f64)>,
    ) -> Result<Self> {
        for p in [in_period, out_period] {
            if !p.is_power_of_two() || p > slots {
                return Err(Error::InvalidInput(format!(
                    "period {p} must be a power of two ≤ {slots} slots"
                )));
            }
        }
        // Outputs are written in copies whose start is a multiple of both periods, so a
        // diagonal index depends only on (si − so) mod in_period; when out_period <
        // in_period the missing copies are filled afterwards by rotate-and-add.
        let stride = in_period.max(out_period);
        let half = (in_period / 2) as i64;
        // each diagonal repeats every `stride` slots: stored once (4.6 GB → 0.9 GB of
        // cleartext diagonals for ResNet-20 at 32768 slots)
        let mut diags: BTreeMap<i64, Vec<Complex64>> = BTreeMap::new();
        for (so, si, w) in terms {
            if so >= out_period || si >= in_period {
                return Err(Error::InvalidInput(format!(
                    "term ({so} ← {si}) outside the periods {out_period} / {in_period}"
                )));
            }
            if w == 0.0 {
                continue;
            }
            let mut d = (si as i64 - so as i64).rem_euclid(in_period as i64);
            if d > half {
                d -= in_period as i64;
            }
            let v = diags
                .entry(d)
                .or_insert_with(|| vec![Complex64::new(0.0, 0.0); stride]);
            v[so].re += w;
        }
        Ok(PackedLinear {
            transform: LinearTransform::new(slots, diags)?.with_signed_steps(),
            in_period,
            out_period,
            replicate: true,
        })
    }

    /// A 2-D convolution (`kernel × kernel`, `stride`, zero padding `pad`) from `input`
    /// to `output`; `weight(co, ci, ky, kx)`. The output's spatial size must be what the
    /// convolution produces.
    #[allow(clippy::too_many_arguments)]
    pub fn conv2d(
        input: &Layout,
        output: &Layout,
        slots: usize,
        kernel: usize,
        stride: usize,
        pad: usize,
        weight: impl Fn(usize, usize, usize, usize) -> f64,
    ) -> Result<Self> {
        let oh = (input.height() + 2 * pad)
            .checked_sub(kernel)
            .map(|v| v / stride + 1);
        let ow = (input.width() + 2 * pad)
            .checked_sub(kernel)
            .map(|v| v / stride + 1);
        if stride == 0 {
            return Err(Error::InvalidInput(format!(
                "conv {kernel}×{kernel}: stride must be at least 1, got 0"
            )));
        }
        if oh != Some(output.height()) || ow != Some(output.width()) {
            let (ih, iw) = (input.height(), input.width());
            let got = match (oh, ow) {
                (Some(h), Some(w)) => format!("{h}×{w}"),
                _ => format!(
                    "nothing (the {kernel}×{kernel} kernel is larger than the padded {}×{} input)",
                    ih + 2 * pad,
                    iw + 2 * pad
                ),
            };
            // the padding that would give the output layout's size, if one exists
            let fits = (0..=kernel).find(|&p| {
                (ih + 2 * p).checked_sub(kernel).map(|v| v / stride + 1) == Some(output.height())
                    && (iw + 2 * p).checked_sub(kernel).map(|v| v / stride + 1)
                        == Some(output.width())
            });
            let hint = match fits {
                Some(p) => format!(
                    "; padding {p} would give {}×{}",
                    output.height(),
                    output.width()
                ),
                None => String::new(),
            };
            return Err(Error::InvalidInput(format!(
                "conv {kernel}×{kernel}, stride {stride}, padding {pad} maps the {ih}×{iw} input \
                 to {got}, but the output layout is {}×{} \
                 (output size = (input + 2·padding − kernel) / stride + 1){hint}",
                output.height(),
                output.width()
            )));
        }
        let mut terms = Vec::new();
        for co in 0..output.channels() {
            for y in 0..output.height() {
                for x in 0..output.width() {
                    let so = output.slot(co, y, x);
                    for ky in 0..kernel {
                        let Some(iy) = (y * stride + ky).checked_sub(pad) else {
                            continue;
                        };
                        if iy >= input.height() {
                            continue;
                        }
                        for kx in 0..kernel {
                            let Some(ix) = (x * stride + kx).checked_sub(pad) else {
                                continue;
                            };
                            if ix >= input.width() {
                                continue;
                            }
                            for ci in 0..input.channels() {
                                let w = weight(co, ci, ky, kx);
                                terms.push((so, input.slot(ci, iy, ix), w));
                            }
                        }
                    }
                }
            }
        }
        Self::from_terms(input.period(), output.period(), slots, terms)
    }

    /// Average pooling (`kernel × kernel` windows, `stride`, no padding) from `input` to
    /// `output`, channel by channel: a depthwise convolution with weights `1/kernel²`,
    /// one level. The layouts must have the same channels.
    ///
    /// ```
    /// use fhe_dsl::nn::PackedLinear;
    /// use fhe_dsl::tensor::Layout;
    /// let (a, b) = (Layout::multiplexed(1, 4, 4, 1)?, Layout::multiplexed(1, 2, 2, 2)?);
    /// let pool = PackedLinear::avg_pool2d(&a, &b, 16, 2, 2)?;
    /// let x: Vec<f64> = (0..16).map(f64::from).collect();
    /// let y = b.unpack(&pool.apply_plain(&a.pack(&x, 16)?))?;
    /// assert_eq!(y, vec![2.5, 4.5, 10.5, 12.5]);
    /// assert!(PackedLinear::avg_pool2d(&a, &Layout::multiplexed(2, 2, 2, 2)?, 16, 2, 2).is_err());
    /// # Ok::<(), fhe_dsl::Error>(())
    /// ```
    pub fn avg_pool2d(
        input: &Layout,
        output: &Layout,
        slots: usize,
        kernel: usize,
        stride: usize,
    ) -> Result<Self> {
        if input.channels() != output.channels() || kernel == 0 {
            return Err(Error::InvalidInput(format!(
                "average pooling keeps the channels and needs a kernel ≥ 1: {} → {} channels, kernel {kernel}",
                input.channels(),
                output.channels()
            )));
        }
        let w = 1.0 / (kernel * kernel) as f64;
        Self::conv2d(input, output, slots, kernel, stride, 0, |co, ci, _, _| {
            if co == ci {
                w
            } else {
                0.0
            }
        })
    }

    /// Skips filling every output copy: only the copies at multiples of
    /// `max(in_period, out_period)` hold the result (enough for a final layer that is
    /// only decrypted), saving `log2(in_period / out_period)` rotations.
    pub fn without_replication(mut self) -> Self {
        self.replicate = false;
        self
    }

    /// The underlying transform.
    pub fn transform(&self) -> &LinearTransform {
        &self.transform
    }

    /// Number of nonzero diagonals (plaintext multiplications).
    pub fn diagonals(&self) -> usize {
        self.transform.diagonals().len()
    }

    /// Steps of the rotate-and-add that fills the output copies (empty unless the output
    /// period is smaller than the input's).
    pub(crate) fn replicate_steps(&self) -> Vec<i64> {
        let mut steps = Vec::new();
        let mut p = self.out_period;
        while self.replicate && p < self.in_period {
            steps.push(-(p as i64));
            p *= 2;
        }
        steps
    }

    /// Rotation steps the encrypted evaluation needs keys for.
    pub fn rotations(&self) -> Vec<i64> {
        let mut r = self.transform.rotations();
        r.extend(self.replicate_steps());
        r.sort_unstable();
        r.dedup();
        r
    }

    /// Rotations actually performed (baby + giant steps + replication).
    pub fn rotation_count(&self) -> usize {
        self.rotations().len()
    }

    /// The map on cleartext slots (the twin of [`apply`](Self::apply)).
    pub fn apply_plain(&self, x: &[f64]) -> Vec<f64> {
        let n = self.transform.slots();
        let mut out = vec![0.0; n];
        for (&d, v) in self.transform.diagonals() {
            for k in 0..n {
                out[k] += v[k % v.len()].re * x[(k + d) % n];
            }
        }
        for s in self.replicate_steps() {
            let sh = s.rem_euclid(n as i64) as usize;
            let rotated: Vec<f64> = (0..n).map(|k| out[(k + sh) % n]).collect();
            out.iter_mut().zip(rotated).for_each(|(a, b)| *a += b);
        }
        out
    }

    /// The map with every weight replaced by its magnitude, on cleartext slots:
    /// `|W|·r` for the twin's map `W` (replication included). For `x` within `c ± r`,
    /// `apply_plain(x)` lies within `apply_plain(c) ± apply_abs_plain(r)`: what
    /// [`Bounds`](crate::typed::Bounds) propagates through packed layers.
    ///
    /// ```
    /// use fhe_dsl::nn::PackedLinear;
    /// let m = PackedLinear::from_terms(4, 4, 4, [(0, 1, -2.0), (0, 2, 1.0)])?;
    /// assert_eq!(m.apply_abs_plain(&[1.0; 4])[0], 3.0);
    /// # Ok::<(), fhe_dsl::Error>(())
    /// ```
    pub fn apply_abs_plain(&self, r: &[f64]) -> Vec<f64> {
        let n = self.transform.slots();
        let mut out = vec![0.0; n];
        for (&d, v) in self.transform.diagonals() {
            for k in 0..n {
                out[k] += v[k % v.len()].re.abs() * r[(k + d) % n];
            }
        }
        for s in self.replicate_steps() {
            let sh = s.rem_euclid(n as i64) as usize;
            let rotated: Vec<f64> = (0..n).map(|k| out[(k + sh) % n]).collect();
            out.iter_mut().zip(rotated).for_each(|(a, b)| *a += b);
        }
        out
    }

    /// The map on a ciphertext: one level, output scale `ct.scale · pt_scale / q_level`
    /// (pick `pt_scale` to land on any scale you need). Diagonals are encoded on the fly.
    pub fn apply<B: Backend>(
        &self,
        eval: &Evaluator<B>,
        ct: &Ciphertext<B>,
        pt_scale: f64,
    ) -> Result<Ciphertext<B>> {
        let mut out = self.transform.apply_streaming(eval, ct, pt_scale)?;
        for s in self.replicate_steps() {
            let r = eval.rotate_new(&out, s)?;
            eval.add_assign(&mut out, &r)?;
        }
        Ok(out)
    }
}

/// Rotation steps of [`spatial_sum`].
pub fn spatial_sum_steps(layout: &Layout) -> Vec<i64> {
    let mut steps = Vec::new();
    let k = layout.gap();
    let mut w = 1;
    while w < layout.width() {
        steps.push((w * k) as i64);
        w *= 2;
    }
    let mut h = 1;
    while h < layout.height() {
        steps.push((h * layout.row_stride() * k) as i64);
        h *= 2;
    }
    steps
}

pub(crate) fn check_pow2_spatial(layout: &Layout) -> Result<()> {
    if !layout.width().is_power_of_two() || !layout.height().is_power_of_two() {
        return Err(Error::InvalidInput(format!(
            "spatial sum needs a power-of-two height and width, got {}×{}",
            layout.height(),
            layout.width()
        )));
    }
    Ok(())
}

/// Sums every channel over its `H × W` positions by rotate-and-add (`log2 H + log2 W`
/// rotations, no level): afterwards the slot of `(c, 0, 0)` holds channel `c`'s sum (the
/// other slots hold partial sums and are to be ignored).
pub fn spatial_sum<B: Backend>(
    eval: &Evaluator<B>,
    ct: &Ciphertext<B>,
    layout: &Layout,
) -> Result<Ciphertext<B>> {
    check_pow2_spatial(layout)?;
    let mut acc = ct.clone();
    for s in spatial_sum_steps(layout) {
        let r = eval.rotate_new(&acc, s)?;
        eval.add_assign(&mut acc, &r)?;
    }
    Ok(acc)
}

/// The cleartext twin of [`spatial_sum`].
pub fn spatial_sum_plain(x: &[f64], layout: &Layout) -> Result<Vec<f64>> {
    check_pow2_spatial(layout)?;
    Ok(rotate_and_add_plain(x.to_vec(), layout))
}

/// The rotate-and-add of [`spatial_sum_plain`] on a layout already checked.
pub(crate) fn rotate_and_add_plain(mut acc: Vec<f64>, layout: &Layout) -> Vec<f64> {
    let n = acc.len();
    for s in spatial_sum_steps(layout) {
        let s = s as usize;
        acc = (0..n).map(|k| acc[k] + acc[(k + s) % n]).collect();
    }
    acc
}

/// `ct²`, relinearised and rescaled (one level): the nonlinear half of a quadratic
/// activation whose affine parts are folded into the neighbouring linear layers.
pub fn square<B: Backend>(eval: &Evaluator<B>, ct: &Ciphertext<B>) -> Result<Ciphertext<B>> {
    let mut sq = eval.mul_new(ct, ct)?;
    eval.relinearize_rescale_assign(&mut sq)?;
    Ok(sq)
}

/// A general polynomial activation: a Chebyshev polynomial fitted on a declared input
/// range `[a, b]` (a ReLU approximation of any degree, say), evaluated with the
/// baby-step/giant-step Chebyshev evaluator (Paterson–Stockmeyer style). A polynomial
/// approximation is only meaningful on the range it was fitted for, so the cleartext
/// twin refuses inputs outside it, naming the slot — run it (or a calibration) before
/// encrypting, since the encrypted evaluation cannot see its input.
#[derive(Clone, Debug, PartialEq)]
pub struct PolyActivation {
    poly: ChebyshevPoly,
}

impl PolyActivation {
    /// From a Chebyshev polynomial; its interval is the declared input range.
    pub fn new(poly: ChebyshevPoly) -> Self {
        PolyActivation { poly }
    }

    /// ReLU interpolated at the Chebyshev nodes of `[a, b]` with the given degree.
    ///
    /// ```
    /// let act = fhe_dsl::nn::PolyActivation::relu(-4.0, 4.0, 15)?;
    /// assert_eq!(act.range(), (-4.0, 4.0));
    /// assert!((act.apply_plain(&[2.0])?[0] - 2.0).abs() < 0.2);
    /// assert!(act.apply_plain(&[5.0]).is_err()); // outside the fitted range
    /// # Ok::<(), fhe_dsl::Error>(())
    /// ```
    pub fn relu(a: f64, b: f64, degree: usize) -> Result<Self> {
        Ok(Self::new(ChebyshevPoly::interpolate(
            |x| x.max(0.0),
            a,
            b,
            degree,
        )?))
    }

    /// The declared input range.
    pub fn range(&self) -> (f64, f64) {
        (self.poly.a, self.poly.b)
    }

    /// The polynomial.
    pub fn poly(&self) -> &ChebyshevPoly {
        &self.poly
    }

    /// Levels the encrypted evaluation consumes (the change of variable to `[-1, 1]`
    /// included).
    pub fn levels(&self) -> usize {
        self.poly.depth()
    }

    /// The cleartext twin, element-wise; an error for any input outside the range
    /// (with a relative tolerance of 1e-9 for rounding at the ends).
    pub fn apply_plain(&self, x: &[f64]) -> Result<Vec<f64>> {
        let (a, b) = self.range();
        let tol = 1e-9 * (b - a);
        if let Some((i, v)) = x
            .iter()
            .enumerate()
            .find(|(_, v)| !(**v >= a - tol && **v <= b + tol))
        {
            return Err(Error::InvalidInput(format!(
                "polynomial activation fitted on [{a}, {b}] got {v} at slot {i}"
            )));
        }
        Ok(x.iter().map(|&v| self.poly.evaluate(v)).collect())
    }

    /// The activation on a ciphertext whose slots lie in the range; the output keeps
    /// the input's scale and sits [`levels`](Self::levels) lower.
    pub fn apply<B: Backend>(
        &self,
        eval: &Evaluator<B>,
        ct: &Ciphertext<B>,
    ) -> Result<Ciphertext<B>> {
        evaluate_chebyshev(eval, ct, &self.poly, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Direct convolution on `C·H·W` arrays (the independent reference).
    #[allow(clippy::too_many_arguments)]
    fn conv_direct(
        x: &[f64],
        (ci_n, h, w): (usize, usize, usize),
        wt: &[f64],
        co_n: usize,
        k: usize,
        stride: usize,
        pad: usize,
    ) -> Vec<f64> {
        let oh = (h + 2 * pad - k) / stride + 1;
        let ow = (w + 2 * pad - k) / stride + 1;
        let mut out = vec![0.0; co_n * oh * ow];
        for co in 0..co_n {
            for y in 0..oh {
                for xx in 0..ow {
                    let mut s = 0.0;
                    for ci in 0..ci_n {
                        for ky in 0..k {
                            for kx in 0..k {
                                let iy = (y * stride + ky) as i64 - pad as i64;
                                let ix = (xx * stride + kx) as i64 - pad as i64;
                                if iy < 0 || ix < 0 || iy >= h as i64 || ix >= w as i64 {
                                    continue;
                                }
                                s += wt[((co * ci_n + ci) * k + ky) * k + kx]
                                    * x[(ci * h + iy as usize) * w + ix as usize];
                            }
                        }
                    }
                    out[(co * oh + y) * ow + xx] = s;
                }
            }
        }
        out
    }

    #[test]
    fn packed_conv_matches_direct_convolution() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        // (ci, h, gap_in, co, gap_out, k, stride, pad, slots)
        for (ci, h, gi, co, go, k, stride, pad, slots) in [
            (3, 8, 1, 4, 1, 3, 1, 1, 512),
            (4, 8, 1, 8, 2, 3, 2, 1, 512),
            (8, 4, 2, 16, 4, 3, 2, 1, 512),
            (4, 8, 1, 8, 2, 1, 2, 0, 1024),
            (16, 2, 4, 16, 4, 3, 1, 1, 256),
        ] {
            let oh = (h + 2 * pad - k) / stride + 1;
            let lin = Layout::multiplexed(ci, h, h, gi).unwrap();
            let lout = Layout::multiplexed(co, oh, oh, go).unwrap();
            let wt: Vec<f64> = (0..co * ci * k * k)
                .map(|_| rng.gen_range(-1.0..1.0))
                .collect();
            let x: Vec<f64> = (0..ci * h * h).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let m = PackedLinear::conv2d(&lin, &lout, slots, k, stride, pad, |a, b, c, d| {
                wt[((a * ci + b) * k + c) * k + d]
            })
            .unwrap();
            let y = m.apply_plain(&lin.pack(&x, slots).unwrap());
            let want = conv_direct(&x, (ci, h, h), &wt, co, k, stride, pad);
            // every copy of the output holds the result
            for copy in y.chunks(lout.period()) {
                let got = lout.unpack(&{
                    let mut v = copy.to_vec();
                    v.resize(lout.period(), 0.0);
                    v
                });
                let got = got.unwrap();
                for (a, b) in got.iter().zip(&want) {
                    assert!((a - b).abs() < 1e-12, "{a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn spatial_sum_plain_sums_each_channel() {
        let l = Layout::multiplexed(8, 4, 4, 2).unwrap();
        let x: Vec<f64> = (0..l.len()).map(|i| (i % 7) as f64).collect();
        let s = spatial_sum_plain(&l.pack(&x, 256).unwrap(), &l).unwrap();
        for c in 0..8 {
            let want: f64 = x[c * 16..(c + 1) * 16].iter().sum();
            assert_eq!(s[l.slot(c, 0, 0)], want);
        }
    }
    #[test]
    fn poly_activation_encrypted_matches_twin_and_guards_its_range() {
        use crate::backend::reference::ReferenceBackend;
        use crate::ckks::{Ckks, KeyGenerator, KeyRequest, Params, ParamsLiteral};
        let params = Params::new_insecure_for_tests(ParamsLiteral {
            log_n: 10,
            log_q: vec![60, 50, 50, 50, 50, 50, 50, 50, 50],
            log_p: vec![61, 61],
            level_primes: None,
            dnum: 5,
            log_scale: 50,
            secret: Default::default(),
        })
        .unwrap();
        let ckks = Ckks::new(params, ReferenceBackend);
        let mut kg = KeyGenerator::from_seed(&ckks, 11);
        let sk = kg.secret_key();
        let evk = kg.evaluation_keys(&sk, &KeyRequest::new().relin()).unwrap();
        let eval = ckks.evaluator(&evk).unwrap();
        let act = PolyActivation::relu(-4.0, 4.0, 15).unwrap();
        assert!(act.levels() <= ckks.params().max_level());
        let n = ckks.params().max_slots();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let x: Vec<f64> = (0..n).map(|_| rng.gen_range(-4.0..4.0)).collect();
        let top = ckks.params().max_level();
        let ct = ckks
            .encryptor_sk(&sk)
            .encrypt(
                &ckks
                    .encode_real(&x, top, ckks.params().default_scale())
                    .unwrap(),
            )
            .unwrap();
        let out = act.apply(&eval, &ct).unwrap();
        assert_eq!(out.level(), top - act.levels());
        let got = ckks.decryptor(&sk).decrypt_real(&out).unwrap();
        let twin = act.apply_plain(&x).unwrap();
        let err = got
            .iter()
            .zip(&twin)
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(err < 1e-6, "encrypted vs twin {err:e}");
        // the twin is the fitted polynomial: close to ReLU on the range
        let fit = x
            .iter()
            .zip(&twin)
            .fold(0.0f64, |m, (v, p)| m.max((v.max(0.0) - p).abs()));
        assert!(fit < 0.2, "ReLU fit {fit}");
        // outside the declared range: an error naming the value, not garbage
        let mut bad = x.clone();
        bad[17] = 4.5;
        let e = act.apply_plain(&bad).unwrap_err().to_string();
        assert!(e.contains("4.5") && e.contains("slot 17"), "{e}");
    }
}
