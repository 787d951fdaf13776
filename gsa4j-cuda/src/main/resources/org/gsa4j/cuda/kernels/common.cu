// Shared by every gsa4j kernel: storage types, bfloat16 conversion, the tensor-core tile product
// and the shared-memory staging helpers. Compiled by NVRTC with no #include at all, so that a
// machine with only the driver and the NVRTC library can build the kernels.
//
// Precision modes (chosen with -DGSA4J_BF16=0/1 when the module is compiled):
//   bf16: activations stored as bfloat16, products on tensor cores (mma.sync m16n8k16, float32
//         accumulation), cumulative log-decays in float32;
//   f32:  everything float32, products by plain FMA in the same thread-to-element layout, and the
//         cumulative log-decays in float64 (docs/MATH.md, "Float32-stable sub-blocks": a float32 b of
//         magnitude ~200 carries ~1e-5 absolute error into every decay factor). The conformance mode.

typedef unsigned short bf16_t;
typedef unsigned int u32;

#define CHUNK 64      // rows per chunk
#define SUB 16        // rows per sub-block inside a chunk
#define LDS 72        // row pitch (elements) of a 64-wide shared tile: 64 + 8 keeps fragment loads conflict-free
#define LDW 56        // row pitch of the 48-wide per-warp scratch tiles
#define LDB 65        // row pitch of the cumulative-decay tile

__device__ __forceinline__ float bf16_to_float(bf16_t x) { return __uint_as_float(((u32)x) << 16); }

// Round to nearest even; NaN stays NaN, infinities stay infinite.
__device__ __forceinline__ bf16_t float_to_bf16(float f) {
    u32 u = __float_as_uint(f);
    if ((u & 0x7f800000u) == 0x7f800000u) return (bf16_t)((u >> 16) | ((u & 0xffffu) ? 0x40u : 0u));
    u += 0x7fffu + ((u >> 16) & 1u);
    return (bf16_t)(u >> 16);
}

#if GSA4J_BF16
typedef bf16_t io_t;   // q, k, v, outputs and their gradients in global memory
typedef bf16_t op_t;   // operands of the tile products in shared memory
typedef float cum_t;   // chunk-local cumulative log-decay
__device__ __forceinline__ float decay_exp(float x) { return __expf(x); }
#else
typedef float io_t;
typedef float op_t;
typedef double cum_t;
__device__ __forceinline__ float decay_exp(double x) { return expf((float)x); }
#endif

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(bf16_t x) { return bf16_to_float(x); }
__device__ __forceinline__ void put(float* p, float x) { *p = x; }
__device__ __forceinline__ void put(bf16_t* p, float x) { *p = float_to_bf16(x); }

__device__ __forceinline__ int imin(int a, int b) { return a < b ? a : b; }
__device__ __forceinline__ int lane_id() { return threadIdx.x & 31; }
__device__ __forceinline__ int warp_id() { return threadIdx.x >> 5; }

// A 64×64 float32 tile held by the CTA's eight warps in the tensor cores' accumulator layout: warp w
// holds rows 16·(w mod 4) .. +15 (its row block) and columns 32·(w div 4) .. +31 (its column half);
// element i (0..15) of a lane lies in the half's n-tile i/4 (8 columns each).
#define FRAG 16
struct Frag { float x[FRAG]; };

__device__ __forceinline__ void frag_zero(Frag& f) {
#pragma unroll
    for (int i = 0; i < FRAG; i++) f.x[i] = 0.f;
}
__device__ __forceinline__ int row_block() { return warp_id() & 3; }
__device__ __forceinline__ int col_half() { return warp_id() >> 2; }
__device__ __forceinline__ int frow(int i) { return 16 * row_block() + (lane_id() >> 2) + ((i >> 1) & 1) * 8; }
__device__ __forceinline__ int fcol(int i) { return 32 * col_half() + 8 * (i >> 2) + 2 * (lane_id() & 3) + (i & 1); }
// The global n-tile (0..7) of the lane's element i.
__device__ __forceinline__ int ftile(int i) { return 4 * col_half() + (i >> 2); }

// acc (the calling warp's 16 rows × 32 columns) += A · Btᵀ over kdim (a multiple of 16), for the
// n-tiles (8 columns each, 0..7 over the 64 columns) in [nb, ne) only. A points at the first row of
// the warp's row block (row-major, pitch lda); Bt holds the right-hand matrix transposed, row n =
// output column n (pitch ldb). Every operand element is read from shared memory as op_t.
__device__ __forceinline__ void mma_acc(Frag& acc, const op_t* A, int lda, const op_t* Bt, int ldb, int kdim, int nb, int ne) {
    const int g = lane_id() >> 2, t4 = lane_id() & 3;
#if GSA4J_BF16
    for (int k0 = 0; k0 < kdim; k0 += 16) {
        const op_t* a = A + g * lda + k0 + 2 * t4;
        const u32 a0 = *(const u32*)a, a1 = *(const u32*)(a + 8 * lda);
        const u32 a2 = *(const u32*)(a + 8), a3 = *(const u32*)(a + 8 * lda + 8);
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int tile = 4 * col_half() + j;
            if (tile < nb || tile >= ne) continue;
            const op_t* b = Bt + (8 * tile + g) * ldb + k0 + 2 * t4;
            const u32 b0 = *(const u32*)b, b1 = *(const u32*)(b + 8);
#ifdef GSA4J_EMULATE   // the CPU emulation the tests run where there is no GPU (src/test/emu)
            emu_mma_bf16(acc.x + 4 * j, a0, a1, a2, a3, b0, b1);
#else
            asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                         : "+f"(acc.x[4 * j]), "+f"(acc.x[4 * j + 1]), "+f"(acc.x[4 * j + 2]), "+f"(acc.x[4 * j + 3])
                         : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#endif
        }
    }
