//! The fhe-dsl backend conformance suite, bit for bit against the reference backend.

fhe_dsl::backend_conformance_tests!(fhe_backend_cpu::CpuBackend::new());
