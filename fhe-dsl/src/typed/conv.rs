//! [`Conv<N>`]: a 2-D convolution between packed tensor [`Layout`]s, as a typed layer on
//! [`EncVector<B, N, L>`](super::EncVector) that spends exactly one level.
//!
//! The convolution is compiled once, at construction, into a [`PackedLinear`] (one
//! baby-step / giant-step linear transform on the slot vector), so any kernel, stride,
//! padding and multiplexed gap costs one plaintext-product level. Its rotation steps
//! depend on the layouts, which are runtime values: ask the layer
//! ([`Conv::rotations`]) when generating keys.

use crate::backend::Backend;
use crate::ckks::{Ciphertext, Evaluator};
use crate::error::{Error, Result};
use crate::nn::PackedLinear;
use crate::tensor::Layout;

/// A 2-D convolution `y[co] = Σ_ci w[co, ci] ⋆ x[ci] + b[co]` (`kernel × kernel`,
/// `stride`, zero padding `pad`) from tensors packed with the `input` [`Layout`] into
/// tensors packed with the `output` layout, on `N` slots.
///
/// Both layouts must fit `N` slots (their periods are powers of two ≤ `N`; a tensor
/// repeats every period). Slots off the output tensor hold 0 after the layer; slots off
/// the input tensor are never read, so an activation may leave anything there.
///
/// ```
/// # use fhe_dsl::backend::reference::ReferenceBackend as B;
/// # use fhe_dsl::ckks::{Ckks, KeyRequest, Params, ParamsLiteral};
/// use fhe_dsl::tensor::Layout;
/// use fhe_dsl::typed::{Conv, EncVector};
/// # fn main() -> fhe_dsl::Result<()> {
/// // 1×4×4 → 2×4×4, 3×3, stride 1, pad 1: channel 0 blurs, channel 1 copies
/// let (lin, lout) = (Layout::multiplexed(1, 4, 4, 1)?, Layout::multiplexed(2, 4, 4, 1)?);
/// let mut w = vec![1.0 / 9.0; 9];
/// w.extend([0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
/// let conv = Conv::<32>::new(lin, lout, 3, 1, 1, w, vec![0.0, 0.5])?;
/// # let ckks = Ckks::new(Params::new_insecure_for_tests(ParamsLiteral::test_small())?, B);
/// # let mut kg = ckks.key_generator();
/// # let sk = kg.secret_key();
/// let keys = kg.evaluation_keys(&sk, &KeyRequest::new().rotations(conv.rotations()))?;
/// # let ev = ckks.evaluator(&keys)?;
/// # let (enc, dec) = (ckks.encryptor(&kg.public_key(&sk)?), ckks.decryptor(&sk));
/// let image: Vec<f64> = (0..16).map(|i| i as f64 / 16.0).collect();
/// let packed = lin.pack(&image, 32)?;
/// let x: EncVector<B, 32, 3> = EncVector::encrypt(&ckks, &enc, &packed)?;
/// let y: EncVector<B, 32, 2> = x.conv(&conv, &ev)?; // one level
/// let want = conv.apply_plain(&packed);
/// for (g, w) in y.decrypt(&dec)?.iter().zip(&want) { assert!((g - w).abs() < 1e-6); }
/// // channel 1 is the input plus its bias
/// let out = lout.unpack(&want)?;
/// assert!((out[16 + 5] - (image[5] + 0.5)).abs() < 1e-12);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Conv<const N: usize> {
    input: Layout,
    output: Layout,
    kernel: usize,
    stride: usize,
    pad: usize,
    weights: Vec<f64>,
    bias: Vec<f64>,
    /// The convolution compiled onto the slots (derived from the fields above).
    linear: PackedLinear,
    /// `bias` at every output slot of its channel, in every copy (0 elsewhere).
    bias_slots: Vec<f64>,
}