#else
#pragma unroll
    for (int j = 0; j < 4; j++) {
        const int tile = 4 * col_half() + j;
        if (tile < nb || tile >= ne) continue;
#pragma unroll
        for (int e = 0; e < 4; e++) {
            const float* a = A + (g + (e >> 1) * 8) * lda;
            const float* b = Bt + (8 * tile + 2 * t4 + (e & 1)) * ldb;
            float s = 0.f;
            for (int k = 0; k < kdim; k++) s = fmaf(a[k], b[k], s);
            acc.x[4 * j + e] += s;
        }
    }
#endif
}

#define THREADS 256   // every chunk kernel's block size: eight warps
#define PER_THREAD (64 * 64 / THREADS)

// Copies rows [0, 64) × channels [c0, c0 + 64) of a row-major source (row pitch `pitch`, `rows`
// valid rows, `width` valid channels in all) into a shared tile, dst[r][c] = f(r, c, x) (or
// transposed, dst[c][r], with `transpose`); padding (rows ≥ rows, channels ≥ width) is staged as
// f(r, c, 0). All of a thread's loads are issued before its first store: the compiler cannot tell
// the shared destination from the global source, and would otherwise wait for each load in turn.
template <class S, class F>
__device__ __forceinline__ void stage(op_t* dst, const S* __restrict__ src, long pitch, int rows, int c0, int width, bool transpose, F f) {
#pragma unroll
    for (int half = 0; half < 2; half++) {   // 8 loads in flight per thread, 8 registers
        float x[PER_THREAD / 2];
#pragma unroll
        for (int i = 0; i < PER_THREAD / 2; i++) {
            const int idx = threadIdx.x + (half * PER_THREAD / 2 + i) * THREADS, r = idx >> 6, c = idx & 63;
            x[i] = (r < rows && c0 + c < width) ? to_f(src[r * pitch + c0 + c]) : 0.f;
        }
#pragma unroll
        for (int i = 0; i < PER_THREAD / 2; i++) {
            const int idx = threadIdx.x + (half * PER_THREAD / 2 + i) * THREADS, r = idx >> 6, c = idx & 63;
            put(dst + (transpose ? c * LDS + r : r * LDS + c), f(r, c, x[i]));
        }
    }
}
template <class S, class F>
__device__ __forceinline__ void stage_rows(op_t* dst, const S* __restrict__ src, long pitch, int rows, int c0, int width, F f) {
    stage(dst, src, pitch, rows, c0, width, false, f);
}
template <class S, class F>
__device__ __forceinline__ void stage_cols(op_t* dst, const S* __restrict__ src, long pitch, int rows, int c0, int width, F f) {
    stage(dst, src, pitch, rows, c0, width, true, f);
}

struct Identity {
    __device__ __forceinline__ float operator()(int, int, float x) const { return x; }
};
struct Scaled {
    float s;
    __device__ __forceinline__ float operator()(int, int, float x) const { return s * x; }
};

// b[t][c] = g_0 + … + g_t (chunk-local, inclusive) for the chunk's rows and the 64 decayed channels
// from c0; rows ≥ rows and channels ≥ width count as g = 0, so b of the padding rows equals the
// last valid row's (b[63] = B). With per-head scalar decay (RetNet) g is log γ for every channel.
// The whole block loads the tile at once (all of a thread's loads in flight), then 64 threads scan its columns.
// Call from every thread of the block.
__device__ __forceinline__ void stage_cumsum(cum_t* b, const float* g, long pitch, int rows, int c0, int width,
                                             const float* logGamma, int head) {
    if (logGamma != nullptr) {
        const cum_t lg = (cum_t)logGamma[head];
        for (int idx = threadIdx.x; idx < 64 * 64; idx += blockDim.x) {
            const int t = idx >> 6, c = idx & 63;
            b[t * LDB + c] = lg * (cum_t)imin(t + 1, rows);
        }
        return;
    }
    float x[PER_THREAD];
#pragma unroll
    for (int i = 0; i < PER_THREAD; i++) {
        const int idx = threadIdx.x + i * THREADS, t = idx >> 6, c = idx & 63;
        x[i] = (t < rows && c0 + c < width) ? g[t * pitch + c0 + c] : 0.f;
    }
#pragma unroll
    for (int i = 0; i < PER_THREAD; i++) {
        const int idx = threadIdx.x + i * THREADS;
        b[(idx >> 6) * LDB + (idx & 63)] = (cum_t)x[i];
    }
    __syncthreads();
    const int c = threadIdx.x;
    if (c < 64) {
        cum_t acc = 0;
        for (int t = 0; t < 64; t++) {
            acc += b[t * LDB + c];
            b[t * LDB + c] = acc;
        }
    }
}

// Writes the calling warp's accumulator rows into a shared tile, dst[r][c] = f(r, c, x) (or
// transposed, dst[c][r], when transpose is set).
template <class F>
__device__ __forceinline__ void frag_store(op_t* dst, const Frag& acc, bool transpose, F f) {
#pragma unroll
    for (int i = 0; i < FRAG; i++) {
        const int r = frow(i), c = fcol(i);
        put(dst + (transpose ? c * LDS + r : r * LDS + c), f(r, c, acc.x[i]));
    }
}
