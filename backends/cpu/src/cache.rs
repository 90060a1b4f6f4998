//! Process-wide caches of precomputed tables: NTT plans per `(log_n, prime)`, the plan
//! list of each ring context (by [`RingContext::id`], ids are never reused), and
//! automorphism index maps per `(log_n, galois)`.
//!
//! Tables are pure functions of their keys, so sharing them between backend instances is
//! safe and makes [`CpuBackend::new`](crate::CpuBackend::new) free.

use crate::arith::Mod;
use crate::fntt::F64Ntt;
use fhe_dsl::math::{automorphism_ntt_map, NttTable};
use fhe_dsl::ring::RingContext;
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

enum Engine {
    /// tfhe-ntt: AVX2/AVX-512 kernels, bit-reversed output, unnormalised inverse.
    Tfhe(tfhe_ntt::prime64::Plan),
    /// fhe-dsl's scalar transform (tiny N, or a prime tfhe-ntt would root differently).
    Scalar(NttTable),
}

/// Negacyclic NTT for one prime and degree, in fhe-dsl's convention.
pub(crate) struct Ntt {
    engine: Engine,
    /// The AVX2 f64 transform (primes `< 2^50`), used while the vector kernels are on.
    f64: Option<F64Ntt>,
    /// Fast arithmetic for this prime.
    pub m: Mod,
    /// Factor taking [`inverse_raw`](Self::inverse_raw)'s output to the true inverse.
    pub raw_scale: u64,
}

impl Ntt {
    fn new(log_n: u32, q: u64) -> Self {
        let table = NttTable::new(q, log_n).expect("context primes are NTT-friendly");
        let m = Mod::new(q);
        let n = 1usize << log_n;
        let f64 = F64Ntt::new(&table);
        if let Some(plan) = tfhe_ntt::prime64::Plan::try_new(n, q) {
            // Pin the root: the transform of X is (ψ^(2·brv(i)+1))_i, so its first entry is ψ.
            let mut x = vec![0u64; n];
            x[1] = 1;
            plan.fwd(&mut x);
            if x[0] == table.psi {
                return Ntt {
                    raw_scale: table.n_inv,
                    engine: Engine::Tfhe(plan),
                    f64,
                    m,
                };
            }
        }
        Ntt {
            engine: Engine::Scalar(table),
            f64,
            m,
            raw_scale: 1,
        }
    }

    /// Forward transform in place (natural order in, bit-reversed out, reduced).
    #[inline]
    pub fn forward(&self, a: &mut [u64]) {
        if let Some(f) = self.fast() {
            return f.forward(a);
        }
        match &self.engine {
            Engine::Tfhe(p) => p.fwd(a),
            Engine::Scalar(t) => t.forward(a),
        }
    }

    /// Inverse transform up to the factor [`raw_scale`](Self::raw_scale): the output
    /// times `raw_scale` is the true inverse mod q (any representative `< 2^64`).
    #[inline]
    pub fn inverse_raw(&self, a: &mut [u64]) {
        if let Some(f) = self.fast() {
            // same scaling as the engine's raw output (N^-1 included only where
            // `raw_scale` is 1)
            return f.inverse(a, self.raw_scale == 1);
        }
        match &self.engine {
            Engine::Tfhe(p) => p.inv(a),
            Engine::Scalar(t) => t.inverse(a),
        }
    }

    /// Full inverse transform (fully reduced).
    #[inline]
    pub fn inverse(&self, a: &mut [u64]) {
        if let Some(f) = self.fast() {
            return f.inverse(a, true);
        }
        match &self.engine {
            Engine::Tfhe(p) => {
                p.inv(a);
                p.normalize(a);
            }
            Engine::Scalar(t) => t.inverse(a),
        }
    }

    /// The f64 transform, when it exists and the vector kernels are on — unless tfhe-ntt
    /// runs this prime on AVX-512 IFMA (52-bit multiply-add), its fastest path (about
    /// 150 µs per 2^16 transform there against ~220 µs for the AVX2 f64 kernel here; the
    /// IFMA figure is tfhe-ntt's, not measured on our machines, which lack AVX-512).
    #[inline]
    fn fast(&self) -> Option<&F64Ntt> {
        if matches!(&self.engine, Engine::Tfhe(p) if p.use_ifma()) {
            return None;
        }
        self.f64.as_ref().filter(|_| crate::simd::enabled())
    }

