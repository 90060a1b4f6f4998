//! Encrypted models written with fhe-dsl, and the logic behind the `fhe` command-line
//! tool: the end-to-end demo and the per-operation benchmark.
//!
//! The ResNet models land here later; today the crate holds the CKKS demo
//! ([`demo`]) and the benchmark harness ([`bench`]) that the `fhe` binary drives.

pub mod backends;
pub mod bench;
pub mod demo;
pub mod infer;
pub mod params;
pub mod resnet;
