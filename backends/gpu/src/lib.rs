//! The CUDA backend of fhe-dsl: [`GpuBackend`].
//!
//! Polynomials live in device memory ([`GpuPoly`]: one `CudaSlice<u64>`, limb-major, plus
//! the prime list) and cross the bus only in
//! [`upload`](fhe_dsl::backend::Backend::upload) /
//! [`download`](fhe_dsl::backend::Backend::download).
//! The kernels (`kernels/*.cu`) are CUDA C with 64-bit words and 128-bit products through
//! `__umul64hi` (Shoup for twiddles and scalars, Barrett otherwise); they are compiled by
//! NVRTC once per process for the device's architecture and loaded into one module. Every
//! result is fully reduced, hence bit-identical to the CPU and reference backends.
//!
//! Per ring context the backend keeps device copies of the NTT tables (keyed by
//! [`RingContext::id`]) and of every basis-conversion table it has used (keyed by
//! `(id, from, to)`). Allocation goes through CUDA's stream-ordered allocator on one
//! stream, with the device's default memory pool set to keep freed blocks (release
//! threshold = ∞), so steady-state operations do not call into the OS allocator.
//!
//! Construction never panics because a library is missing: [`GpuBackend::new`] returns
//! [`GpuError::NoDriver`], [`GpuError::NoNvrtc`] or [`GpuError::NoDevice`] instead.
//! Every [`Backend`](fhe_dsl::backend::Backend) operation returns its failure as a value:
//! a failed allocation, copy or launch is an [`fhe_dsl::Error::Device`] naming the
//! operation, with `CUDA_ERROR_OUT_OF_MEMORY` as
//! [`DeviceErrorKind::OutOfMemory`], a missing or
//! lost device as `NoDevice` and every other driver code as `Driver` (its code and
//! description). A kernel fault that CUDA reports asynchronously (an illegal address)
//! surfaces from the next driver call, usually the next operation, `download` or
//! `synchronize`; CUDA then refuses all further work in the context. Operands that do not
//! fit an operation (ring degrees, missing primes, an even Galois element) are
//! `InvalidInput` errors found before any launch. [`upload`](fhe_dsl::backend::Backend::upload)
//! checks a host polynomial's shape ([`validate_host_poly`]) before anything is copied.
//! `Clone` of a [`GpuPoly`] cannot return an error: a failed copy yields a polynomial
//! that carries the error and returns it from the first operation that uses it.

mod backend;
pub mod kernels;
mod keyswitch;
mod ntt;
mod profile;

use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, DriverError, LaunchConfig,
    PushKernelArg,
};
use cudarc::nvrtc::Ptx;
use fhe_dsl::backend::{check_degree, invalid};
use fhe_dsl::ring::{RingContext, RnsPoly};
use fhe_dsl::DeviceErrorKind;
use kernels::{LimbParams, MAX_LIMBS};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Why the GPU backend is unavailable or failed.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// `libcuda` (the driver) cannot be loaded.
    #[error("CUDA driver library (libcuda) not found: no NVIDIA driver on this machine")]
    NoDriver,
    /// `libnvrtc` cannot be loaded.
    #[error(
        "NVRTC library (libnvrtc.so.13) not found: install CUDA 13 or the PyPI wheel \
         nvidia-cuda-nvrtc==13.0.88 and put its lib folder on LD_LIBRARY_PATH"
    )]
    NoNvrtc,
    /// The driver reports no device (or not the requested one).
    #[error("no CUDA device {ordinal} (the driver reports {count})")]
    NoDevice {
        /// requested ordinal
        ordinal: usize,
        /// devices present
        count: usize,
    },
    /// A driver call failed.
    #[error("CUDA driver error in {what}: {err}")]
    Driver {
        /// what was being done
        what: &'static str,
        /// the driver's error
        err: DriverError,
    },
    /// NVRTC rejected a kernel.
    #[error("NVRTC failed to compile the kernels for {arch}:\n{log}")]
    Compile {
        /// target architecture
        arch: String,
        /// the compiler log
        log: String,
    },
    /// cudarc panicked during initialisation (e.g. a driver older than CUDA 13 lacks a
    /// symbol).
    #[error("CUDA initialisation failed: {0}")]
    Init(String),
}

/// The backend's [`name`](fhe_dsl::backend::Backend::name) in errors.
const NAME: &str = "gpu";

