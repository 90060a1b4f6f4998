//! The `Backend` trait: the only door to a device.
//!
//! A backend owns polynomial data (`Self::Poly`: host memory for the CPU, device memory
//! for a GPU) and implements a small set of primitives: transfers, NTTs, element-wise
//! modular arithmetic, automorphisms and fast basis conversion. Coarse operations —
//! rescale, ModUp/ModDown, the key-switching inner product, hoisted rotations — have
//! default implementations composed from the primitives, so a new backend is correct as
//! soon as its primitives are; it overrides the coarse ones with fused kernels to be fast.
//!
//! Conventions every implementation follows (the [`reference`](mod@reference) backend is their
//! executable specification, and [`conformance`](crate::backend_conformance_tests) checks
//! them bit for bit):
//! - a polynomial lives over a list of prime indices of its [`RingContext`]; element-wise
//!   operations run over the *destination's* primes, and each source operand must contain
//!   those primes (it may hold more, e.g. a key over Q·P used at a lower level);
//! - NTT form follows [`crate::math::NttTable`] (bit-reversed evaluation order);
//! - all outputs are fully reduced in `[0, q)`.

pub mod reference;

use crate::ring::{RingContext, RnsPoly};

/// A switching key as the backend sees it: one `(b_j, a_j)` pair per digit, over Q_L·P,
/// in NTT form.
pub type KeyDigits<P> = [(P, P)];

