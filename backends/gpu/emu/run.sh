#!/usr/bin/env bash
# Compiles the CUDA kernels as host C++ (cuda_shim.h) and checks their arithmetic.
set -euo pipefail
cd "$(dirname "$0")"
out="${TMPDIR:-/tmp}/fhe_gpu_emu"
g++ -std=c++20 -O2 -pthread -Wall -Wno-unused-function -Wno-unknown-pragmas -o "$out" emu.cpp
"$out"