impl From<GpuError> for fhe_dsl::Error {
    /// A missing driver, device or NVRTC is [`DeviceErrorKind::NoDevice`] (there is no
    /// device this backend can use); a driver call is classified by its code
    /// ([`device_error_kind`]); a kernel that does not compile or a failed initialisation
    /// is [`DeviceErrorKind::Driver`].
    fn from(e: GpuError) -> Self {
        let (op, kind) = match &e {
            GpuError::NoDriver | GpuError::NoNvrtc | GpuError::NoDevice { .. } => {
                ("init", DeviceErrorKind::NoDevice(e.to_string()))
            }
            GpuError::Driver { what, err } => (*what, driver_kind(what, err)),
            GpuError::Compile { .. } | GpuError::Init(_) => {
                ("init", DeviceErrorKind::Driver(e.to_string()))
            }
        };
        fhe_dsl::Error::device(NAME, op, kind)
    }
}

fn drv<T>(what: &'static str, r: Result<T, DriverError>) -> Result<T, GpuError> {
    r.map_err(|err| GpuError::Driver { what, err })
}

/// How a CUDA driver error code reads as a [`DeviceErrorKind`]; `step` names the
/// backend step that got it and `description` is the driver's text for the code, when
/// there is one. Pure (no driver call), so the classification is tested without a GPU.
pub fn device_error_kind(
    code: cudarc::driver::sys::CUresult,
    step: &str,
    description: Option<&str>,
) -> DeviceErrorKind {
    use cudarc::driver::sys::CUresult as R;
    let text = match description {
        Some(d) => format!("{code:?}: {d} (in {step})"),
        None => format!("{code:?} (in {step})"),
    };
    match code {
        R::CUDA_ERROR_OUT_OF_MEMORY => DeviceErrorKind::OutOfMemory,
        R::CUDA_ERROR_NO_DEVICE
        | R::CUDA_ERROR_INVALID_DEVICE
        | R::CUDA_ERROR_DEVICE_UNAVAILABLE
        | R::CUDA_ERROR_DEVICE_NOT_LICENSED
        | R::CUDA_ERROR_DEINITIALIZED => DeviceErrorKind::NoDevice(text),
        _ => DeviceErrorKind::Driver(text),
    }
}

/// [`device_error_kind`] of a driver error, with the driver's description of its code.
fn driver_kind(step: &str, err: &DriverError) -> DeviceErrorKind {
    let description = err.error_string().ok();
    device_error_kind(err.0, step, description.and_then(|c| c.to_str().ok()))
}

/// A driver error of the backend step `step` as an [`fhe_dsl::Error::Device`].
fn dev_err(step: &'static str, err: DriverError) -> fhe_dsl::Error {
    fhe_dsl::Error::device(NAME, step, driver_kind(step, &err))
}

/// Driver results as [`fhe_dsl::Result`]s naming the step.
trait OrDevice<T> {
    fn or_dev(self, step: &'static str) -> fhe_dsl::Result<T>;
}

impl<T> OrDevice<T> for Result<T, DriverError> {
    fn or_dev(self, step: &'static str) -> fhe_dsl::Result<T> {
        self.map_err(|e| dev_err(step, e))
    }
}

/// Checks a host polynomial before [`upload`](fhe_dsl::backend::Backend::upload) copies it
/// to the device, and returns exactly the words to copy: `primes.len() · N` of them, for
/// the ring degree and distinct, in-range prime indices of `ctx`
/// ([`RnsPoly::check_shape`]). A polynomial built with safe code can claim more limbs or
/// a larger degree than its data holds; without this check a kernel would read past the
/// device buffer made from it.
pub fn validate_host_poly<'a>(ctx: &RingContext, p: &'a RnsPoly) -> fhe_dsl::Result<&'a [u64]> {
    p.check_shape(ctx)?;
    // check_shape proved data.len() == primes.len() · n; the slice makes the copy length
    // follow the claimed shape, never the vector's
    Ok(&p.data[..p.primes.len() * p.n])
}

/// A polynomial's device buffer, or the error that kept it from being made (a failed
/// [`Clone`]).
type Buf = fhe_dsl::Result<CudaSlice<u64>>;

/// A device-resident RNS polynomial: `primes.len()` limbs of `n` words, limb-major.
#[derive(Debug)]
pub struct GpuPoly {
    /// At least `primes.len() * n` words (one spare word when empty); an error when the
    /// copy that made this polynomial failed, returned by every operation that reads it.
    buf: Buf,
    primes: Vec<usize>,
    n: usize,
}

