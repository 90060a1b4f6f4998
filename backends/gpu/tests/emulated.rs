//! Runs the CUDA kernel sources on the host: `emu/emu.cpp` compiles them with g++ against
//! a small CUDA shim (`emu/cuda_shim.h`: one thread per CUDA thread, a barrier for
//! `__syncthreads`) and checks NTT, inverse NTT, element-wise ops, automorphisms and basis
//! conversion against naive arithmetic, with the launch sequences of `src/lib.rs`.
//! It checks kernel arithmetic and indexing without a GPU; prints `skipped` when g++ is
//! absent (a `harness = false` target, see `harness/mod.rs`).

mod harness;

use harness::{Outcome, Test};
use std::path::Path;
use std::process::Command;

fn main() -> std::process::ExitCode {
    harness::main(&[Test::new(
        "kernels_are_correct_when_emulated_on_the_host",
        kernels_are_correct_when_emulated_on_the_host,
    )])
}

fn kernels_are_correct_when_emulated_on_the_host() -> Outcome {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("emu");
    let exe = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fhe_gpu_emu");
    let built = Command::new("g++")
        .args(["-std=c++20", "-O2", "-pthread", "-o"])
        .arg(&exe)
        .arg(dir.join("emu.cpp"))
        .status();
    match built {
        Err(e) => return Outcome::Skip(format!("g++ not available: {e}")),
        Ok(s) if !s.success() => {
            // a compiler too old for C++20 <barrier> is a skip; a kernel error is not
            let probe = Command::new("g++")
                .args(["-std=c++20", "-x", "c++", "-fsyntax-only", "-"])
                .stdin(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    use std::io::Write;
                    c.stdin.take().unwrap().write_all(b"#include <barrier>\n")?;
                    c.wait()
                });
            if !probe.is_ok_and(|s| s.success()) {
                return Outcome::Skip("g++ lacks C++20 <barrier>".into());
            }
            panic!("the kernels do not compile as host C++ (see the g++ output above)");
        }
        Ok(_) => {}
    }
    let out = Command::new(&exe).output().expect("run the emulator");
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}");
    assert!(
        out.status.success(),
        "emulated kernel checks failed:\n{text}"
    );
    Outcome::Pass
}
