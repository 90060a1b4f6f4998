//! Packed tensor layouts: where each element of a `C × H × W` activation lives among a
//! ciphertext's slots.
//!
//! The layout is MPCNN's *multiplexed* packing (Lee et al., ICML 2022): a tensor with
//! gap `k` (after `log2 k` stride-2 layers) keeps the original `kH × kW` grid and puts
//! `k²` channels into the gaps, so every slot of the grid is used and no layer needs a
//! repack: channel `c = t·k² + cy·k + cx` at `(y, x)` sits in grid `t` at row
//! `y·k + cy`, column `x·k + cx`. The grids are stacked, the whole block padded to a power
//! of two (the *period*) and repeated to fill all slots, so a rotation by any offset
//! reads the right neighbour modulo the period.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Where each element of a `channels × height × width` tensor sits in the slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    channels: usize,
    height: usize,
    width: usize,
    gap: usize,
    period: usize,
}

impl Layout {
    /// The multiplexed layout with gap `gap` (a power of two; 1 = plain channel-major).
    pub fn multiplexed(channels: usize, height: usize, width: usize, gap: usize) -> Result<Self> {
        if channels == 0 || height == 0 || width == 0 || !gap.is_power_of_two() {
            return Err(Error::InvalidInput(format!(
                "layout {channels}×{height}×{width} with gap {gap}: sizes must be positive \
                 and the gap a power of two"
            )));
        }
        let grids = channels.div_ceil(gap * gap);
        let period = (grids * height * gap * width * gap).next_power_of_two();
        Ok(Layout {
            channels,
            height,
            width,
            gap,
            period,
        })
    }

    /// Channels.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Height.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Width.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Gap `k` (channels multiplexed per grid cell: `k²`).
    pub fn gap(&self) -> usize {
        self.gap
    }

    /// Width of one grid row in slots (`width · gap`).
    pub fn row_stride(&self) -> usize {
        self.width * self.gap
    }

    /// Slots one copy of the tensor occupies (a power of two); the slot vector repeats
    /// it.
    pub fn period(&self) -> usize {
        self.period
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Whether the tensor is empty (never, by construction).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slot (in `0..period`) of element `(c, y, x)`.
    pub fn slot(&self, c: usize, y: usize, x: usize) -> usize {
        let k = self.gap;
        let (t, r) = (c / (k * k), c % (k * k));
        let (cy, cx) = (r / k, r % k);
        let gw = self.row_stride();
        t * self.height * k * gw + (y * k + cy) * gw + x * k + cx
    }

    fn check_slots(&self, slots: usize) -> Result<()> {
        if !slots.is_power_of_two() || slots < self.period {
            return Err(Error::InvalidInput(format!(
                "a {}×{}×{} tensor with gap {} needs {} slots, the ciphertext has {slots}",
                self.channels, self.height, self.width, self.gap, self.period
            )));
        }
        Ok(())
    }

    /// Packs a tensor given in `C·H·W` order into `slots` slots (repeated every period).
    pub fn pack(&self, chw: &[f64], slots: usize) -> Result<Vec<f64>> {
        self.check_slots(slots)?;
        if chw.len() != self.len() {
            return Err(Error::InvalidInput(format!(
                "tensor has {} elements, layout {}×{}×{} expects {}",
                chw.len(),
                self.channels,
                self.height,
                self.width,
                self.len()
            )));
        }
        let mut one = vec![0.0; self.period];
        self.for_each(|i, s| one[s] = chw[i]);
        Ok(one.iter().copied().cycle().take(slots).collect())
    }

    /// A per-channel constant at every element of that channel (0 off the tensor).
    pub fn per_channel(&self, values: &[f64], slots: usize) -> Result<Vec<f64>> {
        if values.len() != self.channels {
            return Err(Error::InvalidInput(format!(
                "{} per-channel values for {} channels",
                values.len(),
                self.channels
            )));
        }
        let hw = self.height * self.width;
        let chw: Vec<f64> = (0..self.len()).map(|i| values[i / hw]).collect();
        self.pack(&chw, slots)
    }

    /// Reads the tensor (`C·H·W` order) back from the first period of `slots`.
    pub fn unpack(&self, slots: &[f64]) -> Result<Vec<f64>> {
        self.check_slots(slots.len())?;
        let mut out = vec![0.0; self.len()];
        self.for_each(|i, s| out[i] = slots[s]);
        Ok(out)
    }

    /// Calls `f(flat index in C·H·W order, slot)` for every element.
    pub fn for_each(&self, mut f: impl FnMut(usize, usize)) {
        let mut i = 0;
        for c in 0..self.channels {
            for y in 0..self.height {
                for x in 0..self.width {
                    f(i, self.slot(c, y, x));
                    i += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiplexed_layout_is_a_bijection_onto_its_grid() {
        for (c, h, k) in [(16, 32, 1), (32, 16, 2), (64, 8, 4), (3, 32, 1), (10, 5, 2)] {
            let l = Layout::multiplexed(c, h, h, k).unwrap();
            let mut seen = std::collections::BTreeSet::new();
            l.for_each(|_, s| {
                assert!(s < l.period());
                assert!(seen.insert(s), "slot {s} used twice");
            });
            assert_eq!(seen.len(), l.len());
            let t: Vec<f64> = (0..l.len()).map(|i| i as f64).collect();
            let packed = l.pack(&t, 2 * l.period()).unwrap();
            assert_eq!(l.unpack(&packed).unwrap(), t);
            assert_eq!(&packed[..l.period()], &packed[l.period()..]);
        }
        // the ResNet-20 stages all fit a 32 × 32 grid
        assert_eq!(Layout::multiplexed(32, 16, 16, 2).unwrap().period(), 8192);
        assert_eq!(Layout::multiplexed(64, 8, 8, 4).unwrap().period(), 4096);
        assert!(Layout::multiplexed(16, 32, 32, 1)
            .unwrap()
            .pack(&[0.0; 3], 16384)
            .is_err());
        assert!(Layout::multiplexed(16, 32, 32, 1)
            .unwrap()
            .pack(&[0.0; 16384], 8192)
            .is_err());
    }
}