impl<const N: usize> std::fmt::Debug for Conv<N> {
    // The compiled transform holds N complex values per diagonal: not worth printing.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (i, o) = (&self.input, &self.output);
        write!(
            f,
            "Conv<{N}>({}×{}×{} gap {} → {}×{}×{} gap {}, {k}×{k}, stride {}, pad {}, {} diagonals)",
            i.channels(),
            i.height(),
            i.width(),
            i.gap(),
            o.channels(),
            o.height(),
            o.width(),
            o.gap(),
            self.stride,
            self.pad,
            self.linear.diagonals(),
            k = self.kernel,
        )
    }
}

impl<const N: usize> PartialEq for Conv<N> {
    // The compiled transform is a function of the defining fields.
    fn eq(&self, other: &Self) -> bool {
        self.input == other.input
            && self.output == other.output
            && self.kernel == other.kernel
            && self.stride == other.stride
            && self.pad == other.pad
            && self.weights == other.weights
            && self.bias == other.bias
    }
}

fn describe(l: &Layout) -> String {
    format!(
        "{}×{}×{} (gap {})",
        l.channels(),
        l.height(),
        l.width(),
        l.gap()
    )
}

impl<const N: usize> Conv<N> {
    /// A convolution from `input` to `output` with `weights` in `C_out × C_in × kernel ×
    /// kernel` row-major order and one `bias` per output channel.
    ///
    /// Errors (never panics) when `N` is not a power of two, a layout does not fit `N`
    /// slots, the kernel or stride is 0, the output layout's spatial size is not what the
    /// convolution produces, the weights or biases have the wrong count, or a value is
    /// not finite.
    ///
    /// ```
    /// use fhe_dsl::tensor::Layout;
    /// use fhe_dsl::typed::Conv;
    /// let l = Layout::multiplexed(2, 8, 8, 1)?; // period 128
    /// let ok = Conv::<128>::new(l, l, 3, 1, 1, vec![0.1; 2 * 2 * 9], vec![0.0; 2]);
    /// assert!(ok.is_ok());
    /// let e = Conv::<64>::new(l, l, 3, 1, 1, vec![0.1; 36], vec![0.0; 2]).unwrap_err();
    /// assert!(e.to_string().contains("needs 128 slots"), "{e}");
    /// let e = Conv::<128>::new(l, l, 3, 1, 1, vec![0.1; 35], vec![0.0; 2]).unwrap_err();
    /// assert!(e.to_string().contains("2×2×3×3 = 36 weights"), "{e}");
    /// let e = Conv::<128>::new(l, l, 3, 2, 1, vec![0.1; 36], vec![0.0; 2]).unwrap_err();
    /// assert!(e.to_string().contains("to 4×4, but the output layout is 8×8"), "{e}");
    /// # Ok::<(), fhe_dsl::Error>(())
    /// ```
    pub fn new(
        input: Layout,
        output: Layout,
        kernel: usize,
        stride: usize,
        pad: usize,
        weights: Vec<f64>,
        bias: Vec<f64>,
    ) -> Result<Self> {
        if !N.is_power_of_two() {
            return Err(Error::InvalidInput(format!(
                "Conv<{N}>: the slot count must be a power of two"
            )));
        }
        for (what, l) in [("input", &input), ("output", &output)] {
            if l.period() > N {
                return Err(Error::InvalidInput(format!(
                    "Conv<{N}>: the {what} layout {} needs {} slots, more than {N}",
                    describe(l),
                    l.period()
                )));
            }
        }
        if kernel == 0 || stride == 0 {
            return Err(Error::InvalidInput(format!(
                "Conv<{N}>: kernel and stride must be ≥ 1, got kernel {kernel}, stride {stride}"
            )));
        }
        let (co, ci) = (output.channels(), input.channels());
        let want = co * ci * kernel * kernel;
        if weights.len() != want || bias.len() != co {
            return Err(Error::InvalidInput(format!(
                "Conv<{N}> from {} to {} needs {co}×{ci}×{kernel}×{kernel} = {want} weights \
                 and {co} biases, got {} and {}",
                describe(&input),
                describe(&output),
                weights.len(),
                bias.len()
            )));
        }
        super::vector::finite("Conv weights", &weights)?;
        super::vector::finite("Conv bias", &bias)?;
        let linear =
            PackedLinear::conv2d(&input, &output, N, kernel, stride, pad, |a, b, y, x| {
                weights[((a * ci + b) * kernel + y) * kernel + x]
            })?;
        let bias_slots = output.per_channel(&bias, N)?;
        Ok(Conv {
            input,
            output,
            kernel,
            stride,
            pad,
            weights,
            bias,
            linear,
            bias_slots,
        })
    }

