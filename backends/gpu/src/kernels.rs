//! CUDA C sources, their NVRTC compilation (once per process and architecture) and the
//! by-value launch parameters they share with the host.

use crate::GpuError;
use cudarc::driver::DeviceRepr;
use cudarc::nvrtc::{compile_ptx_with_opts, CompileOptions, Ptx};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// Definitions every kernel file uses; prepended to each of them.
pub const COMMON: &str = include_str!("../kernels/common.cuh");

/// The kernel files, by name, without the common prelude.
pub const SOURCES: &[(&str, &str)] = &[
    ("ntt.cu", include_str!("../kernels/ntt.cu")),
    ("elementwise.cu", include_str!("../kernels/elementwise.cu")),
    (
        "automorphism.cu",
        include_str!("../kernels/automorphism.cu"),
    ),
    ("basis.cu", include_str!("../kernels/basis.cu")),
    ("keyswitch.cu", include_str!("../kernels/keyswitch.cu")),
];

/// Limbs one launch addresses (`FHE_MAX_LIMBS` in `common.cuh`).
pub const MAX_LIMBS: usize = 64;

/// The whole program as one translation unit: the prelude, then every kernel file.
pub fn full_source() -> String {
    let mut s = String::from(COMMON);
    for (name, src) in SOURCES {
        s.push_str(&format!("\n// ---- {name} ----\n"));
        s.push_str(src);
    }
    s
}

/// Whether the NVRTC shared library can be loaded (never panics).
pub fn nvrtc_available() -> bool {
    // SAFETY: only attempts to dlopen the candidate library names; no symbol is called.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// The NVRTC version `(major, minor)`, or `None` when the library is absent.
pub fn nvrtc_version() -> Option<(i32, i32)> {
    if !nvrtc_available() {
        return None;
    }
    let (mut major, mut minor) = (0, 0);
    // SAFETY: the library is present; nvrtcVersion writes two ints through valid pointers.
    let r = unsafe { cudarc::nvrtc::sys::nvrtcVersion(&mut major, &mut minor) };
    (r == cudarc::nvrtc::sys::nvrtcResult::NVRTC_SUCCESS).then_some((major, minor))
}

/// Compiles `src` to PTX for `arch` (e.g. `"sm_90"`). Requires NVRTC (check
/// [`nvrtc_available`] first: cudarc panics when the library is missing).
pub fn compile(src: &str, arch: &str, name: &str) -> Result<Ptx, GpuError> {
    if !nvrtc_available() {
        return Err(GpuError::NoNvrtc);
    }
    let opts = CompileOptions {
        options: vec![
            format!("--gpu-architecture={arch}"),
            "--std=c++17".into(),
            "--extra-device-vectorization".into(),
        ],
        name: Some(name.into()),
        ..Default::default()
    };
    compile_ptx_with_opts(src, opts).map_err(|e| GpuError::Compile {
        arch: arch.into(),
        log: match e {
            cudarc::nvrtc::CompileError::CompileError { log, .. } => {
                log.to_string_lossy().into_owned()
            }
            other => format!("{other:?}"),
        },
    })
}

/// The whole program compiled for `arch`, cached for the life of the process.
pub fn program_ptx(arch: &str) -> Result<String, GpuError> {
    static CACHE: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut c = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = c.get(arch) {
        return Ok(p.clone());
    }
    let ptx = compile(&full_source(), arch, "fhe_dsl_kernels.cu")?.to_src();
    c.insert(arch.into(), ptx.clone());
    Ok(ptx)
}

/// Names of every `extern "C" __global__` function the backend loads.
pub const KERNEL_NAMES: &[&str] = &[
    "ntt_fwd_outer_2",
    "ntt_fwd_outer_4",
    "ntt_fwd_outer_8",
    "ntt_fwd_outer_16",
    "ntt_fwd_outer_32",
    "ntt_fwd_outer_64",
    "ntt_fwd_tail",
    "intt_head",
    "intt_outer_2",
    "intt_outer_4",
    "intt_outer_8",
    "intt_outer_16",
    "intt_outer_32",
    "intt_outer_64",
    "ew_binary",
    "ew_mul_add",
    "ew_unary",
    "gather_limbs",
    "automorphism_ntt",
    "automorphism_mul_scalar_add",
    "base_convert",
    "ks_inner",
    "mul_add_terms",
    "ew_sub_from_mul",
];

/// `LimbParams` of `common.cuh`: per-limb moduli, scalars and operand positions of one
/// launch, passed by value.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct LimbParams {
    pub q: [u64; MAX_LIMBS],
    pub bh: [u64; MAX_LIMBS],
    pub bl: [u64; MAX_LIMBS],
    pub s: [u64; MAX_LIMBS],
    pub ss: [u64; MAX_LIMBS],
    pub prime: [u32; MAX_LIMBS],
    pub pos_b: [u32; MAX_LIMBS],
    pub pos_c: [u32; MAX_LIMBS],
}

impl Default for LimbParams {
    fn default() -> Self {
        LimbParams {
            q: [0; MAX_LIMBS],
            bh: [0; MAX_LIMBS],
            bl: [0; MAX_LIMBS],
            s: [0; MAX_LIMBS],
            ss: [0; MAX_LIMBS],
            prime: [0; MAX_LIMBS],
            pos_b: [0; MAX_LIMBS],
            pos_c: [0; MAX_LIMBS],
        }
    }
}

// SAFETY: plain `repr(C)` struct of integer arrays with the exact layout of the CUDA
// `struct LimbParams` (no padding: 5·512 + 3·256 bytes); valid for any bit pattern.
unsafe impl DeviceRepr for LimbParams {}

/// Digits one [`KsPtrs`] addresses (`FHE_MAX_DIGITS` in `keyswitch.cu`).
pub const MAX_DIGITS: usize = 16;

/// `KsPtrs` of `keyswitch.cu`: device addresses of the key-switching digits and of the
/// key's two halves per digit, passed by value.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct KsPtrs {
    pub d: [u64; MAX_DIGITS],
    pub b: [u64; MAX_DIGITS],
    pub a: [u64; MAX_DIGITS],
}

// SAFETY: plain `repr(C)` struct of u64 arrays with the layout of the CUDA `struct KsPtrs`
// (three arrays of 16 pointers, no padding); the addresses are only dereferenced on the
// device.
unsafe impl DeviceRepr for KsPtrs {}

/// Element-wise binary op codes (`EW_*` in elementwise.cu).
pub const EW_ADD: u32 = 0;
pub const EW_SUB: u32 = 1;
pub const EW_MUL: u32 = 2;
/// Element-wise unary op codes.
pub const EW_NEG: u32 = 0;
pub const EW_ADD_SCALAR: u32 = 1;
pub const EW_MUL_SCALAR: u32 = 2;
