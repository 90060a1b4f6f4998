// Host emulation of the few CUDA features the kernels use, so that g++ can run the
// kernel sources on the CPU (one std::thread per CUDA thread for kernels that call
// __syncthreads, blocks one after another). For checking kernel arithmetic and
// indexing without a GPU; says nothing about performance.
#pragma once
#include <barrier>
#include <cstdint>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __forceinline__ inline
#define __grid_constant__
#define __shared__

struct dim3 { unsigned x = 1, y = 1, z = 1; };
inline dim3 blockIdx, blockDim, gridDim;
inline thread_local dim3 threadIdx;
inline std::barrier<> *g_bar = nullptr;
inline void __syncthreads() { g_bar->arrive_and_wait(); }
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
    return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}
inline unsigned __brev(unsigned x) {
    unsigned r = 0;
    for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
    return r;
}
// `extern __shared__ u64 sh[]` in the kernels resolves to this (blocks run one at a time).
unsigned long long sh[1 << 16];

// Runs fn over the grid. `sync` kernels get real threads and a barrier per block.
inline void launch(dim3 grid, dim3 block, bool sync, const std::function<void()> &fn) {
    gridDim = grid;
    blockDim = block;
    for (unsigned by = 0; by < grid.y; ++by)
        for (unsigned bx = 0; bx < grid.x; ++bx) {
            blockIdx.x = bx;
            blockIdx.y = by;
            if (!sync) {
                for (unsigned t = 0; t < block.x; ++t) {
                    threadIdx.x = t;
                    fn();
                }
                continue;
            }
            std::barrier<> bar(block.x);
            g_bar = &bar;
            std::vector<std::thread> ts;
            dim3 b = blockIdx;
            for (unsigned t = 0; t < block.x; ++t)
                ts.emplace_back([&, t] {
                    threadIdx.x = t;
                    (void)b;
                    fn();
                });
            for (auto &t : ts) t.join();
        }
}