/// A compute device for RNS polynomial arithmetic. See the [module docs](self).
///
/// # Errors
///
/// Every operation that touches polynomial data returns [`crate::Result`] (as candle's
/// `BackendStorage` does): a device that runs out of memory, a driver fault or a lost
/// device is an [`Error::Device`](crate::Error::Device) naming the backend, the operation
/// and its [`DeviceErrorKind`](crate::DeviceErrorKind), which the evaluator passes on to
/// the caller with `?`. Operands that do not fit (ring degrees differ, a prime the source
/// lacks) may be reported as [`DeviceErrorKind::InvalidInput`](crate::DeviceErrorKind)
/// where the check is cheap; they are bugs of the caller, never of user data, because
/// everything a user hands in crosses [`upload`](Self::upload), which checks it. After an
/// error the outputs of the failed call hold unspecified (but initialised) words. Only
/// [`name`](Self::name) and [`primes`](Self::primes), which read no device data, cannot
/// fail.
pub trait Backend: Send + Sync + 'static {
    /// Device-resident RNS polynomial.
    type Poly: Clone + Send + Sync + std::fmt::Debug;

    /// Short name for reports ("cpu", "gpu", ...).
    fn name(&self) -> &'static str;

    /// Blocks until all work queued on the device has finished. Host backends run
    /// synchronously (the default does nothing); timing code calls this before reading
    /// the clock. A fault of earlier asynchronous work is returned here.
    fn synchronize(&self) -> crate::Result<()> {
        Ok(())
    }

    // ---- transfers and allocation -------------------------------------------------

    /// Moves a host polynomial to the device. Errors (never reads past the data) when the
    /// polynomial does not fit `ctx` ([`RnsPoly::check_shape`]) or the device fails
    /// (out of memory, a driver fault): [`Error::Malformed`](crate::Error::Malformed),
    /// [`Error::Device`](crate::Error::Device).
    fn upload(&self, ctx: &RingContext, p: RnsPoly) -> crate::Result<Self::Poly>;
    /// Copies a device polynomial back to the host; a device fault (including one left by
    /// earlier asynchronous work) is an [`Error::Device`](crate::Error::Device).
    fn download(&self, ctx: &RingContext, p: &Self::Poly) -> crate::Result<RnsPoly>;
    /// The zero polynomial over `primes`.
    fn zero(&self, ctx: &RingContext, primes: &[usize]) -> crate::Result<Self::Poly>;
    /// The prime indices of `p`, in limb order.
    fn primes<'a>(&self, p: &'a Self::Poly) -> &'a [usize];
    /// A copy of the limbs of `a` for `primes` (each must be in `a`).
    fn select(
        &self,
        ctx: &RingContext,
        a: &Self::Poly,
        primes: &[usize],
    ) -> crate::Result<Self::Poly>;
    /// Concatenates the limbs of `a` and `b` (disjoint prime sets).
    fn concat(
        &self,
        ctx: &RingContext,
        a: &Self::Poly,
        b: &Self::Poly,
    ) -> crate::Result<Self::Poly>;
    /// Keeps only the limbs of `a` for `primes` (each must be in `a`): a level drop. The
    /// default copies them ([`select`](Self::select)); a backend may truncate in place
    /// when they are a prefix.
    fn keep_limbs(
        &self,
        ctx: &RingContext,
        a: &mut Self::Poly,
        primes: &[usize],
    ) -> crate::Result<()> {
        *a = self.select(ctx, a, primes)?;
        Ok(())
    }

    // ---- transforms -----------------------------------------------------------------

    /// Forward negacyclic NTT of every limb.
    fn ntt(&self, ctx: &RingContext, a: &mut Self::Poly) -> crate::Result<()>;
    /// Inverse negacyclic NTT of every limb (including the N^-1 factor).
    fn intt(&self, ctx: &RingContext, a: &mut Self::Poly) -> crate::Result<()>;

    // ---- element-wise -----------------------------------------------------------------

    /// `a += b`.
    fn add_assign(
        &self,
        ctx: &RingContext,
        a: &mut Self::Poly,
        b: &Self::Poly,
    ) -> crate::Result<()>;
    /// `a -= b`.
    fn sub_assign(
        &self,
        ctx: &RingContext,
        a: &mut Self::Poly,
        b: &Self::Poly,
    ) -> crate::Result<()>;
    /// `a = -a`.
    fn neg_assign(&self, ctx: &RingContext, a: &mut Self::Poly) -> crate::Result<()>;
    /// `a *= b` point-wise (NTT-form product).
    fn mul_assign(
        &self,
        ctx: &RingContext,
        a: &mut Self::Poly,
        b: &Self::Poly,
    ) -> crate::Result<()>;
    /// `acc += a * b` point-wise.
    fn mul_add_assign(
        &self,
        ctx: &RingContext,
        acc: &mut Self::Poly,
        a: &Self::Poly,
        b: &Self::Poly,
    ) -> crate::Result<()>;
    /// `acc0 += Σ_t a_t ⊙ w_t` and `acc1 += Σ_t b_t ⊙ w_t` over the terms `(w_t, a_t, b_t)`:
    /// the plaintext-times-ciphertext sums of a linear transform, both parts at once.
    /// `acc0` and `acc1` share their primes; every source must contain them. The default
    /// is a loop of [`mul_add_assign`](Self::mul_add_assign); a fused kernel reads each
    /// operand once and reduces each word once.
    fn mul_add_terms(
        &self,
        ctx: &RingContext,
        acc0: &mut Self::Poly,
        acc1: &mut Self::Poly,
        terms: &[(&Self::Poly, &Self::Poly, &Self::Poly)],
    ) -> crate::Result<()> {
        mul_add_terms_composed(self, ctx, acc0, acc1, terms)
    }
    /// `a *= s[i]` on limb `i` (`s` in `a`'s limb order, each `< q_i`).
    fn mul_scalar_assign(
        &self,
        ctx: &RingContext,
        a: &mut Self::Poly,
        s: &[u64],
    ) -> crate::Result<()>;
    /// `acc += a · s[i]` on limb `i` (over `acc`'s primes, `s` in `acc`'s limb order,
    /// each `< q_i`; `a` must contain those primes). The default goes through a copy.
    fn mul_scalar_add_assign(
        &self,
        ctx: &RingContext,
        acc: &mut Self::Poly,
        a: &Self::Poly,
        s: &[u64],
    ) -> crate::Result<()> {
        mul_scalar_add_composed(self, ctx, acc, a, s)
    }
    /// `a += s[i]` on every word of limb `i` (in NTT form: adds a constant polynomial).
    fn add_scalar_assign(
        &self,
        ctx: &RingContext,
        a: &mut Self::Poly,
        s: &[u64],
    ) -> crate::Result<()>;

    /// `out = σ_g(a)` in NTT form, for odd Galois element `g` (`out` over `a`'s primes).
    fn automorphism_ntt(
        &self,
        ctx: &RingContext,
        a: &Self::Poly,
        galois: usize,
        out: &mut Self::Poly,
    ) -> crate::Result<()>;

    /// Fast basis conversion of a coefficient-form `a` to the primes `to`:
    /// `y_j = Σ_i [a_i · qhat_i^-1]_{q_i} · qhat_i mod p_j` (result ≡ a + u·Q_a, 0 ≤ u < #limbs).
    fn base_convert(
        &self,
        ctx: &RingContext,
        a: &Self::Poly,
        to: &[usize],
    ) -> crate::Result<Self::Poly>;

    // ---- coarse operations with composed defaults ----------------------------------

    /// Divides an NTT-form `a` by the product T of its last `tail` primes, rounding
    /// (`⌊(x + (T-1)/2) / T⌋`, exact for one prime, within `tail` otherwise), and
    /// drops those limbs: the common core of rescale (T = the last level's primes) and
    /// ModDown (T = P).
    fn div_round_by_tail(
        &self,
        ctx: &RingContext,
        a: &mut Self::Poly,
        tail: usize,
    ) -> crate::Result<()> {
        let primes = self.primes(a).to_vec();
        check_tail(self.name(), "div_round_by_tail", tail, primes.len())?;
        let (keep, drop) = primes.split_at(primes.len() - tail);
        let c = tail_constants(ctx, keep, drop);
        let mut t = self.select(ctx, a, drop)?;
        self.intt(ctx, &mut t)?;
        self.add_scalar_assign(ctx, &mut t, &c.half_tail)?;
        let mut conv = self.base_convert(ctx, &t, keep)?;
        // back to [x]_T (a representative) by removing the half in coefficient form
        self.add_scalar_assign(ctx, &mut conv, &c.neg_half_keep)?;
        self.ntt(ctx, &mut conv)?;
        let mut out = self.select(ctx, a, keep)?;
        self.sub_assign(ctx, &mut out, &conv)?;
        self.mul_scalar_assign(ctx, &mut out, &c.inv_keep)?;
        *a = out;
        Ok(())
    }

    /// Rescale: divides an NTT-form polynomial over Q primes by its last `drop` primes.
    fn rescale(&self, ctx: &RingContext, a: &mut Self::Poly, drop: usize) -> crate::Result<()> {
        self.div_round_by_tail(ctx, a, drop)
    }

    /// Hybrid-key-switching decomposition: splits NTT-form `a` (over Q primes `0..l`) into
    /// digits of `alpha` primes and raises each to `Q_l ∪ P` (NTT form).
    fn decompose_mod_up(
        &self,
        ctx: &RingContext,
        a: &Self::Poly,
        alpha: usize,
    ) -> crate::Result<Vec<Self::Poly>> {
        let q_primes = self.primes(a).to_vec();
        let p: Vec<usize> = ctx.p_indices().collect();
        q_primes
            .chunks(alpha)
            .map(|digit| {
                let mut coeff = self.select(ctx, a, digit)?;
                self.intt(ctx, &mut coeff)?;
                let others: Vec<usize> = q_primes
                    .iter()
                    .chain(&p)
                    .copied()
                    .filter(|i| !digit.contains(i))
                    .collect();
                let mut raised = self.base_convert(ctx, &coeff, &others)?;
                self.ntt(ctx, &mut raised)?;
                let own = self.select(ctx, a, digit)?;
                let full = self.concat(ctx, &own, &raised)?;
                let order: Vec<usize> = q_primes.iter().chain(&p).copied().collect();
                self.select(ctx, &full, &order)
            })
            .collect()
    }

    /// Key-switching inner product `(Σ_j σ(d_j)·b_j, Σ_j σ(d_j)·a_j)` over `Q_l ∪ P`,
    /// where σ is the automorphism for `galois` (identity when `None`).
    fn key_switch_inner(
        &self,
        ctx: &RingContext,
        digits: &[Self::Poly],
        key: &KeyDigits<Self::Poly>,
        galois: Option<usize>,
    ) -> crate::Result<(Self::Poly, Self::Poly)> {
        check_digits(self.name(), "key_switch_inner", digits.len(), key.len())?;
        let primes = self.primes(&digits[0]).to_vec();
        let mut acc0 = self.zero(ctx, &primes)?;
        let mut acc1 = self.zero(ctx, &primes)?;
        let mut tmp = self.zero(ctx, &primes)?;
        for (d, (b, a)) in digits.iter().zip(key) {
            let d = match galois {
                Some(g) => {
                    self.automorphism_ntt(ctx, d, g, &mut tmp)?;
                    &tmp
                }
                None => d,
            };
            self.mul_add_assign(ctx, &mut acc0, d, b)?;
            self.mul_add_assign(ctx, &mut acc1, d, a)?;
        }
        Ok((acc0, acc1))
    }

    /// Full key switch of NTT-form `a` (over Q_l): returns `(u0, u1)` over Q_l with
    /// `u0 + u1·s ≈ σ(a)·s'` for the key from s' to s.
    fn key_switch(
        &self,
        ctx: &RingContext,
        a: &Self::Poly,
        key: &KeyDigits<Self::Poly>,
        alpha: usize,
        galois: Option<usize>,
    ) -> crate::Result<(Self::Poly, Self::Poly)> {
        let digits = self.decompose_mod_up(ctx, a, alpha)?;
        let (mut u0, mut u1) = self.key_switch_inner(ctx, &digits, key, galois)?;
        let k = ctx.num_p();
        self.div_round_by_tail(ctx, &mut u0, k)?;
        self.div_round_by_tail(ctx, &mut u1, k)?;
        Ok((u0, u1))
    }

    /// Relinearisation followed by a rescale. For a degree-2 ciphertext `(d0, d1, d2)`
    /// over `Q_l` (NTT form) returns `(c0, c1)` over `Q_l` without its last `drop`
    /// primes: exactly [`key_switch`](Self::key_switch) of `d2`, added to `(d0, d1)`,
    /// then [`div_round_by_tail`](Self::div_round_by_tail) by `drop`. A backend can fuse
    /// the two divisions (the CPU backend takes one NTT per output limb instead of two,
    /// by linearity of the NTT) but must return the same words.
    #[allow(clippy::too_many_arguments)]
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
        relinearize_rescale_composed(self, ctx, d0, d1, d2, key, alpha, drop)
    }

    /// ModRaise (bootstrapping): lifts an NTT-form polynomial over one prime `q` to the
    /// primes `to` (NTT form), using the centered representative in `(-q/2, q/2]` of
    /// each coefficient.
    fn mod_raise(
        &self,
        ctx: &RingContext,
        a: &Self::Poly,
        to: &[usize],
    ) -> crate::Result<Self::Poly> {
        let from = self.primes(a).to_vec();
        if from.len() != 1 {
            return Err(invalid(
                self.name(),
                "mod_raise",
                format!("takes a one-prime polynomial, got {} primes", from.len()),
            ));
        }
        let m = ctx.modulus(from[0]);
        let half = (m.value() - 1) / 2;
        let mut coeff = self.select(ctx, a, &from)?;
        self.intt(ctx, &mut coeff)?;
        // x + half lies in [0, q): its exact lift, then remove half in the target primes
        self.add_scalar_assign(ctx, &mut coeff, &[half])?;
        let mut out = self.base_convert(ctx, &coeff, to)?;
        let neg_half: Vec<u64> = to
            .iter()
            .map(|&i| ctx.modulus(i).neg(ctx.modulus(i).reduce(half)))
            .collect();
        self.add_scalar_assign(ctx, &mut out, &neg_half)?;
        self.ntt(ctx, &mut out)?;
        Ok(out)
    }

    /// One rotation kept in the extended basis `Q_l ∪ P` (double hoisting): for the
    /// raised digits of `c1` ([`decompose_mod_up`](Self::decompose_mod_up)) and the Galois
    /// element `galois`, returns `(u0 + P·σ(c0), u1)` over `Q_l ∪ P`, where `(u0, u1)` is
    /// the [`key_switch_inner`](Self::key_switch_inner) product and `P·σ(c0)` has zero P
    /// limbs. ModDown ([`div_round_by_tail`](Self::div_round_by_tail) by `num_p`) of each
    /// part gives exactly the rotation [`hoisted_rotations`](Self::hoisted_rotations)
    /// returns; linear combinations may be taken before that one ModDown.
    fn rotate_extended(
        &self,
        ctx: &RingContext,
        c0: &Self::Poly,
        digits: &[Self::Poly],
        key: &KeyDigits<Self::Poly>,
        galois: usize,
    ) -> crate::Result<(Self::Poly, Self::Poly)> {
        rotate_extended_composed(self, ctx, c0, digits, key, galois)
    }

    /// Rotations of one ciphertext `(c0, c1)` by several Galois elements sharing one
    /// decomposition (hoisting). Returns the rotated ciphertexts in the order of `keys`.
    fn hoisted_rotations(
        &self,
        ctx: &RingContext,
        c0: &Self::Poly,
        c1: &Self::Poly,
        keys: &[(usize, &KeyDigits<Self::Poly>)],
        alpha: usize,
    ) -> crate::Result<Vec<(Self::Poly, Self::Poly)>> {
        let digits = self.decompose_mod_up(ctx, c1, alpha)?;
        let k = ctx.num_p();
        keys.iter()
            .map(|&(g, key)| {
                let (mut u0, mut u1) = self.key_switch_inner(ctx, &digits, key, Some(g))?;
                self.div_round_by_tail(ctx, &mut u0, k)?;
                self.div_round_by_tail(ctx, &mut u1, k)?;
                let mut r0 = self.zero(ctx, self.primes(c0))?;
                self.automorphism_ntt(ctx, c0, g, &mut r0)?;
                self.add_assign(ctx, &mut u0, &r0)?;
                Ok((u0, u1))
            })
            .collect()
    }
}

