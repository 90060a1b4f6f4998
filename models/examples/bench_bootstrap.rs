//! Prints one JSON line for bootstrapping on the CPU backend:
//! `cargo run --release -p fhe-models --example bench_bootstrap -- [preset] [runs]`
//! (preset `boot-n16` by default; `boot-small`/`boot-tiny` are insecure test presets).

use fhe_backend_cpu::CpuBackend;
use fhe_dsl::circuits::bootstrap::BootstrapPreset;
use fhe_models::bench::bench_bootstrap;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).map(String::as_str).unwrap_or("boot-n16");
    let runs: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(3);
    let preset = match BootstrapPreset::by_name(name) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let insecure = name != "boot-n16";
    match bench_bootstrap(&preset, CpuBackend::new(), runs, insecure) {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("bootstrap bench failed: {e}");
            std::process::exit(1);
        }
    }
}
