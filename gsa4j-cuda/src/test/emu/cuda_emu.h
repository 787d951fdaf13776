// Runs the project's CUDA C kernels on the CPU for tests of their logic on machines without a GPU (CI): one OS
// thread per CUDA thread, blocks one after another, shared memory as one host buffer, __syncthreads as a barrier
// of the block's threads, warp shuffles and the bf16 tensor-core product (mma.sync m16n8k16) through a per-warp
// exchange area and a barrier of the warp's 32 threads. Only what the kernels use is emulated; timings mean nothing.
#pragma once
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#define GSA4J_EMULATE 1
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n)
#define __shared__

struct Dim3 {
    unsigned x = 1, y = 1, z = 1;
};

namespace emu {
inline thread_local Dim3 thread_idx, block_idx;
inline Dim3 block_dim, grid_dim;
inline thread_local std::barrier<>* block_barrier;
inline thread_local std::barrier<>* warp_barrier;
inline thread_local uint32_t* warp_slots;   // 32 lanes × 6 words, shared by the warp's threads
}  // namespace emu

#define threadIdx (emu::thread_idx)
#define blockIdx (emu::block_idx)
#define blockDim (emu::block_dim)
#define gridDim (emu::grid_dim)

// The kernels' dynamic shared memory (one block runs at a time).
alignas(16) inline unsigned char smem[256 * 1024];
alignas(16) inline float sh[64 * 1024];

inline void __syncthreads() { emu::block_barrier->arrive_and_wait(); }

inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
inline unsigned __float_as_uint(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline float __expf(float x) { return std::exp(x); }
#include <math.h>   // expf, expm1f, fabsf, fmaf, fmaxf, fminf, log1pf as the kernels call them

inline float __shfl_xor_sync(unsigned, float v, int laneMask) {
    const unsigned lane = threadIdx.x & 31;
    float* slots = reinterpret_cast<float*>(emu::warp_slots);
    slots[lane] = v;
    emu::warp_barrier->arrive_and_wait();
    const float r = slots[lane ^ laneMask];
    emu::warp_barrier->arrive_and_wait();
    return r;
}

// The value of lane srcLane (a broadcast), as __shfl_xor_sync exchanges through the warp's slots.
inline float __shfl_sync(unsigned, float v, int srcLane) {
    const unsigned lane = threadIdx.x & 31;
    float* slots = reinterpret_cast<float*>(emu::warp_slots);
    slots[lane] = v;
    emu::warp_barrier->arrive_and_wait();
    const float r = slots[srcLane & 31];
    emu::warp_barrier->arrive_and_wait();
    return r;
}

// D = A·B + C for one m16n8k16 bf16 fragment set (see the register layout in common.cu's mma_acc).
inline void emu_mma_bf16(float* c, uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t b0, uint32_t b1) {
    const unsigned lane = threadIdx.x & 31;
    uint32_t* s = emu::warp_slots;
    const uint32_t mine[6] = {a0, a1, a2, a3, b0, b1};
    for (int i = 0; i < 6; i++) s[lane * 6 + i] = mine[i];
    emu::warp_barrier->arrive_and_wait();
    auto half = [](uint32_t w, int hi) { return __uint_as_float((hi ? (w >> 16) : (w & 0xffffu)) << 16); };
    auto A = [&](int row, int k) { return half(s[((row & 7) * 4 + ((k & 7) >> 1)) * 6 + (row >= 8) + 2 * (k >= 8)], k & 1); };
    auto B = [&](int k, int n) { return half(s[(n * 4 + ((k & 7) >> 1)) * 6 + 4 + (k >= 8)], k & 1); };
    const int g = lane >> 2, t = lane & 3;
    float out[4];
    for (int e = 0; e < 4; e++) {
        const int row = g + (e >> 1) * 8, col = 2 * t + (e & 1);
        float acc = c[e];
        for (int k = 0; k < 16; k++) acc = std::fma(A(row, k), B(k, col), acc);
        out[e] = acc;
    }
    emu::warp_barrier->arrive_and_wait();
    for (int e = 0; e < 4; e++) c[e] = out[e];
}

namespace emu {
// Runs kernel<<<grid, block>>>(args...): every block in turn, each with one thread per CUDA thread.
template <class... P, class... A>
void launch(void (*kernel)(P...), Dim3 grid, Dim3 block, A... args) {
    const unsigned n = block.x * block.y * block.z;
    grid_dim = grid;
    block_dim = block;
    for (unsigned bz = 0; bz < grid.z; bz++) {
        for (unsigned by = 0; by < grid.y; by++) {
            for (unsigned bx = 0; bx < grid.x; bx++) {
                std::barrier<> all(n);
                const unsigned warps = (n + 31) / 32;
                std::vector<std::unique_ptr<std::barrier<>>> warpBarriers;
                for (unsigned w = 0; w < warps; w++) warpBarriers.emplace_back(new std::barrier<>(std::min(32u, n - 32 * w)));
                std::vector<uint32_t> slots(warps * 32 * 6);
                std::vector<std::thread> threads;
                for (unsigned tid = 0; tid < n; tid++) {
                    threads.emplace_back([&, tid] {
                        thread_idx = {tid % block.x, (tid / block.x) % block.y, tid / (block.x * block.y)};
                        block_idx = {bx, by, bz};
                        block_barrier = &all;
                        warp_barrier = warpBarriers[tid / 32].get();
                        warp_slots = slots.data() + (tid / 32) * 32 * 6;
                        kernel(static_cast<P>(args)...);
                        warp_barrier->arrive_and_drop();
                        block_barrier->arrive_and_drop();
                    });
                }
                for (auto& th : threads) th.join();
            }
        }
    }
}
}  // namespace emu
