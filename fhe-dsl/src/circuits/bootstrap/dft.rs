//! The special FFT of CoeffToSlot and SlotToCoeff (Lattigo's `dft`): its butterfly
//! layers as diagonal linear transforms, merged into one transform per level
//! (`Transforms`), and how a bootstrapper keeps them between bootstraps
//! ([`TransformStorage`]).

use super::config::BootstrapConfig;
use crate::backend::Backend;
use crate::circuits::linear::{EncodedLinearTransform, LinearTransform};
use crate::ckks::{Ciphertext, Ckks, Evaluator, Params};
use crate::error::{Error, Result};
use num_complex::Complex64;

fn root(m: usize, k: usize) -> Complex64 {
    let a = std::f64::consts::TAU * (k % m) as f64 / m as f64;
    Complex64::new(a.cos(), a.sin())
}

/// `5^j mod m` for `j < count`.
fn rot_group(count: usize, m: usize) -> Vec<usize> {
    let mut v = Vec::with_capacity(count);
    let mut p = 1usize;
    for _ in 0..count {
        v.push(p);
        p = p * 5 % m;
    }
    v
}

/// One butterfly layer (half-length `h`) of the special FFT on `n` slots, as diagonals.
/// `inverse`: the layer of the inverse transform (`u+v`, `(u−v)·w̄`), without `1/2`.
fn fft_layer(n: usize, big_m: usize, h: usize, inverse: bool, rg: &[usize]) -> LinearTransform {
    let len = 2 * h;
    let lenq = 4 * len;
    let step = big_m / lenq;
    let zero = Complex64::new(0.0, 0.0);
    let one = Complex64::new(1.0, 0.0);
    let (mut d0, mut dp, mut dm) = (vec![zero; n], vec![zero; n], vec![zero; n]);
    for p in 0..n {
        let j = p % len;
        if j < h {
            d0[p] = one;
            dp[p] = if inverse {
                one
            } else {
                root(big_m, (rg[j] & (lenq - 1)) * step)
            };
        } else {
            let jj = j - h;
            if inverse {
                let w = root(big_m, (lenq - (rg[jj] & (lenq - 1))) * step);
                d0[p] = -w;
                dm[p] = w;
            } else {
                let w = root(big_m, (rg[jj] & (lenq - 1)) * step);
                d0[p] = -w;
                dm[p] = one;
            }
        }
    }
    LinearTransform::new(n, [(0, d0), (h as i64, dp), (-(h as i64), dm)])
        .expect("well-formed layer")
}

/// Splits `count` layers into `groups` contiguous groups (larger ones first).
pub(super) fn group_sizes(count: usize, groups: usize) -> Vec<usize> {
    (0..groups)
        .map(|g| count / groups + usize::from(g < count % groups))
        .collect()
}

/// A transform on `n` slots seen in the `2n`-slot frame (input `n`-periodic): diagonal
/// `d` becomes `[D_d | c·D_d]`.
fn widen(lt: &LinearTransform, c: Complex64) -> LinearTransform {
    let n = lt.slots();
    let diags = lt.diagonals().iter().map(|(&d, v)| {
        // a periodic diagonal is tiled to n first
        let mut w: Vec<Complex64> = (0..n).map(|k| v[k % v.len()]).collect();
        w.extend((0..n).map(|k| v[k % v.len()] * c));
        (d as i64, w)
    });
    LinearTransform::new(2 * n, diags).expect("well-formed")
}

/// The float transforms of one configuration.
pub(super) struct Transforms {
    pub(super) cts: Vec<LinearTransform>,
    pub(super) stc: Vec<LinearTransform>,
    pub(super) trace_steps: Vec<i64>,
}

impl Transforms {
    pub(super) fn new(cfg: &BootstrapConfig, params: &Params) -> Result<Self> {
        let n = cfg.slots();
        let big_m = 2 * params.n();
        let log_n_slots = cfg.log_slots as usize;
        let rg = rot_group(n, big_m);
        let sparse = n < params.max_slots();
        let gap = params.n() / (2 * n);
        let kp = cfg.k as f64 + 0.5;
        // CoeffToSlot: inverse layers h = n/2, …, 1, each with its 1/2 (the 1/n)
        let inv: Vec<LinearTransform> = (0..log_n_slots)
            .map(|i| fft_layer(n, big_m, n >> (i + 1), true, &rg).scaled(Complex64::new(0.5, 0.0)))
            .collect();
        let mut cts = Vec::new();
        let mut it = inv.into_iter();
        for size in group_sizes(log_n_slots, cfg.cts_levels) {
            let mut acc = it.next().expect("layer");
            for _ in 1..size {
                acc = it.next().expect("layer").compose(&acc)?;
            }
            cts.push(acc);
        }
        // the trace multiplies by gap; the conjugate split doubles; EvalMod wants x/(K+½)
        let c = Complex64::new(1.0 / (2.0 * gap as f64 * kp), 0.0);
        let last = cts.pop().expect("one stage").scaled(c);
        cts.push(if sparse {
            widen(&last, Complex64::new(0.0, -1.0))
        } else {
            last
        });
        // SlotToCoeff: forward layers h = 1, 2, …, n/2
        let fwd: Vec<LinearTransform> = (0..log_n_slots)
            .map(|i| fft_layer(n, big_m, 1 << i, false, &rg))
            .collect();
        let mut stc = Vec::new();
        let mut it = fwd.into_iter();
        for size in group_sizes(log_n_slots, cfg.stc_levels) {
            let mut acc = it.next().expect("layer");
            for _ in 1..size {
                acc = it.next().expect("layer").compose(&acc)?;
            }
            stc.push(acc);
        }
        if sparse {
            // [x | y] (2n slots, real) → x + i·y, n-periodic
            let one = Complex64::new(1.0, 0.0);
            let i = Complex64::new(0.0, 1.0);
            let d0: Vec<Complex64> = (0..2 * n).map(|k| if k < n { one } else { i }).collect();
            let dn: Vec<Complex64> = (0..2 * n).map(|k| if k < n { i } else { one }).collect();
            let combine = LinearTransform::new(2 * n, [(0, d0), (n as i64, dn)])?;
            let first = widen(&stc[0], one).compose(&combine)?;
            stc[0] = first;
        }
        let trace_steps = (log_n_slots..(params.log_n() as usize - 1))
            .map(|j| 1i64 << j)
            .collect();
        Ok(Transforms {
            cts,
            stc,
            trace_steps,
        })
    }
}

