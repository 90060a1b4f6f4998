//! EvalMod fitting (Lattigo's `mod1`): the polynomials that reduce the raised message
//! modulo `q0`, namely the scaled sine `sin(2πx)/(2π)` (or the cosine the double angles
//! start from) as a Chebyshev interpolant, and the optional arcsine correction.

use super::config::BootstrapConfig;
use crate::circuits::polynomial::ChebyshevPoly;
use crate::error::Result;

impl BootstrapConfig {
    /// The EvalMod polynomial: the sine `sin(2π (K+½) y) / (2π)` on `y ∈ [−1, 1]`
    /// (divided by the message bound when an arcsine correction follows, whose input it
    /// then is), or with `double_angle = r > 0` the cosine `cos((2π(K+½)y − π/2)/2^r)`
    /// the double angles start from.
    pub fn eval_mod_poly(&self) -> Result<ChebyshevPoly> {
        let kp = self.k as f64 + 0.5;
        let two_pi = std::f64::consts::TAU;
        if self.double_angle > 0 {
            let r = 2f64.powi(self.double_angle as i32);
            let quarter = std::f64::consts::FRAC_PI_2;
            return ChebyshevPoly::interpolate(
                |y| ((two_pi * kp * y - quarter) / r).cos(),
                -1.0,
                1.0,
                self.sine_degree,
            );
        }
        let div = if self.arcsine_degree > 0 {
            self.message_bound()
        } else {
            1.0
        };
        let p = ChebyshevPoly::interpolate(
            |y| (two_pi * kp * y).sin() / two_pi / div,
            -1.0,
            1.0,
            self.sine_degree,
        )?;
        Ok(odd_part(p))
    }

    /// The arcsine correction `arcsin(2π B t) / (2π)` on `t ∈ [−1, 1]` (B the message
    /// bound), if enabled: its Taylor polynomial of the configured (odd) degree, exact in
    /// its low-order terms so small messages keep their relative precision.
    pub fn arcsine_poly(&self) -> Result<Option<ChebyshevPoly>> {
        if self.arcsine_degree == 0 {
            return Ok(None);
        }
        let b = self.message_bound();
        let two_pi = std::f64::consts::TAU;
        let z = two_pi * b; // arcsin(z t) = Σ a_k (z t)^k
        let mut power = vec![0.0; self.arcsine_degree + 1];
        let mut a = 1.0; // (2k)! / (4^k (k!)^2 (2k+1))
        for k in 0..=(self.arcsine_degree - 1) / 2 {
            if k > 0 {
                a *= (2 * k - 1) as f64 / (2 * k) as f64;
            }
            power[2 * k + 1] = a / (2 * k + 1) as f64 * z.powi(2 * k as i32 + 1) / two_pi;
        }
        ChebyshevPoly::new(power_to_chebyshev(&power), -1.0, 1.0).map(Some)
    }

    /// Levels consumed by EvalMod (sine or cosine and double angles, optional arcsine).
    pub fn eval_mod_depth(&self) -> Result<usize> {
        Ok(self.eval_mod_poly()?.depth()
            + self.double_angle
            + self.arcsine_poly()?.map_or(0, |p| p.depth()))
    }
}

/// Converts power-basis coefficients to the Chebyshev basis (`t·T_j = (T_{j+1} + T_{|j−1|})/2`).
fn power_to_chebyshev(p: &[f64]) -> Vec<f64> {
    let n = p.len();
    let mut out = vec![0.0; n];
    // basis of t^k in Chebyshev form, built incrementally
    let mut tk = vec![0.0; n];
    tk[0] = 1.0;
    for (k, &pk) in p.iter().enumerate() {
        if k > 0 {
            let mut next = vec![0.0; n];
            for (j, &c) in tk.iter().enumerate() {
                if c == 0.0 {
                    continue;
                }
                if j == 0 {
                    next[1] += c;
                } else {
                    if j + 1 < n {
                        next[j + 1] += c / 2.0;
                    }
                    next[j - 1] += c / 2.0;
                }
            }
            tk = next;
        }
        for j in 0..n {
            out[j] += pk * tk[j];
        }
    }
    out
}

/// Keeps the odd coefficients only (the functions are odd; interpolation leaves ~1e-17
/// residues in the even ones, which would cost multiplications).
fn odd_part(mut p: ChebyshevPoly) -> ChebyshevPoly {
    for (i, c) in p.coeffs.iter_mut().enumerate() {
        if i % 2 == 0 {
            *c = 0.0;
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use crate::circuits::bootstrap::BootstrapPreset;
    use crate::ckks::Params;

    #[test]
    fn eval_mod_polynomial_is_accurate() {
        let cfg = BootstrapPreset::n16().config;
        let p = cfg.eval_mod_poly().unwrap();
        let kp = cfg.k as f64 + 0.5;
        let mut cfg_asin = BootstrapPreset::test_tiny().config;
        cfg_asin.k = cfg.k;
        assert_eq!(cfg_asin.eval_mod_depth().unwrap(), 9);
        // sine then arcsine recovers x − round(x) within the message bound
        let (s, a) = (
            cfg_asin.eval_mod_poly().unwrap(),
            cfg_asin.arcsine_poly().unwrap().unwrap(),
        );
        for i in 0..2000 {
            let frac = cfg_asin.message_bound() * (-1.0 + 2.0 * i as f64 / 1999.0);
            let x = 7.0 + frac;
            let got = a.evaluate(s.evaluate(x / kp));
            let rel = ((got - frac) / frac).abs();
            let bar = if frac.abs() <= cfg_asin.message_bound() / 8.0 {
                2f64.powi(-27)
            } else {
                2f64.powi(-16)
            };
            assert!(rel < bar, "frac {frac}: got {got}, relative error {rel:e}");
        }
        let tau = std::f64::consts::TAU;
        let mut worst = 0.0f64;
        for i in 0..20000 {
            let y = -1.0 + 2.0 * i as f64 / 19999.0;
            let want = (tau * kp * y).sin() / tau;
            worst = worst.max((p.evaluate(y) - want).abs());
        }
        assert!(
            worst < 2f64.powi(-45),
            "sine interpolation error 2^{:.1}",
            worst.log2()
        );
        assert_eq!(cfg.eval_mod_depth().unwrap(), 7);
        // double angles: a degree-31 cosine and 3 steps give the same sine, each step at
        // most quadrupling the error
        let mut da = cfg.clone();
        da.double_angle = 3;
        da.sine_degree = 31;
        let c0 = da.eval_mod_poly().unwrap();
        let mut worst = 0.0f64;
        for i in 0..20000 {
            let y = -1.0 + 2.0 * i as f64 / 19999.0;
            let mut c = c0.evaluate(y);
            for _ in 0..da.double_angle {
                c = 2.0 * c * c - 1.0;
            }
            worst = worst.max((c / tau - (tau * kp * y).sin() / tau).abs());
        }
        assert!(
            worst < 2f64.powi(-36),
            "double-angle error 2^{:.1}",
            worst.log2()
        );
        assert_eq!(da.eval_mod_depth().unwrap(), 6 + 3);
        da.arcsine_degree = 3;
        assert!(da
            .validate(&Params::new(BootstrapPreset::n16().params).unwrap())
            .is_err());
    }
}
