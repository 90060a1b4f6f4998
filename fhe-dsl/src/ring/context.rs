//! The ring context: N, the prime chain and everything precomputed from it.

use super::RnsPoly;
use crate::math::{Modulus, NttTable};
use num_bigint::{BigInt, BigUint};
use num_traits::{One, Zero};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

type ConvCache = HashMap<(Vec<usize>, Vec<usize>), Arc<BaseConvTable>>;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Constants of a fast basis conversion from primes `from` to primes `to`
/// (Halevi–Polyakov–Shoup without the final correction):
/// `y_j = Σ_i [x_i · qhat_inv_i]_{q_i} · qhat_i mod p_j`, where `qhat_i = Q_from / q_i`.
#[derive(Debug)]
pub struct BaseConvTable {
    /// Source prime indices.
    pub from: Vec<usize>,
    /// Target prime indices.
    pub to: Vec<usize>,
    /// `[(Q_from / q_i)^-1]_{q_i}`, one per source prime.
    pub qhat_inv: Vec<u64>,
    /// Shoup companions of `qhat_inv`.
    pub qhat_inv_shoup: Vec<u64>,
    /// `[Q_from / q_i]_{p_j}`, row-major `[j][i]` (target-major).
    pub qhat_mod_p: Vec<u64>,
    /// `[Q_from]_{p_j}`, one per target prime.
    pub q_mod_p: Vec<u64>,
}

/// Immutable description of the ring `R_Q = Z_Q[X]/(X^N+1)` over all primes of a
/// parameter set (the Q chain followed by the special primes P), with NTT tables and
/// cached basis-conversion constants.
///
/// Every context has a process-unique [`id`](RingContext::id) so a backend can cache its
/// own device copies of the tables.
pub struct RingContext {
    id: u64,
    log_n: u32,
    num_q: usize,
    moduli: Vec<Modulus>,
    tables: Vec<NttTable>,
    conv_cache: Mutex<ConvCache>,
}

