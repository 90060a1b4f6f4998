//! Process-wide on/off switches for optional parts of the backend (vector kernels,
//! fused overrides): read once from the environment, settable at run time for
//! same-process A/B timing. Results are bit-identical either way.

use std::sync::atomic::{AtomicU8, Ordering};

/// One switch: on unless `env` is `0`/`off` or the CPU lacks what `supported` checks.
pub(crate) struct Switch {
    /// 0 = not yet read, 1 = on, 2 = off.
    mode: AtomicU8,
    env: &'static str,
    supported: fn() -> bool,
}

impl Switch {
    pub(crate) const fn new(env: &'static str, supported: fn() -> bool) -> Self {
        Switch {
            mode: AtomicU8::new(0),
            env,
            supported,
        }
    }

    #[inline]
    pub(crate) fn enabled(&self) -> bool {
        match self.mode.load(Ordering::Relaxed) {
            1 => true,
            2 => false,
            _ => {
                let off = std::env::var(self.env).is_ok_and(|v| v == "0" || v == "off");
                let on = !off && (self.supported)();
                self.mode.store(if on { 1 } else { 2 }, Ordering::Relaxed);
                on
            }
        }
    }

    /// On (where supported) or off.
    pub(crate) fn set(&self, on: bool) {
        let on = on && (self.supported)();
        self.mode.store(if on { 1 } else { 2 }, Ordering::Relaxed);
    }
}
