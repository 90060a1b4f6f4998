//! Compiles every kernel file to PTX for sm_90 with NVRTC: no GPU needed, only
//! libnvrtc (CI installs the PyPI wheel `nvidia-cuda-nvrtc==13.0.88`). Prints `skipped`
//! when the library cannot be loaded (a `harness = false` target, see `harness/mod.rs`),
//! unless `FHE_REQUIRE_NVRTC=1`, in which case it fails.

mod harness;

use fhe_backend_gpu::kernels::{self, COMMON, KERNEL_NAMES, SOURCES};
use harness::{Outcome, Test};

/// Why NVRTC is unusable (`None`: it is usable); panics when it is required.
fn nvrtc_missing(test: &str) -> Option<String> {
    if kernels::nvrtc_available() {
        let v = kernels::nvrtc_version();
        eprintln!("{test}: NVRTC {v:?}");
        return None;
    }
    let required = std::env::var("FHE_REQUIRE_NVRTC").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "{test}: FHE_REQUIRE_NVRTC=1 but libnvrtc cannot be loaded \
         (LD_LIBRARY_PATH={:?})",
        std::env::var("LD_LIBRARY_PATH").ok()
    );
    Some(
        "libnvrtc not found: pip install nvidia-cuda-nvrtc==13.0.88 and put its lib folder \
         on LD_LIBRARY_PATH, or set FHE_REQUIRE_NVRTC=1 to make this fail"
            .into(),
    )
}

fn main() -> std::process::ExitCode {
    harness::main(&[
        Test::new(
            "every_kernel_file_compiles_to_ptx_for_sm_90",
            every_kernel_file_compiles_to_ptx_for_sm_90,
        ),
        Test::new(
            "the_whole_program_compiles_and_exports_every_kernel",
            the_whole_program_compiles_and_exports_every_kernel,
        ),
    ])
}

fn every_kernel_file_compiles_to_ptx_for_sm_90() -> Outcome {
    if let Some(why) = nvrtc_missing("ptx") {
        return Outcome::Skip(why);
    }
    for (name, src) in SOURCES {
        let full = format!("{COMMON}\n{src}");
        let ptx = kernels::compile(&full, "sm_90", name)
            .unwrap_or_else(|e| panic!("{name} does not compile: {e}"))
            .to_src();
        assert!(ptx.contains(".target sm_90"), "{name}: PTX not for sm_90");
        eprintln!("{name}: {} bytes of PTX", ptx.len());
    }
    Outcome::Pass
}

fn the_whole_program_compiles_and_exports_every_kernel() -> Outcome {
    if let Some(why) = nvrtc_missing("program") {
        return Outcome::Skip(why);
    }
    for arch in ["sm_90", "sm_80"] {
        let ptx = kernels::program_ptx(arch).unwrap_or_else(|e| panic!("{e}"));
        for k in KERNEL_NAMES {
            assert!(
                ptx.contains(&format!(".entry {k}(")),
                "{arch}: kernel {k} missing from the PTX"
            );
        }
        // 128-bit products compile to native 64-bit multiply-high, not a libcall
        assert!(ptx.contains("mul.hi.u64"), "{arch}: no mul.hi.u64 in PTX");
    }
    Outcome::Pass
}