impl std::fmt::Debug for RingContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingContext")
            .field("id", &self.id)
            .field("log_n", &self.log_n)
            .field("num_q", &self.num_q)
            .field(
                "primes",
                &self.moduli.iter().map(|m| m.value()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl RingContext {
    /// Builds a context. `q` and `p` must be distinct NTT-friendly primes for `log_n`
    /// (the parameter validation guarantees it); returns `None` otherwise.
    pub fn new(log_n: u32, q: &[u64], p: &[u64]) -> Option<Self> {
        let all: Vec<u64> = q.iter().chain(p).copied().collect();
        let tables = all
            .iter()
            .map(|&x| NttTable::new(x, log_n))
            .collect::<Option<Vec<_>>>()?;
        Some(RingContext {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            log_n,
            num_q: q.len(),
            moduli: all.iter().map(|&x| Modulus::new(x)).collect(),
            tables,
            conv_cache: Mutex::new(HashMap::new()),
        })
    }

    /// Process-unique identifier.
    pub fn id(&self) -> u64 {
        self.id
    }
    /// log2 N.
    pub fn log_n(&self) -> u32 {
        self.log_n
    }
    /// N.
    pub fn n(&self) -> usize {
        1 << self.log_n
    }
    /// Number of Q primes.
    pub fn num_q(&self) -> usize {
        self.num_q
    }
    /// Number of P primes.
    pub fn num_p(&self) -> usize {
        self.moduli.len() - self.num_q
    }
    /// All moduli, Q first then P.
    pub fn moduli(&self) -> &[Modulus] {
        &self.moduli
    }
    /// Modulus of prime index `i`.
    pub fn modulus(&self, i: usize) -> &Modulus {
        &self.moduli[i]
    }
    /// NTT table of prime index `i`.
    pub fn ntt_table(&self, i: usize) -> &NttTable {
        &self.tables[i]
    }
    /// Indices of the P primes.
    pub fn p_indices(&self) -> std::ops::Range<usize> {
        self.num_q..self.moduli.len()
    }

    /// Basis-conversion constants from `from` to `to` (cached).
    pub fn base_conv(&self, from: &[usize], to: &[usize]) -> Arc<BaseConvTable> {
        let key = (from.to_vec(), to.to_vec());
        let mut cache = self.conv_cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = cache.get(&key) {
            return t.clone();
        }
        let mut qhat_inv = Vec::with_capacity(from.len());
        for &i in from {
            let qi = &self.moduli[i];
            let mut prod = 1u64;
            for &k in from {
                if k != i {
                    prod = qi.mul(prod, qi.reduce(self.moduli[k].value()));
                }
            }
            qhat_inv.push(qi.inv(prod).expect("distinct primes"));
        }
        let qhat_inv_shoup = from
            .iter()
            .zip(&qhat_inv)
            .map(|(&i, &v)| self.moduli[i].shoup(v))
            .collect();
        let mut qhat_mod_p = Vec::with_capacity(from.len() * to.len());
        let mut q_mod_p = Vec::with_capacity(to.len());
        for &j in to {
            let pj = &self.moduli[j];
            let mut full = 1u64;
            for &i in from {
                full = pj.mul(full, pj.reduce(self.moduli[i].value()));
                let mut prod = 1u64;
                for &k in from {
                    if k != i {
                        prod = pj.mul(prod, pj.reduce(self.moduli[k].value()));
                    }
                }
                qhat_mod_p.push(prod);
            }
            q_mod_p.push(full);
        }
        let t = Arc::new(BaseConvTable {
            from: from.to_vec(),
            to: to.to_vec(),
            qhat_inv,
            qhat_inv_shoup,
            qhat_mod_p,
            q_mod_p,
        });
        cache.insert(key, t.clone());
        t
    }

    /// Product of the given primes as a big integer.
    pub fn product(&self, primes: &[usize]) -> BigUint {
        primes
            .iter()
            .fold(BigUint::one(), |acc, &i| acc * self.moduli[i].value())
    }

    /// CRT reconstruction of coefficient `k` of a coefficient-form polynomial, as the
    /// centered representative in `(-Q/2, Q/2]`, with Q the product of its primes.
    pub fn crt_coeff(&self, p: &RnsPoly, k: usize) -> BigInt {
        let q = self.product(&p.primes);
        let mut acc = BigUint::zero();
        for (pos, &i) in p.primes.iter().enumerate() {
            let qi = self.moduli[i].value();
            let qhat = &q / qi;
            let qhat_mod = (&qhat % qi).to_u64_digits().first().copied().unwrap_or(0);
            let inv = self.moduli[i].inv(qhat_mod).expect("distinct primes");
            let t = self.moduli[i].mul(p.limb(pos)[k], inv);
            acc += qhat * t;
        }
        acc %= &q;
        let acc = BigInt::from(acc);
        let q = BigInt::from(q);
        if &acc * 2 > q {
            acc - q
        } else {
            acc
        }
    }

    /// RNS decomposition of a big integer into the given primes.
    pub fn rns_of(&self, x: &BigInt, primes: &[usize]) -> Vec<u64> {
        primes
            .iter()
            .map(|&i| {
                let q = BigInt::from(self.moduli[i].value());
                let r = ((x % &q) + &q) % &q;
                r.to_u64_digits().1.first().copied().unwrap_or(0)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::ntt_primes;
    use rand::{Rng, SeedableRng};

    #[test]
    fn crt_roundtrip_against_bigint() {
        let q = ntt_primes(50, 10, 4, &[]).unwrap();
        let p = ntt_primes(55, 10, 2, &[]).unwrap();
        let ctx = RingContext::new(10, &q, &p).unwrap();
        let primes = [0usize, 1, 2, 3, 4, 5];
        let qbig = BigInt::from(ctx.product(&primes));
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for _ in 0..50 {
            let bytes: Vec<u8> = (0..40).map(|_| rng.gen()).collect();
            let mut x: BigInt = BigInt::from_signed_bytes_le(&bytes) % (&qbig / 2);
            if rng.gen() {
                x = -x;
            }
            let mut poly = RnsPoly::zero(ctx.n(), &primes);
            for (pos, r) in ctx.rns_of(&x, &primes).into_iter().enumerate() {
                poly.limb_mut(pos)[3] = r;
            }
            assert_eq!(ctx.crt_coeff(&poly, 3), x);
        }
    }
}