    /// The layout the input must be packed with.
    ///
    /// ```
    /// # use fhe_dsl::{tensor::Layout, typed::Conv};
    /// let l = Layout::multiplexed(1, 4, 4, 1)?;
    /// let c = Conv::<16>::new(l, l, 1, 1, 0, vec![2.0], vec![0.0])?;
    /// assert_eq!(c.input_layout(), &l);
    /// # Ok::<(), fhe_dsl::Error>(())
    /// ```
    pub fn input_layout(&self) -> &Layout {
        &self.input
    }

    /// The layout of the output (unpack the decrypted slots with it).
    ///
    /// ```
    /// # use fhe_dsl::{tensor::Layout, typed::Conv};
    /// let (a, b) = (Layout::multiplexed(1, 4, 4, 1)?, Layout::multiplexed(4, 2, 2, 2)?);
    /// let c = Conv::<16>::new(a, b, 2, 2, 0, vec![0.25; 16], vec![0.0; 4])?;
    /// assert_eq!(c.output_layout().channels(), 4);
    /// # Ok::<(), fhe_dsl::Error>(())
    /// ```
    pub fn output_layout(&self) -> &Layout {
        &self.output
    }

    /// Kernel size, stride and zero padding.
    ///
    /// ```
    /// # use fhe_dsl::{tensor::Layout, typed::Conv};
    /// let l = Layout::multiplexed(1, 4, 4, 1)?;
    /// let c = Conv::<16>::new(l, l, 3, 1, 1, vec![0.0; 9], vec![0.0])?;
    /// assert_eq!(c.geometry(), (3, 1, 1));
    /// # Ok::<(), fhe_dsl::Error>(())
    /// ```
    pub fn geometry(&self) -> (usize, usize, usize) {
        (self.kernel, self.stride, self.pad)
    }

    /// The weights, `C_out × C_in × kernel × kernel` row-major.
    ///
    /// ```
    /// # use fhe_dsl::{tensor::Layout, typed::Conv};
    /// let l = Layout::multiplexed(1, 4, 4, 1)?;
    /// let c = Conv::<16>::new(l, l, 1, 1, 0, vec![2.0], vec![0.5])?;
    /// assert_eq!(c.weights(), &[2.0]);
    /// # Ok::<(), fhe_dsl::Error>(())
    /// ```
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// The per-output-channel biases.
    ///
    /// ```
    /// # use fhe_dsl::{tensor::Layout, typed::Conv};
    /// let l = Layout::multiplexed(1, 4, 4, 1)?;
    /// let c = Conv::<16>::new(l, l, 1, 1, 0, vec![2.0], vec![0.5])?;
    /// assert_eq!(c.bias(), &[0.5]);
    /// # Ok::<(), fhe_dsl::Error>(())
    /// ```
    pub fn bias(&self) -> &[f64] {
        &self.bias
    }

    /// The bias at every output slot (what the encrypted layer adds).
    pub(crate) fn bias_slots(&self) -> &[f64] {
        &self.bias_slots
    }

    /// The compiled slot-vector map (diagonals, rotations, the cleartext twin).
    ///
    /// ```
    /// # use fhe_dsl::{tensor::Layout, typed::Conv};
    /// let l = Layout::multiplexed(1, 4, 4, 1)?;
    /// let c = Conv::<16>::new(l, l, 3, 1, 1, vec![1.0; 9], vec![0.0])?;
    /// assert_eq!(c.packed().diagonals(), 9);
    /// # Ok::<(), fhe_dsl::Error>(())
    /// ```
    pub fn packed(&self) -> &PackedLinear {
        &self.linear
    }

