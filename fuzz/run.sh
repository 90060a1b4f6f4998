#!/usr/bin/env bash
# Seed corpus, then every wire-decoder fuzz target for SECONDS each (default 60).
# Needs a nightly toolchain and cargo-fuzz (see README.md). Exits non-zero on a finding.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
cargo +nightly run --release --quiet --bin seed-corpus
for t in params public_key evaluation_keys bootstrapping_keys ciphertext plaintext secret_key; do
  mkdir -p "corpus/$t"
  echo "==> $t ($secs s)"
  log="corpus/$t.log"
  if ! cargo +nightly fuzz run -O "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=4096 >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "finding in $t: see $log and artifacts/$t/"
    exit 1
  fi
  grep -E 'DONE' "$log" | tail -n 1
done