/// Where a bootstrapper keeps the CoeffToSlot/SlotToCoeff diagonals between
/// bootstraps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TransformStorage {
    /// Encoded once, at their levels (over `Q_l·P`): fastest; at N = 2^16 about 3 GB.
    #[default]
    Precomputed,
    /// Kept as complex diagonals (tens of MB) and encoded just before use in each
    /// bootstrap: the same ciphertext, for a little encoding time per bootstrap.
    Streamed,
}

/// One CoeffToSlot/SlotToCoeff stage as stored.
pub(super) enum Stage<B: Backend> {
    Encoded(EncodedLinearTransform<B>),
    Streamed {
        lt: LinearTransform,
        level: usize,
        pt_scale: f64,
    },
}

impl<B: Backend> Stage<B> {
    pub(super) fn new(
        ckks: &Ckks<B>,
        lt: LinearTransform,
        level: usize,
        pt_scale: f64,
        storage: TransformStorage,
    ) -> Result<Self> {
        Ok(match storage {
            TransformStorage::Precomputed => {
                Stage::Encoded(lt.encode_with_scale(ckks, level, pt_scale)?)
            }
            TransformStorage::Streamed => {
                lt.check_level(ckks, level)?;
                Stage::Streamed {
                    lt,
                    level,
                    pt_scale,
                }
            }
        })
    }

    pub(super) fn apply(&self, eval: &Evaluator<B>, ct: &Ciphertext<B>) -> Result<Ciphertext<B>> {
        match self {
            Stage::Encoded(e) => e.apply(eval, ct),
            Stage::Streamed {
                lt,
                level,
                pt_scale,
            } => {
                if ct.level < *level {
                    return Err(Error::LevelMismatch {
                        op: "bootstrapping transform (ciphertext below its level)",
                        left: ct.level,
                        right: *level,
                    });
                }
                let mut x = ct.clone();
                let extra = x.level - *level;
                if extra > 0 {
                    eval.drop_level_assign(&mut x, extra)?;
                }
                // double hoisting throughout: the same ciphertext as the encoded stage
                lt.apply_streaming_with(eval, &x, *pt_scale, false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circuits::bootstrap::BootstrapPreset;
    use crate::ckks::encoder::Encoder;

    fn bitrev(v: &[Complex64]) -> Vec<Complex64> {
        let n = v.len();
        let bits = n.trailing_zeros();
        (0..n)
            .map(|i| v[crate::math::bit_reverse(i, bits)])
            .collect()
    }

    #[test]
    fn factored_dft_matches_encoder() {
        let params = Params::new_insecure_for_tests(BootstrapPreset::test_tiny().params).unwrap();
        let enc = Encoder::new(params.log_n());
        for log_slots in [9u32, 5] {
            let mut cfg = BootstrapPreset::test_tiny().config;
            cfg.log_slots = log_slots;
            let n = cfg.slots();
            let gap = params.n() / (2 * n);
            let t = Transforms::new(&cfg, &params).unwrap();
            let u: Vec<Complex64> = (0..n)
                .map(|i| Complex64::new((i as f64 * 0.37).sin(), (i as f64 * 0.11).cos()))
                .collect();
            let mut coeffs = vec![0.0; params.n()];
            for i in 0..n {
                coeffs[i * gap] = u[i].re;
                coeffs[params.n() / 2 + i * gap] = u[i].im;
            }
            let mut z = vec![Complex64::new(0.0, 0.0); n];
            enc.coeffs_to_values(&coeffs, n, &mut z);
            // CoeffToSlot (float): z → bitrev(u) · c (sparse: [w | -i w])
            let mut w = z.clone();
            let kp = cfg.k as f64 + 0.5;
            for lt in &t.cts {
                if lt.slots() == 2 * n && w.len() == n {
                    w.extend_from_slice(&w.clone());
                }
                w = lt.apply_plain(&w);
            }
            let want = bitrev(&u);
            let c = 1.0 / (2.0 * gap as f64 * kp);
            for k in 0..n {
                assert!((w[k] - want[k] * c).norm() < 1e-12, "cts slot {k}");
            }
            // SlotToCoeff from bitrev(u) back to z
            let mut y: Vec<Complex64> = want.clone();
            if n < params.max_slots() {
                let mut yy: Vec<Complex64> =
                    want.iter().map(|z| Complex64::new(z.re, 0.0)).collect();
                yy.extend(want.iter().map(|z| Complex64::new(z.im, 0.0)));
                y = yy;
            }
            for lt in &t.stc {
                y = lt.apply_plain(&y);
                y.truncate(n);
                if lt.slots() > n {
                    // n-periodic output
                }
            }
            for k in 0..n {
                assert!(
                    (y[k] - z[k]).norm() < 1e-9,
                    "stc slot {k}: {} vs {}",
                    y[k],
                    z[k]
                );
            }
        }
    }
}
