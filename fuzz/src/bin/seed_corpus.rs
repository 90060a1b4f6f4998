//! Writes one valid object per fuzz target into `corpus/<target>/` (run from `fuzz/`):
//! the fuzzer then mutates real objects instead of hoping to guess a header.

fn main() -> std::io::Result<()> {
    for (target, bytes) in fhe_dsl_fuzz::samples() {
        let dir = std::path::Path::new("corpus").join(target);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("valid"), &bytes)?;
        println!("corpus/{target}/valid: {} bytes", bytes.len());
    }
    Ok(())
}
