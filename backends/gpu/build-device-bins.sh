#!/usr/bin/env bash
# Builds the release binaries that backends/gpu/device-check.sh runs on a GPU machine
# (which has no cargo) and gathers them, stripped, in one folder to carry there.
# cudarc loads CUDA dynamically, so nothing CUDA is needed here.
#
# Usage: backends/gpu/build-device-bins.sh [OUT_DIR]     (default: .devbin, git-ignored)
set -euo pipefail
cd "$(dirname "$0")/../.."
dest="${1:-.devbin}"
mkdir -p "$dest"
grep -qxF "/$dest/" .git/info/exclude 2>/dev/null || echo "/$dest/" >>.git/info/exclude

cargo build --release -p fhe-models --bin fhe
cargo build --release -p fhe-backend-gpu --example gpu_timing
# the test binaries: one JSON line per artifact; keep the executables of the gpu crate's tests
cargo test --release -p fhe-backend-gpu --no-run --message-format=json 2>/dev/null |
  python3 -c '
import json, sys, shutil
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    exe = m.get("executable")
    if m.get("reason") == "compiler-artifact" and exe and m["target"]["kind"] == ["test"]:
        shutil.copy(exe, sys.argv[1] + "/test-" + m["target"]["name"])
        print("test binary:", m["target"]["name"])
' "$dest"
cp target/release/fhe target/release/examples/gpu_timing "$dest/"
strip "$dest"/* 2>/dev/null || true
# the binaries find bundled weights and images under the path they were built at
pwd >"$dest/build-root"
git rev-parse --short HEAD >"$dest/commit"
git diff --quiet || echo "+uncommitted" >>"$dest/commit"
du -sh "$dest"
ls -la "$dest"
