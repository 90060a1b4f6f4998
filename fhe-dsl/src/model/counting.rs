//! [`CountingBackend`]: any backend, with every call counted by primitive and limb count.

use super::cost::Counts;
use crate::backend::{Backend, KeyDigits};
use crate::ring::{RingContext, RnsPoly};
use std::sync::{Arc, Mutex, MutexGuard};

/// A [`Backend`] that delegates every method to `B` and counts the calls it receives,
/// keyed by method name and limb count ([`Counts`]): the independent check of the cost
/// interpreter ([`cost()`](super::cost())), and a trace for device models.
///
/// **Convention**: coarse methods (`rescale`, `key_switch`, `relinearize_rescale`,
/// `hoisted_rotations`, …) are delegated to `B`'s own implementation — its fused kernel
/// or its default composition — and count once, as themselves: the finer calls a default
/// composition makes run on `B`, not on this wrapper, so they are not counted. Counts are
/// therefore taken at the trait boundary the evaluator and circuits call, the same for
/// every `B`.
///
/// The limb count is that of the operand the method works on: the destination for
/// element-wise methods, transforms and `automorphism_ntt` (its input); the input for
/// `rescale`, `div_round_by_tail` (before the division), `decompose_mod_up`,
/// `key_switch`, `base_convert`; `d2` for `relinearize_rescale`; `c1` for
/// `hoisted_rotations`; `c0` for `rotate_extended`; the digits (over `Q_l ∪ P`) for
/// `key_switch_inner`; `acc0` for `mul_add_terms`; the target primes for `zero`,
/// `select`, `keep_limbs` and `mod_raise`; both operands together for `concat`.
/// `hoisted_rotations` also adds its number of keys to `"hoisted_rotations.keys"`, and
/// `mul_add_terms` its number of terms to `"mul_add_terms.terms"`. `name`,
/// `synchronize` and `primes` are not counted.
///
/// Every method of [`Backend`] is overridden here; a method added to the trait later must
/// be added too, or its default composition would run on the wrapper and count its parts.
///
/// Clones share the counter. [`reset`](Self::reset) before the work to measure (after
/// key upload and encryption, say), [`counts`](Self::counts) after.
#[derive(Clone, Debug, Default)]
pub struct CountingBackend<B> {
    inner: B,
    counts: Arc<Mutex<Counts>>,
    key_uses: Arc<Mutex<Vec<usize>>>,
    name: Option<&'static str>,
}

impl<B: Backend> CountingBackend<B> {
    /// Wraps `inner`, with nothing counted.
    pub fn new(inner: B) -> Self {
        CountingBackend {
            inner,
            counts: Arc::default(),
            key_uses: Arc::default(),
            name: None,
        }
    }

