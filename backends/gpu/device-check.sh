#!/usr/bin/env bash
# The GPU device check: one call on a machine with an NVIDIA GPU, over release binaries
# built elsewhere by backends/gpu/build-device-bins.sh (the GPU machine has no cargo).
#
#   backends/gpu/device-check.sh [BIN_DIR]        (default .devbin)
#
# Environment: OUT (folder for logs and results; default a temporary one), BUDGET_S (the
# whole run's wall-clock budget, default 420: every step's timeout is cut to what is left),
# STEPS (space-separated subset of the step names below; default all, in this order).
#
# Steps: info conformance timing ops bootstrap bprofile resources infer warm exact
#        conformance16 profile
#   conformance    the conformance suite, bit-exact against the reference backend, N <= 2^13
#   timing         per-primitive device times at bench-a (CUDA events, median of 20)
#   ops            fhe bench ops --params bench-a --backend gpu (incl. 8 hoisted rotations)
#   bootstrap      fhe bench bootstrap --backend gpu (boot-n16, 5 runs after a warm-up)
#   bprofile       device time per backend primitive of one boot-n16 bootstrap
#   resources      nvcc's register / spill report of every kernel for sm_90
#   infer          fhe infer --backend gpu: encrypted ResNet-20 with its per-layer table
#   warm           three images under one key set: the first encodes the weights into the
#                  plaintext cache, the next two find them there
#   exact          the same inference twice on the GPU (second one with the weights cached)
#                  and once on the CPU backend, with the same seeded keys and encryption:
#                  the decrypted logits must be identical to the bit
#   conformance16  the N = 2^16 parity tests (primitives and whole ciphertext operations)
#   profile        ncu (hardware counters) on a sample of kernels of the timing example
#
# Writes $OUT/log.txt (everything), $OUT/results.jsonl (the JSON lines of the benches) and
# $OUT/ncu.txt. Exits 3 with a message when there is no usable GPU (a dry run elsewhere),
# 1 when any step failed, 0 otherwise.
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN="$(cd "${1:-.devbin}" && pwd)" || { echo "device-check: no binaries folder ${1:-.devbin}; run backends/gpu/build-device-bins.sh"; exit 2; }
OUT="${OUT:-$(mktemp -d)}"
BUDGET_S="${BUDGET_S:-420}"
STEPS="${STEPS:-info conformance timing ops bootstrap bprofile resources infer warm exact conformance16 profile}"
mkdir -p "$OUT"
LOG="$OUT/log.txt"
RES="$OUT/results.jsonl"
: >"$LOG"
: >"$RES"
SECONDS=0
declare -a SUMMARY=()

say() { echo "$*" | tee -a "$LOG"; }
wants() { [[ " $STEPS " == *" $1 "* ]]; }

# run NAME LIMIT CMD...: the command under `timeout`, its output appended to the log (and
# its JSON lines to results.jsonl); the limit is cut to the budget left (10 s kept spare).
run() {
  local name="$1" limit="$2"
  shift 2
  local left=$((BUDGET_S - SECONDS - 10))
  ((left < limit)) && limit=$left
  if ((limit < 5)); then
    SUMMARY+=("$(printf '%-14s %-8s %6s  %s' "$name" "SKIPPED" "-" "out of budget")")
    return 0
  fi
  say ""
  say "==> $name (limit ${limit}s, t=${SECONDS}s): $*"
  local t0=$SECONDS rc
  timeout -k 5 "$limit" "$@" >"$OUT/step.tmp" 2>&1
  rc=$?
  # the console (whose tail the caller sees) gets each step's last lines, the log all
  tail -n 25 "$OUT/step.tmp"
  cat "$OUT/step.tmp" >>"$LOG"
  grep '^{' "$OUT/step.tmp" >>"$RES"
  rm -f "$OUT/step.tmp"
  local status=ok
  ((rc == 124 || rc == 137)) && status=TIMEOUT
  ((rc != 0 && rc != 124 && rc != 137)) && status="FAIL($rc)"
  SUMMARY+=("$(printf '%-14s %-8s %5ss' "$name" "$status" "$((SECONDS - t0))")")
  return "$rc"
}

# The binaries look for bundled weights and images under the folder they were built in.
root="$(cat "$BIN/build-root" 2>/dev/null || true)"
if [[ -n "$root" && ! -e "$root" ]]; then
  mkdir -p "$(dirname "$root")" && ln -s "$PWD" "$root"
fi

# NVRTC: the CUDA toolkit's, or the PyPI wheel's (nvidia-cuda-nvrtc) where that is all there is.
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
  $(python3 -c 'import nvidia, os; print(" ".join(os.path.join(p, s) for p in nvidia.__path__ for s in ("cu13/lib", "cuda_nvrtc/lib")))' 2>/dev/null); do
  if compgen -G "$d/libnvrtc.so*" >/dev/null; then
    export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    break
  fi