    /// The rotation steps the encrypted layer needs keys for (baby and giant steps of
    /// its transform, and the copies' fill when the output period is the smaller).
    ///
    /// ```
    /// # use fhe_dsl::{tensor::Layout, typed::Conv};
    /// let l = Layout::multiplexed(1, 4, 4, 1)?;
    /// let pointwise = Conv::<16>::new(l, l, 1, 1, 0, vec![3.0], vec![0.0])?;
    /// assert!(pointwise.rotations().is_empty()); // one diagonal, offset 0
    /// let c = Conv::<16>::new(l, l, 3, 1, 1, vec![1.0; 9], vec![0.0])?;
    /// assert!(!c.rotations().is_empty() && !c.rotations().contains(&0));
    /// # Ok::<(), fhe_dsl::Error>(())
    /// ```
    pub fn rotations(&self) -> Vec<i64> {
        self.linear.rotations()
    }

    /// The float64 twin of the encrypted layer on `N` slots (`x` zero-padded or
    /// truncated to `N`): exactly the map [`EncVector::conv`](super::EncVector::conv) computes, on the same
    /// packing.
    ///
    /// ```
    /// # use fhe_dsl::{tensor::Layout, typed::Conv};
    /// let l = Layout::multiplexed(1, 2, 2, 1)?; // period 4
    /// let c = Conv::<4>::new(l, l, 1, 1, 0, vec![2.0], vec![1.0])?;
    /// assert_eq!(c.apply_plain(&[1.0, 2.0, 3.0, 4.0]), vec![3.0, 5.0, 7.0, 9.0]);
    /// # Ok::<(), fhe_dsl::Error>(())
    /// ```
    pub fn apply_plain(&self, x: &[f64]) -> Vec<f64> {
        let mut v = x.to_vec();
        v.resize(N, 0.0);
        let mut y = self.linear.apply_plain(&v);
        y.iter_mut()
            .zip(&self.bias_slots)
            .for_each(|(a, b)| *a += b);
        y
    }

    /// The weights' magnitudes applied to `r` (`|W|·r`, no bias): the radius half of
    /// [`IntervalLayer::apply_bounds`](super::IntervalLayer::apply_bounds).
    fn apply_abs_plain(&self, r: &[f64]) -> Vec<f64> {
        let mut v = r.to_vec();
        v.resize(N, 0.0);
        self.linear.apply_abs_plain(&v)
    }

    /// The encrypted layer on a raw ciphertext (levels checked at run time): the
    /// transform with its plaintexts scaled so the output lands on `out_scale`, then the
    /// bias.
    pub(crate) fn apply_ciphertext<B: Backend>(
        &self,
        ev: &Evaluator<B>,
        ct: &Ciphertext<B>,
        out_scale: f64,
    ) -> Result<Ciphertext<B>> {
        let what = ("conv", "Conv", N);
        super::layers::apply_packed(what, ev, ct, &self.linear, &self.bias_slots, out_scale)
    }
}

