//! The reference backend: plain scalar loops over host memory, single-threaded.
//!
//! It is the executable specification of the [`Backend`] conventions: short, obviously
//! correct, slow. The conformance suite checks every other backend against it bit for bit.

use super::{check_degree, check_scalars, invalid, operand_positions, Backend};
use crate::math::{automorphism_ntt_map, Modulus};
use crate::ring::{RingContext, RnsPoly};
use crate::Result;

/// See the [module docs](self).
#[derive(Clone, Copy, Debug, Default)]
pub struct ReferenceBackend;

const NAME: &str = "reference";

/// Checks that `b` can serve as the source of an element-wise `op` on `a`: same degree,
/// every prime of `a` present. Returns the positions.
fn operand(op: &'static str, a: &RnsPoly, b: &RnsPoly) -> Result<Vec<usize>> {
    check_degree(NAME, op, a.n, b.n)?;
    operand_positions(NAME, op, &a.primes, &b.primes)
}

fn zip_limbs(
    ctx: &RingContext,
    op: &'static str,
    a: &mut RnsPoly,
    b: &RnsPoly,
    f: impl Fn(&Modulus, &mut u64, u64),
) -> Result<()> {
    let pos = operand(op, a, b)?;
    let n = a.n;
    for (i, (&p, &j)) in a.primes.clone().iter().zip(&pos).enumerate() {
        let m = ctx.modulus(p);
        let bl = &b.data[j * n..(j + 1) * n];
        for (x, &y) in a.data[i * n..(i + 1) * n].iter_mut().zip(bl) {
            f(m, x, y);
        }
    }
    Ok(())
}

impl Backend for ReferenceBackend {
    type Poly = RnsPoly;

    fn name(&self) -> &'static str {
        NAME
    }

    fn upload(&self, ctx: &RingContext, p: RnsPoly) -> Result<RnsPoly> {
        p.check_shape(ctx)?;
        Ok(p)
    }

    fn download(&self, _ctx: &RingContext, p: &RnsPoly) -> Result<RnsPoly> {
        Ok(p.clone())
    }

    fn zero(&self, ctx: &RingContext, primes: &[usize]) -> Result<RnsPoly> {
        Ok(RnsPoly::zero(ctx.n(), primes))
    }

    fn primes<'a>(&self, p: &'a RnsPoly) -> &'a [usize] {
        &p.primes
    }

    fn select(&self, _ctx: &RingContext, a: &RnsPoly, primes: &[usize]) -> Result<RnsPoly> {
        operand_positions(NAME, "select", primes, &a.primes)?;
        Ok(a.select(primes))
    }

    fn concat(&self, _ctx: &RingContext, a: &RnsPoly, b: &RnsPoly) -> Result<RnsPoly> {
        check_degree(NAME, "concat", a.n, b.n)?;
        Ok(a.concat(b))
    }

    fn ntt(&self, ctx: &RingContext, a: &mut RnsPoly) -> Result<()> {
        for (i, p) in a.primes.clone().into_iter().enumerate() {
            ctx.ntt_table(p).forward(a.limb_mut(i));
        }
        Ok(())
    }

    fn intt(&self, ctx: &RingContext, a: &mut RnsPoly) -> Result<()> {
        for (i, p) in a.primes.clone().into_iter().enumerate() {
            ctx.ntt_table(p).inverse(a.limb_mut(i));
        }
        Ok(())
    }

    fn add_assign(&self, ctx: &RingContext, a: &mut RnsPoly, b: &RnsPoly) -> Result<()> {
        zip_limbs(ctx, "add_assign", a, b, |m, x, y| *x = m.add(*x, y))
    }

    fn sub_assign(&self, ctx: &RingContext, a: &mut RnsPoly, b: &RnsPoly) -> Result<()> {
        zip_limbs(ctx, "sub_assign", a, b, |m, x, y| *x = m.sub(*x, y))
    }

    fn neg_assign(&self, ctx: &RingContext, a: &mut RnsPoly) -> Result<()> {
        for (i, p) in a.primes.clone().into_iter().enumerate() {
            let m = ctx.modulus(p);
            a.limb_mut(i).iter_mut().for_each(|x| *x = m.neg(*x));
        }
        Ok(())
    }

    fn mul_assign(&self, ctx: &RingContext, a: &mut RnsPoly, b: &RnsPoly) -> Result<()> {
        zip_limbs(ctx, "mul_assign", a, b, |m, x, y| *x = m.mul(*x, y))
    }

    fn mul_add_assign(
        &self,
        ctx: &RingContext,
        acc: &mut RnsPoly,
        a: &RnsPoly,
        b: &RnsPoly,
    ) -> Result<()> {
        operand("mul_add_assign", acc, a)?;
        operand("mul_add_assign", acc, b)?;
        let mut prod = self.select(ctx, a, &acc.primes)?;
        self.mul_assign(ctx, &mut prod, b)?;
        self.add_assign(ctx, acc, &prod)
    }

    fn mul_scalar_assign(&self, ctx: &RingContext, a: &mut RnsPoly, s: &[u64]) -> Result<()> {
        check_scalars(NAME, "mul_scalar_assign", s.len(), a.primes.len())?;
        for (i, p) in a.primes.clone().into_iter().enumerate() {
            let m = ctx.modulus(p);
            a.limb_mut(i).iter_mut().for_each(|x| *x = m.mul(*x, s[i]));
        }
        Ok(())
    }

    fn add_scalar_assign(&self, ctx: &RingContext, a: &mut RnsPoly, s: &[u64]) -> Result<()> {
        check_scalars(NAME, "add_scalar_assign", s.len(), a.primes.len())?;
        for (i, p) in a.primes.clone().into_iter().enumerate() {
            let m = ctx.modulus(p);
            a.limb_mut(i).iter_mut().for_each(|x| *x = m.add(*x, s[i]));
        }
        Ok(())
    }

    fn automorphism_ntt(
        &self,
        _ctx: &RingContext,
        a: &RnsPoly,
        galois: usize,
        out: &mut RnsPoly,
    ) -> Result<()> {
        if galois.is_multiple_of(2) {
            return Err(invalid(
                NAME,
                "automorphism_ntt",
                format!("Galois element {galois} is even"),
            ));
        }
        let map = automorphism_ntt_map(a.n.trailing_zeros(), galois);
        *out = RnsPoly::zero(a.n, &a.primes);
        for i in 0..a.primes.len() {
            let src = a.limb(i).to_vec();
            for (o, &j) in out.limb_mut(i).iter_mut().zip(&map) {
                *o = src[j as usize];
            }
        }
        Ok(())
    }

    fn base_convert(&self, ctx: &RingContext, a: &RnsPoly, to: &[usize]) -> Result<RnsPoly> {
        let t = ctx.base_conv(&a.primes, to);
        let mut out = RnsPoly::zero(a.n, to);
        let from = a.primes.len();
        for k in 0..a.n {
            let ys: Vec<u64> = (0..from)
                .map(|i| ctx.modulus(a.primes[i]).mul(a.limb(i)[k], t.qhat_inv[i]))
                .collect();
            for (j, &pj) in to.iter().enumerate() {
                let m = ctx.modulus(pj);
                let mut acc = 0u64;
                for (i, &y) in ys.iter().enumerate() {
                    acc = m.add(acc, m.mul(m.reduce(y), t.qhat_mod_p[j * from + i]));
                }
                out.limb_mut(j)[k] = acc;
            }
        }
        Ok(out)
    }
}