/// `Clone` cannot fail, so a failed device copy (out of memory) makes a polynomial that
/// carries the error: the first backend operation given it returns that error.
impl Clone for GpuPoly {
    fn clone(&self) -> Self {
        let buf = match &self.buf {
            Ok(d) => d.stream().clone_dtod(d).or_dev("clone"),
            Err(e) => Err(e.clone()),
        };
        GpuPoly {
            buf,
            primes: self.primes.clone(),
            n: self.n,
        }
    }
}

impl GpuPoly {
    /// Ring degree.
    pub fn n(&self) -> usize {
        self.n
    }
    /// Number of words in use.
    fn len(&self) -> usize {
        self.primes.len() * self.n
    }
    /// The device buffer, or the error a failed clone left.
    fn data(&self) -> fhe_dsl::Result<&CudaSlice<u64>> {
        self.buf.as_ref().map_err(Clone::clone)
    }
}

/// The device buffer of a polynomial for writing (a function of the field, so that the
/// polynomial's other fields stay readable meanwhile).
fn data_mut(buf: &mut Buf) -> fhe_dsl::Result<&mut CudaSlice<u64>> {
    buf.as_mut().map_err(|e| e.clone())
}

struct Kernels {
    /// `ntt_fwd_outer_{R}` for R = 2^1..=2^6, indexed by log2(R) − 1.
    ntt_fwd_outer: Vec<CudaFunction>,
    ntt_fwd_tail: CudaFunction,
    intt_head: CudaFunction,
    /// `intt_outer_{R}`, indexed like `ntt_fwd_outer`.
    intt_outer: Vec<CudaFunction>,
    ew_binary: CudaFunction,
    ew_mul_add: CudaFunction,
    ew_unary: CudaFunction,
    ew_sub_from_mul: CudaFunction,
    mul_add_terms: CudaFunction,
    gather_limbs: CudaFunction,
    automorphism_ntt: CudaFunction,
    automorphism_mul_scalar_add: CudaFunction,
    base_convert: CudaFunction,
    ks_inner: CudaFunction,
}

impl Kernels {
    fn load(m: &Arc<CudaModule>) -> Result<Self, GpuError> {
        let f = |name: &'static str| drv(name, m.load_function(name));
        let outer = |stem: &str| -> Result<Vec<CudaFunction>, GpuError> {
            (1..=MAX_LOG_OUTER)
                .map(|k| {
                    drv(
                        "load outer NTT",
                        m.load_function(&format!("{stem}_{}", 1 << k)),
                    )
                })
                .collect()
        };
        Ok(Kernels {
            ntt_fwd_outer: outer("ntt_fwd_outer")?,
            ntt_fwd_tail: f("ntt_fwd_tail")?,
            intt_head: f("intt_head")?,
            intt_outer: outer("intt_outer")?,
            ew_binary: f("ew_binary")?,
            ew_mul_add: f("ew_mul_add")?,
            ew_unary: f("ew_unary")?,
            ew_sub_from_mul: f("ew_sub_from_mul")?,
            mul_add_terms: f("mul_add_terms")?,
            gather_limbs: f("gather_limbs")?,
            automorphism_ntt: f("automorphism_ntt")?,
            automorphism_mul_scalar_add: f("automorphism_mul_scalar_add")?,
            base_convert: f("base_convert")?,
            ks_inner: f("ks_inner")?,
        })
    }
}

/// Host copies of per-prime constants and device copies of the NTT tables of one context.
struct RingTables {
    q: Vec<u64>,
    bh: Vec<u64>,
    bl: Vec<u64>,
    n_inv: Vec<u64>,
    n_inv_shoup: Vec<u64>,
    tw: CudaSlice<u64>,
    tws: CudaSlice<u64>,
    itw: CudaSlice<u64>,
    itws: CudaSlice<u64>,
    /// `itw[1] · N^-1` per prime (the last inverse stage) and its Shoup companion.
    wn: CudaSlice<u64>,
    wns: CudaSlice<u64>,
}

type ConvKey = (u64, Vec<usize>, Vec<usize>);

struct Inner {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    k: Kernels,
    arch: String,
    device_name: String,
    tables: Mutex<HashMap<u64, Arc<RingTables>>>,
    conv: Mutex<HashMap<ConvKey, Arc<CudaSlice<u64>>>>,
    /// Per-primitive device times, when `FHE_GPU_PROFILE=1`.
    profile: Option<profile::Profile>,
    _module: Arc<CudaModule>,
}