/// An [`Error::Device`](crate::Error::Device) of kind
/// [`InvalidInput`](crate::DeviceErrorKind::InvalidInput): operands that do not fit `op`.
pub fn invalid(backend: &'static str, op: &'static str, what: String) -> crate::Error {
    crate::Error::device(backend, op, crate::DeviceErrorKind::InvalidInput(what))
}

/// Checks that a division by the last `tail` of `limbs` primes keeps at least one.
pub fn check_tail(
    backend: &'static str,
    op: &'static str,
    tail: usize,
    limbs: usize,
) -> crate::Result<()> {
    if tail >= 1 && tail < limbs {
        Ok(())
    } else {
        Err(invalid(
            backend,
            op,
            format!("dividing by the last {tail} primes of a {limbs}-limb polynomial (needs 1 ≤ tail < limbs)"),
        ))
    }
}

/// Checks that a key-switching key has a `(b, a)` pair for each of `digits` (at least one).
pub fn check_digits(
    backend: &'static str,
    op: &'static str,
    digits: usize,
    key: usize,
) -> crate::Result<()> {
    if digits >= 1 && digits <= key {
        Ok(())
    } else {
        Err(invalid(
            backend,
            op,
            format!("{digits} digits for a key with {key} (needs 1 ≤ digits ≤ key digits)"),
        ))
    }
}