    /// Whether this prime runs on tfhe-ntt.
    #[cfg(test)]
    pub fn is_fast(&self) -> bool {
        matches!(self.engine, Engine::Tfhe(_))
    }
}

type PlanMap = HashMap<(u32, u64), Arc<Ntt>>;
type CtxMap = HashMap<u64, Arc<[Arc<Ntt>]>>;
type MapMap = HashMap<(u32, usize), Arc<[u32]>>;

fn plans() -> &'static RwLock<PlanMap> {
    static P: OnceLock<RwLock<PlanMap>> = OnceLock::new();
    P.get_or_init(Default::default)
}

fn ctx_plans() -> &'static RwLock<CtxMap> {
    static P: OnceLock<RwLock<CtxMap>> = OnceLock::new();
    P.get_or_init(Default::default)
}

fn auto_maps() -> &'static RwLock<MapMap> {
    static P: OnceLock<RwLock<MapMap>> = OnceLock::new();
    P.get_or_init(Default::default)
}

/// The NTTs of every prime of `ctx`, indexed by prime index (built once per context).
pub(crate) fn ntts(ctx: &RingContext) -> Arc<[Arc<Ntt>]> {
    if let Some(v) = ctx_plans()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&ctx.id())
    {
        return v.clone();
    }
    let log_n = ctx.log_n();
    let qs: Vec<u64> = ctx.moduli().iter().map(|m| m.value()).collect();
    let missing: Vec<u64> = {
        let known = plans().read().unwrap_or_else(|e| e.into_inner());
        qs.iter()
            .copied()
            .filter(|q| !known.contains_key(&(log_n, *q)))
            .collect()
    };
    // build outside the lock, in parallel (twiddle tables at N = 2^16 are not free)
    let built: Vec<(u64, Arc<Ntt>)> = missing
        .into_par_iter()
        .map(|q| (q, Arc::new(Ntt::new(log_n, q))))
        .collect();
    let list: Arc<[Arc<Ntt>]> = {
        let mut known = plans().write().unwrap_or_else(|e| e.into_inner());
        for (q, p) in built {
            known.entry((log_n, q)).or_insert(p);
        }
        qs.iter().map(|q| known[&(log_n, *q)].clone()).collect()
    };
    ctx_plans()
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .entry(ctx.id())
        .or_insert(list)
        .clone()
}

/// `automorphism_ntt_map(log_n, galois)`, cached.
pub(crate) fn auto_map(log_n: u32, galois: usize) -> Arc<[u32]> {
    let key = (log_n, galois & ((2usize << log_n) - 1));
    if let Some(m) = auto_maps()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
    {
        return m.clone();
    }
    let map: Arc<[u32]> = automorphism_ntt_map(log_n, galois).into();
    auto_maps()
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key)
        .or_insert(map)
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fhe_dsl::math::ntt_primes;

    #[test]
    fn tfhe_ntt_roots_agree_and_tiny_rings_fall_back() {
        for bits in [28u32, 40, 50, 57, 60, 61] {
            for q in ntt_primes(bits, 12, 2, &[]).unwrap() {
                let t = Ntt::new(12, q);
                assert!(t.is_fast(), "q = {q} fell back to the scalar NTT");
            }
        }
        // tfhe-ntt needs N >= 16
        let q = ntt_primes(40, 3, 1, &[]).unwrap()[0];
        let t = Ntt::new(3, q);
        assert!(!t.is_fast());
        let table = NttTable::new(q, 3).unwrap();
        let x: Vec<u64> = (1..=8).collect();
        let (mut a, mut b) = (x.clone(), x.clone());
        t.forward(&mut a);
        table.forward(&mut b);
        assert_eq!(a, b);
        t.inverse(&mut a);
        assert_eq!(a, x);
    }
}