/// The CUDA backend. Cheap to clone (shares one device context, stream and table cache;
/// [`GpuBackend::new`] returns the same shared instance per device).
#[derive(Clone)]
pub struct GpuBackend {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for GpuBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuBackend")
            .field("device", &self.inner.device_name)
            .field("arch", &self.inner.arch)
            .finish()
    }
}

/// Threads per block of the element-wise and per-stage kernels.
const BLOCK: u32 = 256;
/// log2 of the words one shared-memory NTT block transforms (C = 2048: 16 KiB).
const LOG_CHUNK: u32 = 11;
/// Largest log2(R) of the register-resident outer NTT stages (N = 2^17 with C = 2^11).
const MAX_LOG_OUTER: u32 = 6;
/// Threads per block of the outer NTT kernels (R words each in registers).
const OUTER_BLOCK: u32 = 128;

fn split_hi_lo(q: u64) -> (u64, u64) {
    let r = u128::MAX / q as u128;
    ((r >> 64) as u64, r as u64)
}

fn shoup(q: u64, w: u64) -> u64 {
    (((w as u128) << 64) / q as u128) as u64
}

/// Position in `src` of each prime of `dst`; an
/// [`InvalidInput`](DeviceErrorKind::InvalidInput) error of `op` when one is missing (a
/// kernel would otherwise read a limb the source does not have).
fn positions(op: &'static str, dst: &[usize], src: &[usize]) -> fhe_dsl::Result<Vec<u32>> {
    dst.iter()
        .map(|p| {
            src.iter()
                .position(|x| x == p)
                .map(|i| i as u32)
                .ok_or_else(|| {
                    invalid(
                        NAME,
                        op,
                        format!("operand lacks prime index {p} (has {src:?})"),
                    )
                })
        })
        .collect()
}

impl GpuBackend {
    /// The backend on device 0. Returns an error (never panics) when the driver, NVRTC or
    /// a device is missing.
    pub fn new() -> Result<Self, GpuError> {
        Self::with_device(0)
    }

    /// The backend on device `ordinal` (one shared instance per device and process).
    pub fn with_device(ordinal: usize) -> Result<Self, GpuError> {
        static SHARED: OnceLock<Mutex<HashMap<usize, Arc<Inner>>>> = OnceLock::new();
        // SAFETY: only attempts to dlopen the driver library; no symbol is called.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err(GpuError::NoDriver);
        }
        if !kernels::nvrtc_available() {
            return Err(GpuError::NoNvrtc);
        }
        let shared = SHARED.get_or_init(Default::default);
        let mut map = shared.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(inner) = map.get(&ordinal) {
            return Ok(GpuBackend {
                inner: inner.clone(),
            });
        }
        let inner = std::panic::catch_unwind(|| Inner::init(ordinal)).map_err(|p| {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            GpuError::Init(msg)
        })??;
        let inner = Arc::new(inner);
        map.insert(ordinal, inner.clone());
        Ok(GpuBackend { inner })
    }

    /// Device name as the driver reports it.
    pub fn device_name(&self) -> &str {
        &self.inner.device_name
    }

    /// The architecture the kernels were compiled for (`sm_90` on an H100).
    pub fn arch(&self) -> &str {
        &self.inner.arch
    }

    /// Waits for all queued work (for timing); a fault of queued work is returned here.
    pub fn synchronize(&self) -> Result<(), GpuError> {
        drv("synchronize", self.inner.stream.synchronize())
    }

    /// The stream every operation runs on (for CUDA-event timing).
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.inner.stream
    }

    /// Device time in milliseconds of the work `f` enqueues, between two CUDA events on the
    /// backend's stream (waits for it to finish).
    pub fn time_ms(&self, f: impl FnOnce()) -> Result<f32, GpuError> {
        use cudarc::driver::sys::CUevent_flags::CU_EVENT_DEFAULT;
        let s = &self.inner.stream;
        let start = drv("event", s.record_event(Some(CU_EVENT_DEFAULT)))?;
        f();
        let end = drv("event", s.record_event(Some(CU_EVENT_DEFAULT)))?;
        drv("event sync", end.synchronize())?;
        drv("elapsed", start.elapsed_ms(&end))
    }

    /// Device memory `(free, total)` in bytes.
    pub fn mem_info(&self) -> Result<(usize, usize), GpuError> {
        drv("mem_get_info", self.inner.ctx.mem_get_info())
    }
}

