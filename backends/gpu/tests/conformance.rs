//! The fhe-dsl backend conformance suite against [`GpuBackend`]: bit-exact agreement with
//! the reference backend. Without a CUDA driver, NVRTC or device every check prints
//! `skipped (no CUDA device: <why>)` (a `harness = false` target, see `harness/mod.rs`;
//! `FHE_REQUIRE_GPU=1` makes that a failure).
//!
//! `backend_conformance_tests!` evaluates its constructor inside each `#[test]` and cannot
//! skip, so the checks are listed here by hand.

mod harness;

use fhe_backend_gpu::GpuBackend;
use fhe_dsl::conformance as c;
use harness::{Outcome, Test};

/// Runs `f` on the shared GPU backend, or skips saying why there is none.
fn on_gpu(f: impl FnOnce(GpuBackend)) -> Outcome {
    match GpuBackend::new() {
        Ok(b) => {
            eprintln!("running on {} ({})", b.device_name(), b.arch());
            f(b);
            Outcome::Pass
        }
        Err(e) => Outcome::Skip(format!("no CUDA device: {e}")),
    }
}

fn main() -> std::process::ExitCode {
    harness::main(&[
        Test::new("ntt", || {
            on_gpu(|b| {
                for log_n in [10, 11, 12, 13] {
                    c::check_ntt(&b, log_n);
                }
            })
        }),
        Test::new("elementwise", || on_gpu(|b| c::check_elementwise(&b, 12))),
        Test::new("automorphism", || on_gpu(|b| c::check_automorphism(&b, 12))),
        Test::new("basis_ops", || {
            on_gpu(|b| {
                c::check_basis_ops(&b, 10);
                c::check_basis_ops(&b, 12);
            })
        }),
        Test::new("ciphertext_ops", || {
            on_gpu(|b| c::check_ciphertext_ops(b, 12))
        }),
        Test::new("invalid_operands", || {
            on_gpu(|b| c::check_invalid_operands(b, 10))
        }),
        Test::new("upload_rejects_malformed", || {
            on_gpu(|b| c::check_upload_rejects_malformed(b, 10))
        }),
        // The primitive checks at N = 2^16 (several global NTT stages before the
        // shared-memory ones). Slow on the reference side.
        Test::ignored(
            "primitives_n16",
            "N = 2^16 parity; run on the GPU machine with --ignored",
            || {
                on_gpu(|b| {
                    c::check_ntt(&b, 16);
                    c::check_elementwise(&b, 16);
                    c::check_automorphism(&b, 16);
                    c::check_basis_ops(&b, 16);
                })
            },
        ),
        // Whole-ciphertext parity at N = 2^16 (HMult+relin, rescale, rotations, hoisted
        // rotations, conjugation) against the reference backend. Minutes on the
        // reference side.
        Test::ignored(
            "ciphertext_ops_n16",
            "N = 2^16 ciphertext parity; run on the GPU machine with --ignored",
            || on_gpu(|b| c::check_ciphertext_ops(b, 16)),
        ),
        // Construction without a driver is an error value with a message, never a panic;
        // as an fhe_dsl::Error it is a NoDevice device error.
        Test::new("construction_reports_absence_without_panicking", || {
            match GpuBackend::new() {
                Ok(b) => eprintln!("GPU present: {b:?}"),
                Err(e) => {
                    let msg = e.to_string();
                    assert!(!msg.is_empty());
                    let as_dsl: fhe_dsl::Error = e.into();
                    assert!(
                        matches!(
                            as_dsl.device_kind(),
                            Some(fhe_dsl::DeviceErrorKind::NoDevice(_))
                        ),
                        "{as_dsl:?}"
                    );
                }
            }
            Outcome::Pass
        }),
    ])
}
