//! Little-endian primitives, residue packing and RNS polynomials, both ways.
//!
//! Decoding never allocates from a length it has not first checked against the
//! parameters and against the bytes left in the input.

use super::error::WireError;
use crate::error::Result;
use crate::ring::{RingContext, RnsPoly};

/// Where encoded bytes go: a `Vec<u8>` or any `std::io::Write`.
pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]) -> Result<()>;

    fn u8(&mut self, x: u8) -> Result<()> {
        self.put(&[x])
    }
    fn u16(&mut self, x: u16) -> Result<()> {
        self.put(&x.to_le_bytes())
    }
    fn u32(&mut self, x: u32) -> Result<()> {
        self.put(&x.to_le_bytes())
    }
    fn u64(&mut self, x: u64) -> Result<()> {
        self.put(&x.to_le_bytes())
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.extend_from_slice(bytes);
        Ok(())
    }
}

/// A `std::io::Write` as a [`Sink`], counting what it wrote.
pub(crate) struct IoSink<W> {
    pub(crate) w: W,
    pub(crate) written: u64,
}

impl<W: std::io::Write> Sink for IoSink<W> {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.w
            .write_all(bytes)
            .map_err(|e| WireError::Io(e.to_string()))?;
        self.written += bytes.len() as u64;
        Ok(())
    }
}

/// A cursor over untrusted input.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next `n` bytes, or a [`WireError::Truncated`] naming `what`.
    pub(crate) fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(WireError::Truncated {
                what: what.to_string(),
                needed: n as u64,
                left: self.remaining() as u64,
            }
            .into());
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn array<const K: usize>(&mut self, what: &str) -> Result<[u8; K]> {
        let mut a = [0u8; K];
        a.copy_from_slice(self.take(K, what)?);
        Ok(a)
    }
    pub(crate) fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }
    pub(crate) fn u16(&mut self, what: &str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    pub(crate) fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    pub(crate) fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A count field that must lie in `lo..=hi` (`hi` from the parameters) and whose
    /// entries, at least `min_entry_bytes` each, must fit in the input left.
    pub(crate) fn count(
        &mut self,
        what: &str,
        lo: u64,
        hi: u64,
        min_entry_bytes: u64,
    ) -> Result<usize> {
        let c = self.u64(what)?;
        if c > hi {
            return Err(WireError::Length {
                what: what.to_string(),
                claimed: c,
                limit: hi,
            }
            .into());
        }
        if c < lo {
            return Err(
                WireError::structure(what, format!("{c} is below the minimum of {lo}")).into(),
            );
        }
        let need = c.saturating_mul(min_entry_bytes);
        if need > self.remaining() as u64 {
            return Err(WireError::Truncated {
                what: format!("{what} ({c} entries)"),
                needed: need,
                left: self.remaining() as u64,
            }
            .into());
        }
        Ok(c as usize)
    }

    /// An exact count field: `expected` (from the parameters and the structure), else a
    /// [`WireError::Length`] (too many) or [`WireError::Structure`] (too few).
    pub(crate) fn exact_count(&mut self, what: &str, expected: usize) -> Result<()> {
        let c = self.u64(what)?;
        if c > expected as u64 {
            return Err(WireError::Length {
                what: what.to_string(),
                claimed: c,
                limit: expected as u64,
            }
            .into());
        }
        if c != expected as u64 {
            return Err(WireError::structure(what, format!("{c}, expected {expected}")).into());
        }
        Ok(())
    }
}

/// Bits a residue modulo `q` takes on the wire.
pub(crate) fn width(q: u64) -> u32 {
    64 - q.leading_zeros()
}

/// Bytes of one limb of `n` residues modulo `q` on the wire (`n` a multiple of 8).
pub(crate) fn limb_bytes(n: usize, q: u64) -> usize {
    n * width(q) as usize / 8
}

/// Bytes of a polynomial over `primes` on the wire: its limb count and packed limbs.
pub(crate) fn poly_bytes(ctx: &RingContext, primes: &[usize]) -> usize {
    8 + primes
        .iter()
        .map(|&i| limb_bytes(ctx.n(), ctx.modulus(i).value()))
        .sum::<usize>()
}

/// Packs residues of `w` bits each, least significant bit first.
fn pack_limb(vals: &[u64], w: u32, out: &mut Vec<u8>) {
    let mut acc: u128 = 0;
    let mut bits = 0u32;
    for &v in vals {
        acc |= (v as u128) << bits;
        bits += w;
        if bits >= 64 {
            out.extend_from_slice(&(acc as u64).to_le_bytes());
            acc >>= 64;
            bits -= 64;
        }
    }
    let tail = bits.div_ceil(8) as usize;
    out.extend_from_slice(&acc.to_le_bytes()[..tail]);
}