impl Inner {
    fn init(ordinal: usize) -> Result<Inner, GpuError> {
        let count = drv("device count", CudaContext::device_count())?.max(0) as usize;
        if ordinal >= count {
            return Err(GpuError::NoDevice { ordinal, count });
        }
        let ctx = drv("context", CudaContext::new(ordinal))?;
        // SAFETY: the backend uses exactly one stream for every allocation, launch, copy
        // and free, so stream order alone serialises all accesses to device memory.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx.default_stream();
        keep_pool_memory(&ctx);
        let (major, minor) = drv("compute capability", ctx.compute_capability())?;
        let arch = format!("sm_{major}{minor}");
        let device_name = drv("device name", ctx.name())?;
        let ptx = kernels::program_ptx(&arch)?;
        let module = drv("load module", ctx.load_module(Ptx::from_src(ptx)))?;
        let k = Kernels::load(&module)?;
        Ok(Inner {
            ctx,
            stream,
            k,
            arch,
            device_name,
            tables: Mutex::new(HashMap::new()),
            conv: Mutex::new(HashMap::new()),
            profile: (std::env::var("FHE_GPU_PROFILE").as_deref() == Ok("1"))
                .then(profile::Profile::default),
            _module: module,
        })
    }
}

/// Sets the device's default memory pool to keep freed blocks (best effort: on failure
/// the pool simply returns memory to the OS at synchronisation points).
fn keep_pool_memory(ctx: &Arc<CudaContext>) {
    use cudarc::driver::sys;
    let mut pool: sys::CUmemoryPool = std::ptr::null_mut();
    // SAFETY: `pool` is a valid out-pointer and the device handle comes from a live context.
    let r = unsafe { sys::cuDeviceGetDefaultMemPool(&mut pool, ctx.cu_device()) };
    if r != sys::CUresult::CUDA_SUCCESS || pool.is_null() {
        return;
    }
    let mut threshold = u64::MAX;
    // SAFETY: the release-threshold attribute takes a pointer to a u64 (cuuint64_t).
    let _ = unsafe {
        sys::cuMemPoolSetAttribute(
            pool,
            sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
            &mut threshold as *mut u64 as *mut std::ffi::c_void,
        )
    };
}

