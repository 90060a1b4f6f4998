//! Encrypted models written with fhe-dsl, and the logic behind the `fhe` command-line
//! tool: encrypted ResNet-20 inference ([`infer`], [`resnet`]), the CKKS demo
//! ([`demo`]), the benchmark harness ([`bench`](mod@bench)) and the ASIC simulator's
//! commands ([`sim`]).

pub mod backends;
pub mod bench;
pub mod demo;
pub mod infer;
pub mod memory;
pub mod params;
pub mod parties;
pub mod resnet;
pub mod sim;

/// Keeps freed ciphertext-sized blocks in the heap. A polynomial at N = 2^16 is ~12 MB:
/// by default glibc serves it with mmap and unmaps it on free, so every operation
/// page-faults fresh zeroed memory (measured: a 12 MB clone takes 12 ms that way, 2 ms
/// from the heap). Servers reuse the same sizes over and over; keeping them is the point.
/// Call it first thing in `main` (the `fhe` binary and the examples do).
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tunables and takes glibc's arena lock
    // itself; it touches no memory the caller owns.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TOP_PAD, 64 << 20);
    }
}
