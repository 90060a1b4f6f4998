//! Encoded plaintexts kept across uses, up to a byte budget: a model's weight diagonals
//! are then encoded once per (transform, level, scale) instead of on every inference.
//! Off (budget 0) by default: at N = 2^16 a ResNet-20's diagonals take tens of GB, which
//! fits a GPU's memory but not a small CPU machine's.

use super::context::Plaintext;
use crate::backend::Backend;
use crate::error::Result;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What identifies an encoded plaintext: its source values (`source`, `item`), the
/// rotation applied before encoding, the primes it spans, its level and exact scale.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub(crate) struct PtKey {
    /// Identity of the value set (e.g. a linear transform's content id).
    pub source: u64,
    /// Item within the set (e.g. a diagonal index).
    pub item: u64,
    /// Slot rotation applied to the values before encoding.
    pub shift: i64,
    /// Encoded over `Q_l·P` rather than `Q_l`.
    pub over_qp: bool,
    pub level: usize,
    /// `f64::to_bits` of the scale.
    pub scale_bits: u64,
}

/// Counters of a plaintext cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlaintextCacheStats {
    /// Byte budget (0: the cache is off).
    pub budget: usize,
    /// Bytes of the plaintexts held.
    pub bytes: usize,
    /// Plaintexts held.
    pub entries: usize,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that encoded (whether or not the result was kept).
    pub misses: u64,
}

pub(crate) struct PlaintextCache<B: Backend> {
    inner: Mutex<Inner<B>>,
}

struct Inner<B: Backend> {
    stats: PlaintextCacheStats,
    map: HashMap<PtKey, Arc<Plaintext<B>>>,
}

impl<B: Backend> Default for PlaintextCache<B> {
    fn default() -> Self {
        PlaintextCache {
            inner: Mutex::new(Inner {
                stats: PlaintextCacheStats::default(),
                map: HashMap::new(),
            }),
        }
    }
}

impl<B: Backend> PlaintextCache<B> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<B>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the budget; a smaller one than what is held empties the cache.
    pub fn set_budget(&self, bytes: usize) {
        let mut g = self.lock();
        g.stats.budget = bytes;
        if g.stats.bytes > bytes {
            g.map.clear();
            g.stats.bytes = 0;
            g.stats.entries = 0;
        }
    }

    pub fn stats(&self) -> PlaintextCacheStats {
        self.lock().stats
    }

    /// The cached plaintext for `key`, or `encode()`'s, kept while the budget allows.
    /// Encoding runs outside the lock, so callers may encode in parallel.
    pub fn get_or_encode(
        &self,
        key: PtKey,
        bytes_of: impl FnOnce(&Plaintext<B>) -> usize,
        encode: impl FnOnce() -> Result<Plaintext<B>>,
    ) -> Result<Arc<Plaintext<B>>> {
        {
            let mut g = self.lock();
            if g.stats.budget == 0 {
                drop(g);
                return encode().map(Arc::new);
            }
            if let Some(pt) = g.map.get(&key).cloned() {
                g.stats.hits += 1;
                return Ok(pt);
            }
        }
        let pt = Arc::new(encode()?);
        let bytes = bytes_of(&pt);
        let mut g = self.lock();
        g.stats.misses += 1;
        if g.stats.bytes + bytes <= g.stats.budget && !g.map.contains_key(&key) {
            g.map.insert(key, pt.clone());
            g.stats.bytes += bytes;
            g.stats.entries += 1;
        }
        Ok(pt)
    }
}