impl GpuBackend {
    /// Device tables of `ctx` (built and uploaded on first use; a failed upload is
    /// returned and retried on the next use).
    fn tables(&self, ctx: &RingContext) -> fhe_dsl::Result<Arc<RingTables>> {
        let mut map = self.inner.tables.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = map.get(&ctx.id()) {
            return Ok(t.clone());
        }
        let s = self.stream();
        let l = ctx.moduli().len();
        let n = ctx.n();
        let (mut tw, mut tws, mut itw, mut itws) = (
            Vec::with_capacity(l * n),
            Vec::with_capacity(l * n),
            Vec::with_capacity(l * n),
            Vec::with_capacity(l * n),
        );
        let (mut q, mut bh, mut bl, mut n_inv, mut n_inv_shoup, mut wn, mut wns) =
            (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        for i in 0..l {
            let t = ctx.ntt_table(i);
            let m = &t.modulus;
            tw.extend_from_slice(&t.twiddles);
            tws.extend_from_slice(&t.twiddles_shoup);
            itw.extend_from_slice(&t.inv_twiddles);
            itws.extend_from_slice(&t.inv_twiddles_shoup);
            let qi = m.value();
            let (h, lo) = split_hi_lo(qi);
            q.push(qi);
            bh.push(h);
            bl.push(lo);
            n_inv.push(t.n_inv);
            n_inv_shoup.push(m.shoup(t.n_inv));
            let w = if n > 1 {
                m.mul(t.inv_twiddles[1], t.n_inv)
            } else {
                t.n_inv
            };
            wn.push(w);
            wns.push(m.shoup(w));
        }
        let up = |v: &[u64]| s.clone_htod(v).or_dev("upload tables");
        let t = Arc::new(RingTables {
            tw: up(&tw)?,
            tws: up(&tws)?,
            itw: up(&itw)?,
            itws: up(&itws)?,
            wn: up(&wn)?,
            wns: up(&wns)?,
            q,
            bh,
            bl,
            n_inv,
            n_inv_shoup,
        });
        map.insert(ctx.id(), t.clone());
        Ok(t)
    }

    /// Device table of the basis conversion `from -> to` (see basis.cu for the layout).
    fn conv_table(
        &self,
        ctx: &RingContext,
        from: &[usize],
        to: &[usize],
    ) -> fhe_dsl::Result<Arc<CudaSlice<u64>>> {
        let key = (ctx.id(), from.to_vec(), to.to_vec());
        let mut map = self.inner.conv.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = map.get(&key) {
            return Ok(t.clone());
        }
        let bc = ctx.base_conv(from, to);
        let mut v = Vec::with_capacity(4 * from.len() + 4 * to.len() + from.len() * to.len());
        v.extend(from.iter().map(|&i| ctx.modulus(i).value()));
        v.extend_from_slice(&bc.qhat_inv);
        v.extend_from_slice(&bc.qhat_inv_shoup);
        v.extend(to.iter().map(|&j| ctx.modulus(j).value()));
        v.extend(to.iter().map(|&j| split_hi_lo(ctx.modulus(j).value()).0));
        v.extend(to.iter().map(|&j| split_hi_lo(ctx.modulus(j).value()).1));
        v.extend_from_slice(&bc.qhat_mod_p);
        // (T-1)/2 mod each prime, T = the product of `from` (the centered conversion)
        let half = |i: usize| {
            let m = ctx.modulus(i);
            let t = from
                .iter()
                .fold(1u64, |acc, &j| m.mul(acc, m.reduce(ctx.modulus(j).value())));
            m.mul(m.sub(t, 1), m.inv(2).expect("odd prime"))
        };
        v.extend(from.iter().map(|&i| half(i)));
        v.extend(to.iter().map(|&j| ctx.modulus(j).neg(half(j))));
        let t = Arc::new(
            self.stream()
                .clone_htod(&v)
                .or_dev("upload conversion table")?,
        );
        map.insert(key, t.clone());
        Ok(t)
    }

    /// Uninitialised-by-contract device buffer for `primes.len()` limbs (zeroed: cheap
    /// next to any kernel, and never exposes stale data).
    fn alloc(&self, n: usize, primes: &[usize]) -> fhe_dsl::Result<GpuPoly> {
        let len = (primes.len() * n).max(1);
        Ok(GpuPoly {
            buf: Ok(self.stream().alloc_zeros::<u64>(len).or_dev("alloc")?),
            primes: primes.to_vec(),
            n,
        })
    }

    /// A device buffer for `primes.len()` limbs whose every word the caller's next kernel
    /// writes before anything reads it (no memset pass).
    fn alloc_for_overwrite(&self, n: usize, primes: &[usize]) -> fhe_dsl::Result<GpuPoly> {
        let len = (primes.len() * n).max(1);
        // SAFETY: u64 has no invalid bit patterns, and every caller launches a kernel on
        // this stream that writes all `primes.len() · n` words before any read of them
        // (or returns the launch's error, and the buffer is dropped unread).
        let data = unsafe { self.stream().alloc::<u64>(len) }.or_dev("alloc")?;
        Ok(GpuPoly {
            buf: Ok(data),
            primes: primes.to_vec(),
            n,
        })
    }

    /// Launch parameters for limbs `range` of a destination over `primes`.
    fn params(
        &self,
        t: &RingTables,
        primes: &[usize],
        range: std::ops::Range<usize>,
        pos_b: Option<&[u32]>,
        pos_c: Option<&[u32]>,
        scal: Option<(&[u64], &[u64])>,
    ) -> fhe_dsl::Result<Box<LimbParams>> {
        let mut p = Box::<LimbParams>::default();
        for (slot, l) in range.enumerate() {
            let pr = primes[l];
            if pr >= t.q.len() {
                return Err(invalid(
                    NAME,
                    "params",
                    format!("prime index {pr} out of range: the ring has {}", t.q.len()),
                ));
            }
            p.q[slot] = t.q[pr];
            p.bh[slot] = t.bh[pr];
            p.bl[slot] = t.bl[pr];
            p.prime[slot] = pr as u32;
            if let Some(pb) = pos_b {
                p.pos_b[slot] = pb[l];
            }
            if let Some(pc) = pos_c {
                p.pos_c[slot] = pc[l];
            }
            if let Some((s, ss)) = scal {
                p.s[slot] = s[l];
                p.ss[slot] = ss[l];
            }
        }
        Ok(p)
    }

    fn chunks(limbs: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
        (0..limbs)
            .step_by(MAX_LIMBS)
            .map(move |s| s..(s + MAX_LIMBS).min(limbs))
    }

    fn grid(words: usize, limbs: usize) -> LaunchConfig {
        LaunchConfig {
            grid_dim: ((words as u32).div_ceil(BLOCK), limbs as u32, 1),
            block_dim: (BLOCK, 1, 1),
            shared_mem_bytes: 0,
        }
    }

    /// One thread per column of the outer NTT stages: `columns` (= C) per limb.
    fn outer_grid(columns: usize, limbs: usize) -> LaunchConfig {
        LaunchConfig {
            grid_dim: ((columns as u32).div_ceil(OUTER_BLOCK), limbs as u32, 1),
            block_dim: (OUTER_BLOCK, 1, 1),
            shared_mem_bytes: 0,
        }
    }

    fn binary(
        &self,
        ctx: &RingContext,
        a: &mut GpuPoly,
        b: &GpuPoly,
        op: u32,
        name: &'static str,
    ) -> fhe_dsl::Result<()> {
        check_degree(NAME, name, a.n, b.n)?;
        let t = self.tables(ctx)?;
        let pos = positions(name, &a.primes, &b.primes)?;
        let (n, log_n) = (a.n, a.n.trailing_zeros());
        let src = b.data()?;
        let dst = data_mut(&mut a.buf)?;
        for r in Self::chunks(a.primes.len()) {
            let p = self.params(&t, &a.primes, r.clone(), Some(&pos), None, None)?;
            let mut view = dst.slice_mut(r.start * n..r.end * n);
            let mut lb = self.stream().launch_builder(&self.inner.k.ew_binary);
            lb.arg(&mut view).arg(src).arg(&log_n).arg(&op).arg(&*p);
            // SAFETY: ew_binary(u64*, const u64*, u32, u32, LimbParams) matches the
            // arguments; indices stay below limbs·N of each buffer (positions checked).
            unsafe { lb.launch(Self::grid(n, r.len())) }.or_dev("ew_binary")?;
        }
        Ok(())
    }

    fn unary(&self, ctx: &RingContext, a: &mut GpuPoly, op: u32, s: &[u64]) -> fhe_dsl::Result<()> {
        let t = self.tables(ctx)?;
        let (n, log_n) = (a.n, a.n.trailing_zeros());
        let ss: Vec<u64> = if op == kernels::EW_MUL_SCALAR {
            a.primes
                .iter()
                .zip(s)
                .map(|(&pr, &v)| shoup(t.q[pr], v))
                .collect()
        } else {
            vec![0; s.len()]
        };
        let dst = data_mut(&mut a.buf)?;
        for r in Self::chunks(a.primes.len()) {
            let scal = (!s.is_empty()).then_some((s, ss.as_slice()));
            let p = self.params(&t, &a.primes, r.clone(), None, None, scal)?;
            let mut view = dst.slice_mut(r.start * n..r.end * n);
            let mut lb = self.stream().launch_builder(&self.inner.k.ew_unary);
            lb.arg(&mut view).arg(&log_n).arg(&op).arg(&*p);
            // SAFETY: ew_unary(u64*, u32, u32, LimbParams) matches; in-bounds per limb.
            unsafe { lb.launch(Self::grid(n, r.len())) }.or_dev("ew_unary")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! What runs without a GPU: the classification of driver errors, the host-side check
    //! of `upload` and the error a failed clone carries.
    use super::*;
    use cudarc::driver::sys::CUresult;
    use fhe_dsl::conformance::{random_poly, suite_params};
    use fhe_dsl::Error;

    #[test]
    fn driver_codes_map_to_typed_kinds() {
        assert_eq!(
            device_error_kind(CUresult::CUDA_ERROR_OUT_OF_MEMORY, "alloc", None),
            DeviceErrorKind::OutOfMemory
        );
        for code in [
            CUresult::CUDA_ERROR_NO_DEVICE,
            CUresult::CUDA_ERROR_INVALID_DEVICE,
            CUresult::CUDA_ERROR_DEVICE_UNAVAILABLE,
        ] {
            assert!(matches!(
                device_error_kind(code, "init", None),
                DeviceErrorKind::NoDevice(_)
            ));
        }
        match device_error_kind(
            CUresult::CUDA_ERROR_ILLEGAL_ADDRESS,
            "ks_inner",
            Some("an illegal memory access was encountered"),
        ) {
            DeviceErrorKind::Driver(t) => assert_eq!(
                t,
                "CUDA_ERROR_ILLEGAL_ADDRESS: an illegal memory access was encountered \
                 (in ks_inner)"
            ),
            k => panic!("{k:?}"),
        }
        let e = Error::device(
            NAME,
            "key_switch_inner",
            device_error_kind(CUresult::CUDA_ERROR_LAUNCH_FAILED, "ks_inner", None),
        );
        assert_eq!(
            e.to_string(),
            "gpu backend: `key_switch_inner` failed: driver error: CUDA_ERROR_LAUNCH_FAILED \
             (in ks_inner)"
        );
    }

    #[test]
    fn construction_errors_become_device_errors() {
        let e: Error = GpuError::NoDriver.into();
        match &e {
            Error::Device {
                backend: "gpu",
                op: "init",
                kind: DeviceErrorKind::NoDevice(why),
            } => assert!(why.contains("libcuda"), "{why}"),
            e => panic!("{e:?}"),
        }
        assert!(matches!(
            Error::from(GpuError::NoDevice {
                ordinal: 1,
                count: 1
            })
            .device_kind(),
            Some(DeviceErrorKind::NoDevice(_))
        ));
        assert!(matches!(
            Error::from(GpuError::Compile {
                arch: "sm_90".into(),
                log: "x".into()
            })
            .device_kind(),
            Some(DeviceErrorKind::Driver(_))
        ));
    }

    /// Malformed host polynomials, built with safe code, are refused before any copy:
    /// the check `upload` runs first.
    #[test]
    fn upload_check_refuses_malformed_polynomials() {
        let params = suite_params(10);
        let ctx = params.ring();
        let good = random_poly(ctx, &[0, 1], 3);
        assert_eq!(validate_host_poly(ctx, &good).unwrap().len(), 2 * ctx.n());
        let empty = RnsPoly::zero(ctx.n(), &[]);
        assert!(validate_host_poly(ctx, &empty).unwrap().is_empty());
        let count = ctx.moduli().len();
        let with = |f: &dyn Fn(&mut RnsPoly)| {
            let mut p = good.clone();
            f(&mut p);
            p
        };
        let cases = [
            (
                "a word short",
                with(&|p| {
                    p.data.pop();
                }),
            ),
            ("a word long", with(&|p| p.data.push(1))),
            (
                "one limb of data for two primes",
                with(&|p| p.data.truncate(p.n)),
            ),
            (
                "a third prime without its limb",
                with(&|p| p.primes.push(2)),
            ),
            ("twice the degree", with(&|p| p.n *= 2)),
            ("half the degree", with(&|p| p.n /= 2)),
            ("degree 0", with(&|p| p.n = 0)),
            (
                "a prime index past the ring",
                with(&|p| p.primes[1] = count),
            ),
            ("a huge prime index", with(&|p| p.primes[0] = usize::MAX)),
            ("a repeated prime", with(&|p| p.primes[1] = 0)),
        ];
        for (what, p) in cases {
            match validate_host_poly(ctx, &p) {
                Err(Error::Malformed(m)) => assert!(!m.is_empty()),
                Err(e) => panic!("{what}: wrong error {e}"),
                Ok(w) => panic!("{what}: accepted ({} words)", w.len()),
            }
        }
    }

    /// A polynomial whose clone failed carries the error; its clones and every read of
    /// its buffer return it.
    #[test]
    fn a_failed_clone_carries_its_error() {
        let oom = Error::device(NAME, "clone", DeviceErrorKind::OutOfMemory);
        let p = GpuPoly {
            buf: Err(oom.clone()),
            primes: vec![0, 1],
            n: 1024,
        };
        let q = p.clone();
        assert_eq!(q.data().unwrap_err(), oom);
        let mut q = q;
        assert_eq!(data_mut(&mut q.buf).unwrap_err(), oom);
        assert_eq!(q.primes, [0, 1]);
    }

    #[test]
    fn missing_primes_are_invalid_input() {
        let e = positions("mul_assign", &[0, 5], &[0, 1, 2]).unwrap_err();
        assert!(matches!(
            e.device_kind(),
            Some(DeviceErrorKind::InvalidInput(m)) if m.contains("prime index 5")
        ));
        assert_eq!(positions("x", &[2, 0], &[0, 1, 2]).unwrap(), [2, 0]);
    }
}
