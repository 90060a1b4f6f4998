//! Host side of the NTT kernels (`kernels/ntt.cu`): two launches per transform, the
//! register-resident outer stages and the shared-memory tail (forward) or head (inverse).

use crate::{GpuBackend, OrDevice, LOG_CHUNK, MAX_LOG_OUTER, NAME};
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};
use fhe_dsl::backend::{check_degree, invalid};
use fhe_dsl::ring::RingContext;

impl GpuBackend {
    /// Launch shape of the shared-memory part for chunks of C = 2^log_c words: C/4
    /// threads, each with a radix-4 unit.
    fn tail_launch(n: usize, log_c: u32, limbs: usize) -> LaunchConfig {
        LaunchConfig {
            grid_dim: ((n >> log_c) as u32, limbs as u32, 1),
            block_dim: (1 << (log_c - 2), 1, 1),
            shared_mem_bytes: 8 << log_c,
        }
    }

    /// Forward NTT of limbs `first..first + primes.len()` of `data` (limb `first + i`
    /// over prime `primes[i]`), in place.
    pub(crate) fn ntt_limbs(
        &self,
        ctx: &RingContext,
        data: &mut CudaSlice<u64>,
        first: usize,
        primes: &[usize],
        n: usize,
    ) -> fhe_dsl::Result<()> {
        let (log_c, log_r) = Self::ntt_shape(ctx, n, "ntt")?;
        let t = self.tables(ctx)?;
        let log_n = n.trailing_zeros();
        for r in Self::chunks(primes.len()) {
            let p = self.params(&t, primes, r.clone(), None, None, None)?;
            let mut view = data.slice_mut((first + r.start) * n..(first + r.end) * n);
            if log_r > 0 {
                let k = &self.inner.k.ntt_fwd_outer[log_r as usize - 1];
                let mut lb = self.stream().launch_builder(k);
                lb.arg(&mut view)
                    .arg(&t.tw)
                    .arg(&t.tws)
                    .arg(&log_n)
                    .arg(&*p);
                // SAFETY: ntt_fwd_outer_R(u64*, const u64*, const u64*, u32, LimbParams)
                // matches; one thread per column r < C = N / R of each limb, tables hold N
                // words per prime of the context.
                unsafe { lb.launch(Self::outer_grid(n >> log_r, r.len())) }
                    .or_dev("ntt_fwd_outer")?;
            }
            let cfg = Self::tail_launch(n, log_c, r.len());
            let mut lb = self.stream().launch_builder(&self.inner.k.ntt_fwd_tail);
            lb.arg(&mut view)
                .arg(&t.tw)
                .arg(&t.tws)
                .arg(&log_n)
                .arg(&log_c)
                .arg(&*p);
            // SAFETY: ntt_fwd_tail matches; C words of shared memory, C/4 threads.
            unsafe { lb.launch(cfg) }.or_dev("ntt_fwd_tail")?;
        }
        Ok(())
    }

    /// Inverse NTT (with N^-1) of limbs `first..first + primes.len()` of `data`, in place.
    pub(crate) fn intt_limbs(
        &self,
        ctx: &RingContext,
        data: &mut CudaSlice<u64>,
        first: usize,
        primes: &[usize],
        n: usize,
    ) -> fhe_dsl::Result<()> {
        let (log_c, log_r) = Self::ntt_shape(ctx, n, "intt")?;
        let t = self.tables(ctx)?;
        let log_n = n.trailing_zeros();
        let scal: Vec<u64> = primes.iter().map(|&pr| t.n_inv[pr]).collect();
        let scal_s: Vec<u64> = primes.iter().map(|&pr| t.n_inv_shoup[pr]).collect();
        for r in Self::chunks(primes.len()) {
            let p = self.params(&t, primes, r.clone(), None, None, Some((&scal, &scal_s)))?;
            let mut view = data.slice_mut((first + r.start) * n..(first + r.end) * n);
            let cfg = Self::tail_launch(n, log_c, r.len());
            let mut lb = self.stream().launch_builder(&self.inner.k.intt_head);
            lb.arg(&mut view)
                .arg(&t.itw)
                .arg(&t.itws)
                .arg(&log_n)
                .arg(&log_c)
                .arg(&*p);
            // SAFETY: intt_head matches; C words of shared memory, C/4 threads.
            unsafe { lb.launch(cfg) }.or_dev("intt_head")?;
            if log_r > 0 {
                let k = &self.inner.k.intt_outer[log_r as usize - 1];
                let mut lb = self.stream().launch_builder(k);
                lb.arg(&mut view)
                    .arg(&t.itw)
                    .arg(&t.itws)
                    .arg(&t.wn)
                    .arg(&t.wns)
                    .arg(&log_n)
                    .arg(&*p);
                // SAFETY: intt_outer_R(u64*, const u64*, const u64*, const u64*,
                // const u64*, u32, LimbParams) matches; wn/wns hold one word per prime.
                unsafe { lb.launch(Self::outer_grid(n >> log_r, r.len())) }.or_dev("intt_outer")?;
            }
        }
        Ok(())
    }

    /// `(log2 C, log2 R)` of a transform of degree `n` (C words per shared-memory chunk,
    /// R per column of the outer stages), or an error when `n` is not the ring's degree
    /// (the twiddle tables hold N words per prime) or beyond the kernels.
    fn ntt_shape(ctx: &RingContext, n: usize, op: &'static str) -> fhe_dsl::Result<(u32, u32)> {
        check_degree(NAME, op, n, ctx.n())?;
        let log_n = n.trailing_zeros();
        let log_c = log_n.min(LOG_CHUNK);
        let log_r = log_n - log_c;
        if log_c < 2 || log_r > MAX_LOG_OUTER {
            return Err(invalid(
                NAME,
                op,
                format!(
                    "ring degree 2^{log_n} is outside the NTT kernels' range 2^2..=2^{}",
                    LOG_CHUNK + MAX_LOG_OUTER
                ),
            ));
        }
        Ok((log_c, log_r))
    }
}