/// Checks that two operands share their ring degree.
pub fn check_degree(
    backend: &'static str,
    op: &'static str,
    a: usize,
    b: usize,
) -> crate::Result<()> {
    if a == b {
        Ok(())
    } else {
        Err(invalid(
            backend,
            op,
            format!("ring degrees differ: {a} and {b}"),
        ))
    }
}

/// Position in `src` of each prime of `dst` (as [`limb_positions`](crate::ring::limb_positions)),
/// or an [`InvalidInput`](crate::DeviceErrorKind::InvalidInput) error naming the first
/// prime `src` lacks.
pub fn operand_positions(
    backend: &'static str,
    op: &'static str,
    dst: &[usize],
    src: &[usize],
) -> crate::Result<Vec<usize>> {
    if src.len() >= dst.len() && &src[..dst.len()] == dst {
        return Ok((0..dst.len()).collect());
    }
    dst.iter()
        .map(|p| {
            src.iter().position(|x| x == p).ok_or_else(|| {
                invalid(
                    backend,
                    op,
                    format!("operand lacks prime index {p} (has {src:?})"),
                )
            })
        })
        .collect()
}

/// Checks that a list of per-limb scalars covers `limbs` limbs.
pub fn check_scalars(
    backend: &'static str,
    op: &'static str,
    scalars: usize,
    limbs: usize,
) -> crate::Result<()> {
    if scalars >= limbs {
        Ok(())
    } else {
        Err(invalid(
            backend,
            op,
            format!("{scalars} scalars for {limbs} limbs (one per limb)"),
        ))
    }
}