impl<const N: usize> super::IntervalLayer for Conv<N> {
    fn apply_bounds(&self, x: &super::Bounds) -> super::Bounds {
        x.affine(|c| self.apply_plain(c), |r| self.apply_abs_plain(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct convolution on `C·H·W` arrays, written independently of the packing.
    #[allow(clippy::too_many_arguments)]
    fn direct(
        x: &[f64],
        (ci_n, h, w): (usize, usize, usize),
        wt: &[f64],
        bias: &[f64],
        k: usize,
        stride: usize,
        pad: usize,
    ) -> Vec<f64> {
        let (oh, ow) = (
            (h + 2 * pad - k) / stride + 1,
            (w + 2 * pad - k) / stride + 1,
        );
        let mut out = Vec::new();
        for (co, b) in bias.iter().enumerate() {
            for y in 0..oh {
                for xx in 0..ow {
                    let mut s = *b;
                    for ci in 0..ci_n {
                        for ky in 0..k {
                            for kx in 0..k {
                                let iy = (y * stride + ky) as i64 - pad as i64;
                                let ix = (xx * stride + kx) as i64 - pad as i64;
                                if (0..h as i64).contains(&iy) && (0..w as i64).contains(&ix) {
                                    s += wt[((co * ci_n + ci) * k + ky) * k + kx]
                                        * x[(ci * h + iy as usize) * w + ix as usize];
                                }
                            }
                        }
                    }
                    out.push(s);
                }
            }
        }
        out
    }

    #[test]
    fn apply_plain_is_a_convolution_with_bias_on_every_copy() {
        // 1×8×8 → 4×4×4 into gap 2 (stride 2), then 4×4×4 → 4×4×4 at gap 2
        let a = Layout::multiplexed(1, 8, 8, 1).unwrap();
        let b = Layout::multiplexed(4, 4, 4, 2).unwrap();
        let w1: Vec<f64> = (0..36)
            .map(|i| ((i * 7 % 11) as f64 - 5.0) / 10.0)
            .collect();
        let w2: Vec<f64> = (0..144)
            .map(|i| ((i * 5 % 13) as f64 - 6.0) / 20.0)
            .collect();
        let (b1, b2) = (vec![0.1, -0.2, 0.3, 0.0], vec![-0.5, 0.25, 0.0, 1.0]);
        let c1 = Conv::<256>::new(a, b, 3, 2, 1, w1.clone(), b1.clone()).unwrap();
        let c2 = Conv::<256>::new(b, b, 3, 1, 1, w2.clone(), b2.clone()).unwrap();
        let x: Vec<f64> = (0..64).map(|i| (i as f64 * 0.3).sin()).collect();
        let y1 = c1.apply_plain(&a.pack(&x, 256).unwrap());
        let y2 = c2.apply_plain(&y1);
        let want1 = direct(&x, (1, 8, 8), &w1, &b1, 3, 2, 1);
        let want2 = direct(&want1, (4, 4, 4), &w2, &b2, 3, 1, 1);
        for (y, want) in [(&y1, &want1), (&y2, &want2)] {
            for copy in y.chunks(b.period()) {
                let got = b.unpack(copy).unwrap();
                for (g, w) in got.iter().zip(want) {
                    assert!((g - w).abs() < 1e-12, "{g} vs {w}");
                }
            }
        }
    }

    #[test]
    fn bad_shapes_are_errors() {
        let l = Layout::multiplexed(2, 4, 4, 1).unwrap();
        let w = vec![0.0; 2 * 2 * 9];
        assert!(Conv::<24>::new(l, l, 3, 1, 1, w.clone(), vec![0.0; 2]).is_err());
        assert!(Conv::<32>::new(l, l, 0, 1, 1, vec![], vec![0.0; 2]).is_err());
        assert!(Conv::<32>::new(l, l, 3, 0, 1, w.clone(), vec![0.0; 2]).is_err());
        assert!(Conv::<32>::new(l, l, 3, 1, 1, w.clone(), vec![0.0; 3]).is_err());
        let mut nan = w.clone();
        nan[3] = f64::NAN;
        assert!(Conv::<32>::new(l, l, 3, 1, 1, nan, vec![0.0; 2]).is_err());
        // kernel larger than the padded input: an error, not an underflow
        assert!(Conv::<32>::new(l, l, 7, 1, 0, vec![0.0; 2 * 2 * 49], vec![0.0; 2]).is_err());
        let ok = Conv::<32>::new(l, l, 3, 1, 1, w, vec![0.0; 2]).unwrap();
        assert_eq!(ok.clone(), ok);
        assert!(format!("{ok:?}").contains("2×4×4 gap 1"));
    }
}
