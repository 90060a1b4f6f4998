//! Device time per backend primitive (`FHE_GPU_PROFILE=1`): each outermost primitive call
//! is bracketed by two CUDA events and waited for, so the table says where a bootstrap or
//! an inference spends its device time (the waits themselves slow the run down).

use crate::GpuBackend;
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::Mutex;

thread_local! {
    /// Nesting depth of profiled calls on this thread (inner calls are not counted twice).
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Calls and device milliseconds per primitive.
#[derive(Default)]
pub(crate) struct Profile {
    table: Mutex<BTreeMap<&'static str, (u64, f64)>>,
}

impl GpuBackend {
    /// Runs the backend operation `name` (`f`), charging its device time to `name` when
    /// profiling is on. An error of one of its steps is returned as an error of `name`
    /// (the step stays in a driver error's text), so that users read which operation of
    /// the [`Backend`](fhe_dsl::backend::Backend) trait failed.
    pub(crate) fn prof<T>(
        &self,
        name: &'static str,
        f: impl FnOnce() -> fhe_dsl::Result<T>,
    ) -> fhe_dsl::Result<T> {
        let relabel = |r: fhe_dsl::Result<T>| {
            r.map_err(|e| match e {
                fhe_dsl::Error::Device { backend, kind, .. } => fhe_dsl::Error::Device {
                    backend,
                    op: name,
                    kind,
                },
                e => e,
            })
        };
        let Some(profile) = &self.inner.profile else {
            return relabel(f());
        };
        if DEPTH.with(|d| d.get()) > 0 {
            return relabel(f());
        }
        DEPTH.with(|d| d.set(1));
        let mut out = None;
        let ms = self.time_ms(|| out = Some(f()));
        DEPTH.with(|d| d.set(0));
        if let Ok(ms) = ms {
            let mut t = profile.table.lock().unwrap_or_else(|e| e.into_inner());
            let e = t.entry(name).or_default();
            e.0 += 1;
            e.1 += ms as f64;
        }
        match out {
            Some(r) => relabel(r),
            // the first event could not be recorded, so `f` did not run
            None => Err(ms.err().map_or_else(
                || {
                    fhe_dsl::Error::device(
                        "gpu",
                        name,
                        fhe_dsl::DeviceErrorKind::Driver("CUDA event not recorded".into()),
                    )
                },
                fhe_dsl::Error::from,
            )),
        }
    }

    /// Whether `FHE_GPU_PROFILE=1` was set when the backend started.
    pub fn profiling(&self) -> bool {
        self.inner.profile.is_some()
    }

    /// The profile so far, `(primitive, calls, device ms)`, most expensive first (empty
    /// unless profiling), and resets it.
    pub fn take_profile(&self) -> Vec<(&'static str, u64, f64)> {
        let Some(profile) = &self.inner.profile else {
            return Vec::new();
        };
        let mut t = profile.table.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = std::mem::take(&mut *t)
            .into_iter()
            .map(|(k, (c, ms))| (k, c, ms))
            .collect();
        v.sort_by(|a, b| b.2.total_cmp(&a.2));
        v
    }
}