/// Scalars for dividing by the product T of `drop` primes while keeping `keep`.
pub struct TailConstants {
    /// `(T-1)/2 mod t` for each dropped prime t.
    pub half_tail: Vec<u64>,
    /// `-(T-1)/2 mod q` for each kept prime q.
    pub neg_half_keep: Vec<u64>,
    /// `T^-1 mod q` for each kept prime q.
    pub inv_keep: Vec<u64>,
}

/// Computes [`TailConstants`] (scalar, cheap).
pub fn tail_constants(ctx: &RingContext, keep: &[usize], drop: &[usize]) -> TailConstants {
    let prod_mod = |i: usize| {
        let m = ctx.modulus(i);
        drop.iter()
            .fold(1u64, |acc, &j| m.mul(acc, m.reduce(ctx.modulus(j).value())))
    };
    // (T - 1)/2 mod m  ==  (T mod m - 1) * 2^-1 mod m   (T odd)
    let half = |i: usize| {
        let m = ctx.modulus(i);
        m.mul(m.sub(prod_mod(i), 1), m.inv(2).expect("odd prime"))
    };
    TailConstants {
        half_tail: drop.iter().map(|&i| half(i)).collect(),
        neg_half_keep: keep.iter().map(|&i| ctx.modulus(i).neg(half(i))).collect(),
        inv_keep: keep
            .iter()
            .map(|&i| ctx.modulus(i).inv(prod_mod(i)).expect("distinct primes"))
            .collect(),
    }
}