    /// Reports `name` as its [`Backend::name`] instead of the wrapped backend's: a device
    /// model that prices these counts (the ASIC simulator) is a backend of its own in
    /// reports, while the arithmetic stays `inner`'s.
    pub fn named(mut self, name: &'static str) -> Self {
        self.name = Some(name);
        self
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// A snapshot of the counts so far.
    pub fn counts(&self) -> Counts {
        self.lock().clone()
    }

    /// Forgets every count and key use.
    pub fn reset(&self) {
        *self.lock() = Counts::new();
        self.key_log().clear();
    }

    /// The switching keys used so far, in order, each named by an identity that is
    /// equal for two uses of the same key object (its address while it lives): where a
    /// device model with a key cache finds reuse. Resets the log.
    pub fn take_key_uses(&self) -> Vec<usize> {
        std::mem::take(&mut *self.key_log())
    }

    fn key_log(&self) -> MutexGuard<'_, Vec<usize>> {
        self.key_uses.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn use_key(&self, key: &KeyDigits<B::Poly>) {
        self.key_log().push(key.as_ptr() as usize);
    }

    /// The counts so far, resetting them.
    pub fn take(&self) -> Counts {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        // a panic while counting leaves a valid map
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// With a [`named`](Self::named) wrapper, the inner backend's device errors name this
    /// backend: the one the caller chose and sees in reports.
    fn renamed<T>(&self, r: crate::Result<T>) -> crate::Result<T> {
        match (r, self.name) {
            (Err(crate::Error::Device { op, kind, .. }), Some(backend)) => {
                Err(crate::Error::Device { backend, op, kind })
            }
            (r, _) => r,
        }
    }

    fn count(&self, op: &'static str, limbs: usize) {
        self.lock().add(op, limbs, 1);
    }

    fn limbs(&self, p: &B::Poly) -> usize {
        self.inner.primes(p).len()
    }
}

impl<B: Backend> Backend for CountingBackend<B> {
    type Poly = B::Poly;

    fn name(&self) -> &'static str {
        self.name.unwrap_or_else(|| self.inner.name())
    }

    fn synchronize(&self) -> crate::Result<()> {
        self.renamed(self.inner.synchronize())
    }

    fn upload(&self, ctx: &RingContext, p: RnsPoly) -> crate::Result<Self::Poly> {
        self.count("upload", p.primes.len());
        self.renamed(self.inner.upload(ctx, p))
    }

    fn download(&self, ctx: &RingContext, p: &Self::Poly) -> crate::Result<RnsPoly> {
        self.count("download", self.limbs(p));
        self.renamed(self.inner.download(ctx, p))
    }

    fn zero(&self, ctx: &RingContext, primes: &[usize]) -> crate::Result<Self::Poly> {
        self.count("zero", primes.len());
        self.renamed(self.inner.zero(ctx, primes))
    }

    fn primes<'a>(&self, p: &'a Self::Poly) -> &'a [usize] {
        self.inner.primes(p)
    }

    fn select(
        &self,
        ctx: &RingContext,
        a: &Self::Poly,
        primes: &[usize],
    ) -> crate::Result<Self::Poly> {
        self.count("select", primes.len());
        self.renamed(self.inner.select(ctx, a, primes))
    }

    fn concat(
        &self,
        ctx: &RingContext,
        a: &Self::Poly,
        b: &Self::Poly,
    ) -> crate::Result<Self::Poly> {
        self.count("concat", self.limbs(a) + self.limbs(b));
        self.renamed(self.inner.concat(ctx, a, b))
    }

    fn keep_limbs(
        &self,
        ctx: &RingContext,
        a: &mut Self::Poly,
        primes: &[usize],
    ) -> crate::Result<()> {
        self.count("keep_limbs", primes.len());
        self.renamed(self.inner.keep_limbs(ctx, a, primes))
    }

    fn ntt(&self, ctx: &RingContext, a: &mut Self::Poly) -> crate::Result<()> {
        self.count("ntt", self.limbs(a));
        self.renamed(self.inner.ntt(ctx, a))
    }

    fn intt(&self, ctx: &RingContext, a: &mut Self::Poly) -> crate::Result<()> {
        self.count("intt", self.limbs(a));
        self.renamed(self.inner.intt(ctx, a))
    }

    fn add_assign(
        &self,
        ctx: &RingContext,
        a: &mut Self::Poly,
        b: &Self::Poly,
    ) -> crate::Result<()> {
        self.count("add_assign", self.limbs(a));
        self.renamed(self.inner.add_assign(ctx, a, b))
    }

    fn sub_assign(
        &self,
        ctx: &RingContext,
        a: &mut Self::Poly,
        b: &Self::Poly,
    ) -> crate::Result<()> {
        self.count("sub_assign", self.limbs(a));
        self.renamed(self.inner.sub_assign(ctx, a, b))
    }

    fn neg_assign(&self, ctx: &RingContext, a: &mut Self::Poly) -> crate::Result<()> {
        self.count("neg_assign", self.limbs(a));
        self.renamed(self.inner.neg_assign(ctx, a))
    }

    fn mul_assign(
        &self,
        ctx: &RingContext,
        a: &mut Self::Poly,
        b: &Self::Poly,
    ) -> crate::Result<()> {
        self.count("mul_assign", self.limbs(a));
        self.renamed(self.inner.mul_assign(ctx, a, b))
    }

    fn mul_add_assign(
        &self,
        ctx: &RingContext,
        acc: &mut Self::Poly,
        a: &Self::Poly,
        b: &Self::Poly,
    ) -> crate::Result<()> {
        self.count("mul_add_assign", self.limbs(acc));
        self.renamed(self.inner.mul_add_assign(ctx, acc, a, b))
    }

    fn mul_add_terms(
        &self,
        ctx: &RingContext,
        acc0: &mut Self::Poly,
        acc1: &mut Self::Poly,
        terms: &[(&Self::Poly, &Self::Poly, &Self::Poly)],
    ) -> crate::Result<()> {
        let l = self.limbs(acc0);
        {
            let mut c = self.lock();
            c.add("mul_add_terms", l, 1);
            c.add("mul_add_terms.terms", l, terms.len() as u64);
        }
        self.renamed(self.inner.mul_add_terms(ctx, acc0, acc1, terms))
    }

    fn mul_scalar_assign(
        &self,
        ctx: &RingContext,
        a: &mut Self::Poly,
        s: &[u64],
    ) -> crate::Result<()> {
        self.count("mul_scalar_assign", self.limbs(a));
        self.renamed(self.inner.mul_scalar_assign(ctx, a, s))
    }

    fn mul_scalar_add_assign(
        &self,
        ctx: &RingContext,
        acc: &mut Self::Poly,
        a: &Self::Poly,
        s: &[u64],
    ) -> crate::Result<()> {
        self.count("mul_scalar_add_assign", self.limbs(acc));
        self.renamed(self.inner.mul_scalar_add_assign(ctx, acc, a, s))
    }

    fn add_scalar_assign(
        &self,
        ctx: &RingContext,
        a: &mut Self::Poly,
        s: &[u64],
    ) -> crate::Result<()> {
        self.count("add_scalar_assign", self.limbs(a));
        self.renamed(self.inner.add_scalar_assign(ctx, a, s))
    }

    fn automorphism_ntt(
        &self,
        ctx: &RingContext,
        a: &Self::Poly,
        galois: usize,
        out: &mut Self::Poly,
    ) -> crate::Result<()> {
        self.count("automorphism_ntt", self.limbs(a));
        self.renamed(self.inner.automorphism_ntt(ctx, a, galois, out))
    }

    fn base_convert(
        &self,
        ctx: &RingContext,
        a: &Self::Poly,
        to: &[usize],
    ) -> crate::Result<Self::Poly> {
        self.count("base_convert", self.limbs(a));
        self.renamed(self.inner.base_convert(ctx, a, to))
    }

    fn div_round_by_tail(
        &self,
        ctx: &RingContext,
        a: &mut Self::Poly,
        tail: usize,
    ) -> crate::Result<()> {
        self.count("div_round_by_tail", self.limbs(a));
        self.renamed(self.inner.div_round_by_tail(ctx, a, tail))
    }

    fn rescale(&self, ctx: &RingContext, a: &mut Self::Poly, drop: usize) -> crate::Result<()> {
        self.count("rescale", self.limbs(a));
        self.renamed(self.inner.rescale(ctx, a, drop))
    }

    fn decompose_mod_up(
        &self,
        ctx: &RingContext,
        a: &Self::Poly,
        alpha: usize,
    ) -> crate::Result<Vec<Self::Poly>> {
        self.count("decompose_mod_up", self.limbs(a));
        self.renamed(self.inner.decompose_mod_up(ctx, a, alpha))
    }

    fn key_switch_inner(
        &self,
        ctx: &RingContext,
        digits: &[Self::Poly],
        key: &KeyDigits<Self::Poly>,
        galois: Option<usize>,
    ) -> crate::Result<(Self::Poly, Self::Poly)> {
        self.count(
            "key_switch_inner",
            digits.first().map_or(0, |d| self.limbs(d)),
        );
        self.use_key(key);
        self.renamed(self.inner.key_switch_inner(ctx, digits, key, galois))
    }

    fn key_switch(
        &self,
        ctx: &RingContext,
        a: &Self::Poly,
        key: &KeyDigits<Self::Poly>,
        alpha: usize,
        galois: Option<usize>,
    ) -> crate::Result<(Self::Poly, Self::Poly)> {
        self.count("key_switch", self.limbs(a));
        self.use_key(key);
        self.renamed(self.inner.key_switch(ctx, a, key, alpha, galois))
    }

    fn relinearize_rescale(
        &self,
        ctx: &RingContext,
        d0: &Self::Poly,
        d1: &Self::Poly,
        d2: &Self::Poly,
        key: &KeyDigits<Self::Poly>,
        alpha: usize,
        drop: usize,
    ) -> crate::Result<(Self::Poly, Self::Poly)> {
        self.count("relinearize_rescale", self.limbs(d2));
        self.use_key(key);
        self.renamed(
            self.inner
                .relinearize_rescale(ctx, d0, d1, d2, key, alpha, drop),
        )
    }

    fn mod_raise(
        &self,
        ctx: &RingContext,
        a: &Self::Poly,
        to: &[usize],
    ) -> crate::Result<Self::Poly> {
        self.count("mod_raise", to.len());
        self.renamed(self.inner.mod_raise(ctx, a, to))
    }

    fn rotate_extended(
        &self,
        ctx: &RingContext,
        c0: &Self::Poly,
        digits: &[Self::Poly],
        key: &KeyDigits<Self::Poly>,
        galois: usize,
    ) -> crate::Result<(Self::Poly, Self::Poly)> {
        self.count("rotate_extended", self.limbs(c0));
        self.use_key(key);
        self.renamed(self.inner.rotate_extended(ctx, c0, digits, key, galois))
    }

    fn hoisted_rotations(
        &self,
        ctx: &RingContext,
        c0: &Self::Poly,
        c1: &Self::Poly,
        keys: &[(usize, &KeyDigits<Self::Poly>)],
        alpha: usize,
    ) -> crate::Result<Vec<(Self::Poly, Self::Poly)>> {
        let l = self.limbs(c1);
        {
            let mut c = self.lock();
            c.add("hoisted_rotations", l, 1);
            c.add("hoisted_rotations.keys", l, keys.len() as u64);
        }
        for (_, key) in keys {
            self.use_key(key);
        }
        self.renamed(self.inner.hoisted_rotations(ctx, c0, c1, keys, alpha))
    }
}