/// Unpacks `out.len()` residues of `w` bits from exactly `out.len()·w/8` bytes, each
/// checked `< q`; the first that is not is returned as `(index, value)`.
fn unpack_limb(
    bytes: &[u8],
    w: u32,
    q: u64,
    out: &mut [u64],
) -> std::result::Result<(), (usize, u64)> {
    let mask = if w == 64 { u64::MAX } else { (1u64 << w) - 1 };
    let mut acc: u128 = 0;
    let mut bits = 0u32;
    let mut pos = 0usize;
    for (i, o) in out.iter_mut().enumerate() {
        while bits < w {
            if let Some(chunk) = bytes.get(pos..pos + 8) {
                let mut a = [0u8; 8];
                a.copy_from_slice(chunk);
                acc |= (u64::from_le_bytes(a) as u128) << bits;
                pos += 8;
                bits += 64;
            } else {
                // the caller sized `bytes` exactly: a byte is always left here
                acc |= (bytes.get(pos).copied().unwrap_or(0) as u128) << bits;
                pos += 1;
                bits += 8;
            }
        }
        let v = (acc as u64) & mask;
        acc >>= w;
        bits -= w;
        if v >= q {
            return Err((i, v));
        }
        *o = v;
    }
    Ok(())
}

/// Writes a polynomial that must lie over exactly `primes` (checked: an object that does
/// not have the structure its kind promises is refused rather than written).
pub(crate) fn put_poly(
    s: &mut impl Sink,
    ctx: &RingContext,
    p: &RnsPoly,
    primes: &[usize],
    what: &str,
) -> Result<()> {
    if p.primes != primes || p.n != ctx.n() || p.data.len() != primes.len() * ctx.n() {
        return Err(WireError::structure(
            format!("cannot encode {what}"),
            format!(
                "it lies over primes {:?} (degree {}), expected {primes:?} (degree {})",
                p.primes,
                p.n,
                ctx.n()
            ),
        )
        .into());
    }
    s.u64(primes.len() as u64)?;
    let mut buf = Vec::new();
    for (limb, &i) in p.limbs().zip(primes) {
        let q = ctx.modulus(i).value();
        buf.clear();
        buf.reserve(limb_bytes(ctx.n(), q) + 16);
        pack_limb(limb, width(q), &mut buf);
        s.put(&buf)?;
    }
    Ok(())
}

/// Reads a polynomial over exactly `primes`: limb count, then each limb's packed
/// residues, every one checked below its prime.
pub(crate) fn get_poly(
    r: &mut Reader<'_>,
    ctx: &RingContext,
    primes: &[usize],
    what: &str,
) -> Result<RnsPoly> {
    r.exact_count(&format!("{what}: limb count"), primes.len())?;
    let n = ctx.n();
    let need = poly_bytes(ctx, primes) - 8;
    if need > r.remaining() {
        return Err(WireError::Truncated {
            what: what.to_string(),
            needed: need as u64,
            left: r.remaining() as u64,
        }
        .into());
    }
    let mut p = RnsPoly::zero(n, primes);
    for (pos, &i) in primes.iter().enumerate() {
        let q = ctx.modulus(i).value();
        let bytes = r.take(limb_bytes(n, q), what)?;
        unpack_limb(bytes, width(q), q, p.limb_mut(pos)).map_err(|(index, value)| {
            WireError::Residue {
                what: what.to_string(),
                limb: pos,
                index,
                value,
                prime: q,
            }
        })?;
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_round_trips_at_every_width() {
        for w in [1u32, 7, 8, 28, 45, 50, 57, 61, 63, 64] {
            let mask = if w == 64 { u64::MAX } else { (1u64 << w) - 1 };
            // q = the largest w-bit value: every residue below it fits in w bits
            let q = mask;
            let vals: Vec<u64> = (0..64u64)
                .map(|i| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) & mask).min(q - 1))
                .collect();
            let mut out = Vec::new();
            pack_limb(&vals, w, &mut out);
            assert_eq!(out.len(), 64 * w as usize / 8, "width {w}");
            let mut back = vec![0u64; 64];
            unpack_limb(&out, w, q, &mut back).unwrap();
            assert_eq!(back, vals, "width {w}");
        }
    }

    #[test]
    fn unpacking_reports_the_first_residue_not_below_its_prime() {
        let q = (1u64 << 50) - 27;
        let mut vals = vec![1u64; 16];
        vals[5] = q;
        vals[9] = q + 1;
        let mut out = Vec::new();
        pack_limb(&vals, width(q), &mut out);
        let mut back = vec![0u64; 16];
        assert_eq!(unpack_limb(&out, width(q), q, &mut back), Err((5, q)));
    }
}
