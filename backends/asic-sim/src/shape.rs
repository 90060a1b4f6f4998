//! [`ShapeBackend`]: a backend that tracks only each polynomial's primes. Every operation
//! is O(limbs) and computes nothing, so the real evaluator, bootstrapper and models run on
//! it to produce their exact call sequence — the cost-only mode for circuits that have
//! no closed-form count (bootstrapping), at N = 2^16 in seconds.

use fhe_dsl::backend::{operand_positions, Backend};
use fhe_dsl::ring::{RingContext, RnsPoly};

/// A polynomial's shape: its prime indices (no data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShapePoly {
    primes: Vec<usize>,
}

/// A [`Backend`] without arithmetic. Results have the primes the trait's contract gives
/// them; their values are unspecified (downloads are zero), so anything decrypted from it
/// is meaningless. Operand mismatches are still errors, as on a real backend.
#[derive(Clone, Copy, Debug, Default)]
pub struct ShapeBackend;

const NAME: &str = "shape";

fn fits(op: &'static str, dst: &[usize], src: &[usize]) -> fhe_dsl::Result<()> {
    operand_positions(NAME, op, dst, src).map(drop)
}

impl Backend for ShapeBackend {
    type Poly = ShapePoly;

    fn name(&self) -> &'static str {
        NAME
    }

    fn upload(&self, ctx: &RingContext, p: RnsPoly) -> fhe_dsl::Result<ShapePoly> {
        p.check_shape(ctx)?;
        Ok(ShapePoly { primes: p.primes })
    }

    fn download(&self, ctx: &RingContext, p: &ShapePoly) -> fhe_dsl::Result<RnsPoly> {
        Ok(RnsPoly::zero(ctx.n(), &p.primes))
    }

    fn zero(&self, _: &RingContext, primes: &[usize]) -> fhe_dsl::Result<ShapePoly> {
        Ok(ShapePoly {
            primes: primes.to_vec(),
        })
    }

    fn primes<'a>(&self, p: &'a ShapePoly) -> &'a [usize] {
        &p.primes
    }

    fn select(
        &self,
        _: &RingContext,
        a: &ShapePoly,
        primes: &[usize],
    ) -> fhe_dsl::Result<ShapePoly> {
        fits("select", primes, &a.primes)?;
        Ok(ShapePoly {
            primes: primes.to_vec(),
        })
    }

    fn concat(&self, _: &RingContext, a: &ShapePoly, b: &ShapePoly) -> fhe_dsl::Result<ShapePoly> {
        Ok(ShapePoly {
            primes: a.primes.iter().chain(&b.primes).copied().collect(),
        })
    }

    fn ntt(&self, _: &RingContext, _: &mut ShapePoly) -> fhe_dsl::Result<()> {
        Ok(())
    }

    fn intt(&self, _: &RingContext, _: &mut ShapePoly) -> fhe_dsl::Result<()> {
        Ok(())
    }

    fn add_assign(&self, _: &RingContext, a: &mut ShapePoly, b: &ShapePoly) -> fhe_dsl::Result<()> {
        fits("add_assign", &a.primes, &b.primes)
    }

    fn sub_assign(&self, _: &RingContext, a: &mut ShapePoly, b: &ShapePoly) -> fhe_dsl::Result<()> {
        fits("sub_assign", &a.primes, &b.primes)
    }

    fn neg_assign(&self, _: &RingContext, _: &mut ShapePoly) -> fhe_dsl::Result<()> {
        Ok(())
    }

    fn mul_assign(&self, _: &RingContext, a: &mut ShapePoly, b: &ShapePoly) -> fhe_dsl::Result<()> {
        fits("mul_assign", &a.primes, &b.primes)
    }

    fn mul_add_assign(
        &self,
        _: &RingContext,
        acc: &mut ShapePoly,
        a: &ShapePoly,
        b: &ShapePoly,
    ) -> fhe_dsl::Result<()> {
        fits("mul_add_assign", &acc.primes, &a.primes)?;
        fits("mul_add_assign", &acc.primes, &b.primes)
    }

    fn mul_scalar_assign(
        &self,
        _: &RingContext,
        _: &mut ShapePoly,
        _: &[u64],
    ) -> fhe_dsl::Result<()> {
        Ok(())
    }

    fn add_scalar_assign(
        &self,
        _: &RingContext,
        _: &mut ShapePoly,
        _: &[u64],
    ) -> fhe_dsl::Result<()> {
        Ok(())
    }

    fn automorphism_ntt(
        &self,
        _: &RingContext,
        a: &ShapePoly,
        _: usize,
        out: &mut ShapePoly,
    ) -> fhe_dsl::Result<()> {
        out.primes = a.primes.clone();
        Ok(())
    }

    fn base_convert(
        &self,
        _: &RingContext,
        _: &ShapePoly,
        to: &[usize],
    ) -> fhe_dsl::Result<ShapePoly> {
        Ok(ShapePoly {
            primes: to.to_vec(),
        })
    }
}