done

say "device-check: binaries $BIN ($(tr '\n' ' ' <"$BIN/commit" 2>/dev/null)), out $OUT, budget ${BUDGET_S}s"
if wants info; then
  run info 20 bash -c 'nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,temperature.gpu --format=csv; nproc; echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"'
fi

# A usable GPU at all? The probe starts the backend (driver, NVRTC, device, kernels).
if ! probe="$("$BIN/gpu_timing" --probe 2>&1)"; then
  say "$probe"
  say "device-check: no usable GPU here (see the message above); nothing was measured"
  exit 3
fi
say "$probe"

failed=0
if wants conformance; then
  # each check prints "running on <device>"; FHE_REQUIRE_GPU=1 makes a check that would
  # skip (no driver, NVRTC or device) fail here, where a GPU must be used
  run conformance 90 env FHE_REQUIRE_GPU=1 "$BIN/test-conformance" --test-threads 1 || {
    failed=1
    run memcheck 90 compute-sanitizer --tool memcheck --print-limit 20 \
      "$BIN/test-conformance" --test-threads 1 ntt elementwise || true
  }
fi
if wants timing; then
  run timing 60 "$BIN/gpu_timing" bench-a 20 || failed=1
fi
if wants ops; then
  run ops 90 "$BIN/fhe" bench ops --params bench-a --backend gpu --format json || failed=1
fi
if wants bootstrap; then
  run bootstrap 150 "$BIN/fhe" bench bootstrap --backend gpu --runs 5 --format json || failed=1
fi
if wants bprofile; then
  run bprofile 90 env FHE_GPU_PROFILE=1 "$BIN/gpu_timing" profile-bootstrap || failed=1
fi
if wants resources; then
  run resources 60 bash -c "'$BIN/gpu_timing' --source >/tmp/fhe_kernels.cu &&
    nvcc -arch=sm_90 -cubin -Xptxas -v -o /tmp/fhe_kernels.cubin /tmp/fhe_kernels.cu 2>&1 |
    grep -E 'Compiling entry|registers|spill' | paste - - - | sed -E 's/ptxas info +: //g'" || true
fi
if wants infer; then
  run infer 180 "$BIN/fhe" infer --backend gpu || failed=1
fi
if wants warm; then
  run warm 150 "$BIN/fhe" infer --backend gpu --count 3 --format json || failed=1
fi
if wants exact; then
  run exact 200 bash -c "set -e
    '$BIN/fhe' infer --backend gpu --insecure-seed 1 --count 2 --format json >'$OUT/exact-gpu.json'
    '$BIN/fhe' infer --backend cpu --insecure-seed 1 --format json >'$OUT/exact-cpu.json'
    cat '$OUT/exact-gpu.json' '$OUT/exact-cpu.json'
    python3 - '$OUT/exact-gpu.json' '$OUT/exact-cpu.json' <<'PY'
import json, sys
gpu = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{')]
cpu = [json.loads(l) for l in open(sys.argv[2]) if l.startswith('{')]
g, c = gpu[0]['logits_encrypted'], cpu[0]['logits_encrypted']
print('gpu latency cold %.3f s, warm %.3f s; cpu %.3f s' % (gpu[0]['latency_s'], gpu[1]['latency_s'], cpu[0]['latency_s']))
print('logits gpu == cpu bit for bit:', g == c)
sys.exit(0 if g == c else 1)
PY
    rm -f '$OUT/exact-gpu.json' '$OUT/exact-cpu.json'" || failed=1
fi
if wants conformance16; then
  run conformance16 120 env FHE_REQUIRE_GPU=1 "$BIN/test-conformance" --test-threads 1 --ignored || failed=1
fi
if wants profile; then
  # a sample of kernels after warm-up: NTT stages, element-wise, base conversion
  run profile 60 bash -c "ncu --clock-control none --launch-skip 400 --launch-count 24 \
    --section SpeedOfLight --section LaunchStats --section Occupancy \
    '$BIN/gpu_timing' bench-a 3 >'$OUT/ncu.txt' 2>&1; rc=\$?; grep -E '^  [a-z_]+|Duration|Memory Throughput|Compute \(SM\)|Registers Per|Achieved Occ' '$OUT/ncu.txt' | head -150; exit \$rc" || true
fi

say ""
say "==== device-check summary (t=${SECONDS}s of ${BUDGET_S}s) ===="
for s in "${SUMMARY[@]}"; do say "$s"; done
say "---- results.jsonl ----"
cut -c1-400 "$RES" | tee -a "$LOG"
exit "$failed"