/// [`Backend::mul_add_terms`] composed from [`Backend::mul_add_assign`] (the default;
/// public so that a backend overriding it can still time or check against it).
pub fn mul_add_terms_composed<B: Backend + ?Sized>(
    b: &B,
    ctx: &RingContext,
    acc0: &mut B::Poly,
    acc1: &mut B::Poly,
    terms: &[(&B::Poly, &B::Poly, &B::Poly)],
) -> crate::Result<()> {
    for &(w, x, y) in terms {
        b.mul_add_assign(ctx, acc0, x, w)?;
        b.mul_add_assign(ctx, acc1, y, w)?;
    }
    Ok(())
}

/// [`Backend::rotate_extended`] composed from the primitives (the default; public so
/// that a backend overriding it can still time or check against it).
pub fn rotate_extended_composed<B: Backend + ?Sized>(
    b: &B,
    ctx: &RingContext,
    c0: &B::Poly,
    digits: &[B::Poly],
    key: &KeyDigits<B::Poly>,
    galois: usize,
) -> crate::Result<(B::Poly, B::Poly)> {
    let (mut u0, u1) = b.key_switch_inner(ctx, digits, key, Some(galois))?;
    let q_primes = b.primes(c0).to_vec();
    let p_primes: Vec<usize> = ctx.p_indices().collect();
    let p_mod_q = p_mod_q(ctx, &q_primes);
    let mut r0 = b.zero(ctx, &q_primes)?;
    b.automorphism_ntt(ctx, c0, galois, &mut r0)?;
    b.mul_scalar_assign(ctx, &mut r0, &p_mod_q)?;
    let lifted = b.concat(ctx, &r0, &b.zero(ctx, &p_primes)?)?;
    b.add_assign(ctx, &mut u0, &lifted)?;
    Ok((u0, u1))
}

/// `P mod q` for each prime index in `q_primes` (P: the product of the special primes).
pub fn p_mod_q(ctx: &RingContext, q_primes: &[usize]) -> Vec<u64> {
    q_primes
        .iter()
        .map(|&i| {
            let m = ctx.modulus(i);
            ctx.p_indices()
                .fold(1u64, |acc, j| m.mul(acc, m.reduce(ctx.modulus(j).value())))
        })
        .collect()
}

/// [`Backend::relinearize_rescale`] composed from the primitives (the default; public so
/// that a backend overriding it can still time or check against it).
#[allow(clippy::too_many_arguments)]
pub fn relinearize_rescale_composed<B: Backend + ?Sized>(
    b: &B,
    ctx: &RingContext,
    d0: &B::Poly,
    d1: &B::Poly,
    d2: &B::Poly,
    key: &KeyDigits<B::Poly>,
    alpha: usize,
    drop: usize,
) -> crate::Result<(B::Poly, B::Poly)> {
    check_tail(b.name(), "relinearize_rescale", drop, b.primes(d2).len())?;
    let (mut u0, mut u1) = b.key_switch(ctx, d2, key, alpha, None)?;
    for (u, d) in [(&mut u0, d0), (&mut u1, d1)] {
        b.add_assign(ctx, u, d)?;
        b.div_round_by_tail(ctx, u, drop)?;
    }
    Ok((u0, u1))
}

/// [`Backend::mul_scalar_add_assign`] through a copy (the default; public so that a
/// backend overriding it can still time or check against it).
pub fn mul_scalar_add_composed<B: Backend + ?Sized>(
    b: &B,
    ctx: &RingContext,
    acc: &mut B::Poly,
    a: &B::Poly,
    s: &[u64],
) -> crate::Result<()> {
    let mut t = b.select(ctx, a, b.primes(acc))?;
    b.mul_scalar_assign(ctx, &mut t, s)?;
    b.add_assign(ctx, acc, &t)
}
