// Causal softmax attention with grouped-query heads and an optional sliding window
// (docs/MATH.md#causal-softmax-attention), the device twin of org.gsa4j.ops.attention.CausalAttention:
//
//   s_tj = scale · q_t·k_j  for the keys j in [lo(t), p(t)],  p(t) = offset + t,  lo = window > 0 ? max(0, p − window + 1) : 0
//   o_t  = Σ_j softmax_j(s_t)·v_j,   lse_t = log Σ_j e^{s_tj}   (kept for the backward)
//
// q, o [B, Tq, H, D]; k, v [B, kvStride, Hkv, D] of which the first Tk ≥ offset + Tq rows are read (training:
// kvStride = Tk = Tq, offset 0; decoding: a key/value cache of capacity kvStride holding every earlier token);
// query head h reads kv head h / (H / Hkv). lse [B, H, Tq] float32. Compiled after common.cu (io_t, to_f, put).
//
// Flash-style: a block holds ATT_ROWS query rows of one (batch, head), one warp each, and walks the keys in tiles
// of 32 staged in shared memory; a warp scores its row against the tile with one key per lane, keeps the running
// maximum and sum of the online softmax, and accumulates its output row with one dimension per lane (D ≤ 256).
// No T×T matrix is stored: the backward recomputes the probabilities from lse, in one kernel for dq (a warp per
// query row, as the forward) and one for dk and dv (a warp per key row, summing over its query group in order),
// so that no gradient needs an atomic add and every bit is the same from run to run.

#define ATT_ROWS 8     // rows (queries, or keys in the dk/dv kernel) per block: one warp each
#define ATT_TILE 32    // keys (or queries) per shared tile: one per lane
#define ATT_MAXC 8     // registers per lane for a row of D ≤ 32·ATT_MAXC
#define ATT_THREADS (32 * ATT_ROWS)
#define ATT_NEG_INF __int_as_float(0xff800000)   // −∞ (NVRTC has no math.h for INFINITY)

__device__ __forceinline__ float att_warp_sum(float x) {
#pragma unroll
    for (int m = 16; m > 0; m >>= 1) x += __shfl_xor_sync(0xffffffffu, x, m);
    return x;
}

__device__ __forceinline__ float att_warp_max(float x) {
#pragma unroll
    for (int m = 16; m > 0; m >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, m));
    return x;
}

// Rows [first, first + count) of a [rows, heads, D] tensor's head `head` (batch base `base` rows) into shared
// memory with row pitch `pitch`; rows outside [0, limit) read as zeros.
__device__ __forceinline__ void att_stage(float* dst, int pitch, const io_t* src, long base, int first, int count, int limit,
                                          int heads, int head, int D) {
    for (int e = threadIdx.x; e < count * D; e += blockDim.x) {
        const int r = e / D, d = e % D, row = first + r;
        dst[r * pitch + d] = row >= 0 && row < limit ? to_f(src[((base + row) * heads + head) * (long)D + d]) : 0.f;
    }
}

// The first key a query at position p sees.
__device__ __forceinline__ int att_lo(int p, int window) { return window > 0 ? (p - window + 1 > 0 ? p - window + 1 : 0) : 0; }

// Shared memory: q rows [ATT_ROWS][D], key and value tiles [ATT_TILE][D + 1] (odd pitch: a lane per key row
// reads without bank conflicts).
extern "C" __global__ void __launch_bounds__(ATT_THREADS) attention_forward(
        const io_t* q, const io_t* k, const io_t* v, io_t* o, float* lse, int Tq, int Tk, int kvStride, int H, int Hkv,
        int D, int offset, int window, float scale) {
    extern __shared__ __align__(16) unsigned char smem[];
    float* sq = reinterpret_cast<float*>(smem);
    float* sk = sq + ATT_ROWS * D;
    float* sv = sk + ATT_TILE * (D + 1);
    const int bh = blockIdx.y, b = bh / H, h = bh % H, g = h / (H / Hkv);
    const int t0 = blockIdx.x * ATT_ROWS, w = warp_id(), lane = lane_id(), t = t0 + w;
    const bool live = t < Tq;
    const int p = offset + t;
    att_stage(sq, D, q, (long)b * Tq, t0, ATT_ROWS, Tq, H, h, D);

    float acc[ATT_MAXC];
#pragma unroll
    for (int c = 0; c < ATT_MAXC; c++) acc[c] = 0.f;
    float m = ATT_NEG_INF, l = 0.f;
    const int first = att_lo(offset + t0, window), last = imin(offset + imin(t0 + ATT_ROWS, Tq) - 1, Tk - 1);
    for (int j0 = first; j0 <= last; j0 += ATT_TILE) {
        __syncthreads();
        att_stage(sk, D + 1, k, (long)b * kvStride, j0, ATT_TILE, Tk, Hkv, g, D);
        att_stage(sv, D + 1, v, (long)b * kvStride, j0, ATT_TILE, Tk, Hkv, g, D);
        __syncthreads();
        const int j = j0 + lane;
        const bool seen = live && j <= p && j >= att_lo(p, window) && j < Tk;
        float s = ATT_NEG_INF;
        if (seen) {
            float dot = 0.f;
            for (int d = 0; d < D; d++) dot += sq[w * D + d] * sk[lane * (D + 1) + d];
            s = scale * dot;
        }
        const float mNew = fmaxf(m, att_warp_max(s));
        if (mNew == ATT_NEG_INF) continue;   // nothing of this row seen yet (warp-uniform)
        const float corr = expf(m - mNew), e = seen ? expf(s - mNew) : 0.f;
        l = l * corr + att_warp_sum(e);
        m = mNew;
#pragma unroll
        for (int c = 0; c < ATT_MAXC; c++) acc[c] *= corr;
        for (int jj = 0; jj < ATT_TILE; jj++) {
            const float pj = __shfl_sync(0xffffffffu, e, jj);
#pragma unroll
            for (int c = 0; c < ATT_MAXC; c++) {
                const int d = lane + 32 * c;
                if (d < D) acc[c] += pj * sv[jj * (D + 1) + d];
            }
        }
    }
    if (!live) return;
    const float inv = 1.f / l;
    const long row = ((long)b * Tq + t) * H + h;
#pragma unroll
    for (int c = 0; c < ATT_MAXC; c++) {
        const int d = lane + 32 * c;
        if (d < D) put(o + row * D + d, acc[c] * inv);
    }
    if (lane == 0) lse[((long)b * H + h) * Tq + t] = m + logf(l);
}

// δ_t = dO_t·o_t per (batch, row, head), into delta [B, H, T] (float32).
extern "C" __global__ void attention_delta(const io_t* o, const io_t* dO, float* delta, int B, int T, int H, int D) {
    const long n = (long)B * T * H;
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
        float acc = 0.f;
        for (int d = 0; d < D; d++) acc += to_f(o[i * D + d]) * to_f(dO[i * D + d]);
        const long h = i % H, bt = i / H, b = bt / T, t = bt % T;
        delta[(b * H + h) * T + t] = acc;
    }
}

// dq_t = scale Σ_j p_tj (dO_t·v_j − δ_t) k_j, a warp per query row (training: offset 0, T keys).
// Shared memory: q and dO rows [ATT_ROWS][D] each, key and value tiles [ATT_TILE][D + 1].
extern "C" __global__ void __launch_bounds__(ATT_THREADS) attention_backward_dq(
        const io_t* q, const io_t* k, const io_t* v, const io_t* dO, const float* lse, const float* delta, io_t* dq,
        int T, int H, int Hkv, int D, int window, float scale) {
    extern __shared__ __align__(16) unsigned char smem[];
    float* sq = reinterpret_cast<float*>(smem);
    float* sdo = sq + ATT_ROWS * D;
    float* sk = sdo + ATT_ROWS * D;
    float* sv = sk + ATT_TILE * (D + 1);
    const int bh = blockIdx.y, b = bh / H, h = bh % H, g = h / (H / Hkv);
    const int t0 = blockIdx.x * ATT_ROWS, w = warp_id(), lane = lane_id(), t = t0 + w;
    const bool live = t < T;
    att_stage(sq, D, q, (long)b * T, t0, ATT_ROWS, T, H, h, D);
    att_stage(sdo, D, dO, (long)b * T, t0, ATT_ROWS, T, H, h, D);
    const float rowLse = live ? lse[((long)b * H + h) * T + t] : 0.f, rowDelta = live ? delta[((long)b * H + h) * T + t] : 0.f;

    float acc[ATT_MAXC];
#pragma unroll
    for (int c = 0; c < ATT_MAXC; c++) acc[c] = 0.f;
    const int first = att_lo(t0, window), last = imin(t0 + ATT_ROWS, T) - 1;
    for (int j0 = first; j0 <= last; j0 += ATT_TILE) {
        __syncthreads();
        att_stage(sk, D + 1, k, (long)b * T, j0, ATT_TILE, T, Hkv, g, D);
        att_stage(sv, D + 1, v, (long)b * T, j0, ATT_TILE, T, Hkv, g, D);
        __syncthreads();
        const int j = j0 + lane;
        float ds = 0.f;
        if (live && j <= t && j >= att_lo(t, window)) {
            float s = 0.f, dp = 0.f;
            for (int d = 0; d < D; d++) {
                s += sq[w * D + d] * sk[lane * (D + 1) + d];
                dp += sdo[w * D + d] * sv[lane * (D + 1) + d];
            }
            ds = expf(scale * s - rowLse) * (dp - rowDelta);
        }
        for (int jj = 0; jj < ATT_TILE; jj++) {
            const float dsj = __shfl_sync(0xffffffffu, ds, jj);
#pragma unroll
            for (int c = 0; c < ATT_MAXC; c++) {
                const int d = lane + 32 * c;
                if (d < D) acc[c] += dsj * sk[jj * (D + 1) + d];
            }
        }
    }
    if (!live) return;
    const long row = ((long)b * T + t) * H + h;
#pragma unroll
    for (int c = 0; c < ATT_MAXC; c++) {
        const int d = lane + 32 * c;
        if (d < D) put(dq + row * D + d, scale * acc[c]);
    }
}

// dk_j = scale Σ_{h in the group} Σ_t p_tj (dO_t·v_j − δ_t) q_t and dv_j = Σ_h Σ_t p_tj dO_t, a warp per key row
// of one kv head, the query heads of its group in order, the queries t ≥ j that see j in tiles of ATT_TILE.
// Shared memory: k and v rows [ATT_ROWS][D] each, q and dO tiles [ATT_TILE][D + 1], lse and δ [ATT_TILE] each.
extern "C" __global__ void __launch_bounds__(ATT_THREADS) attention_backward_dkv(
        const io_t* q, const io_t* k, const io_t* v, const io_t* dO, const float* lse, const float* delta, io_t* dk, io_t* dv,
        int T, int H, int Hkv, int D, int window, float scale) {
    extern __shared__ __align__(16) unsigned char smem[];
    float* sk = reinterpret_cast<float*>(smem);
    float* sv = sk + ATT_ROWS * D;
    float* sq = sv + ATT_ROWS * D;
    float* sdo = sq + ATT_TILE * (D + 1);
    float* slse = sdo + ATT_TILE * (D + 1);
    float* sdelta = slse + ATT_TILE;
    const int bg = blockIdx.y, b = bg / Hkv, g = bg % Hkv, groups = H / Hkv;
    const int j0 = blockIdx.x * ATT_ROWS, w = warp_id(), lane = lane_id(), j = j0 + w;
    const bool live = j < T;
    att_stage(sk, D, k, (long)b * T, j0, ATT_ROWS, T, Hkv, g, D);
    att_stage(sv, D, v, (long)b * T, j0, ATT_ROWS, T, Hkv, g, D);

    float accK[ATT_MAXC], accV[ATT_MAXC];
#pragma unroll
    for (int c = 0; c < ATT_MAXC; c++) accK[c] = accV[c] = 0.f;
    const int jLast = imin(j0 + ATT_ROWS, T) - 1;
    const int last = window > 0 ? imin(T - 1, jLast + window - 1) : T - 1;
    for (int hh = 0; hh < groups; hh++) {
        const int h = g * groups + hh;
        const float* rowLse = lse + ((long)b * H + h) * T;
        const float* rowDelta = delta + ((long)b * H + h) * T;
        for (int q0 = j0; q0 <= last; q0 += ATT_TILE) {
            __syncthreads();
            att_stage(sq, D + 1, q, (long)b * T, q0, ATT_TILE, T, H, h, D);
            att_stage(sdo, D + 1, dO, (long)b * T, q0, ATT_TILE, T, H, h, D);
            for (int e = threadIdx.x; e < ATT_TILE; e += blockDim.x) {
                const bool in = q0 + e < T;
                slse[e] = in ? rowLse[q0 + e] : 0.f;
                sdelta[e] = in ? rowDelta[q0 + e] : 0.f;
            }
            __syncthreads();
            const int t = q0 + lane;
            float pt = 0.f, ds = 0.f;
            if (live && t < T && t >= j && j >= att_lo(t, window)) {
                float s = 0.f, dp = 0.f;
                for (int d = 0; d < D; d++) {
                    s += sq[lane * (D + 1) + d] * sk[w * D + d];
                    dp += sdo[lane * (D + 1) + d] * sv[w * D + d];
                }
                pt = expf(scale * s - slse[lane]);
                ds = pt * (dp - sdelta[lane]);
            }
            for (int tt = 0; tt < ATT_TILE; tt++) {
                const float p = __shfl_sync(0xffffffffu, pt, tt), dst = __shfl_sync(0xffffffffu, ds, tt);
#pragma unroll
                for (int c = 0; c < ATT_MAXC; c++) {
                    const int d = lane + 32 * c;
                    if (d < D) {
                        accV[c] += p * sdo[tt * (D + 1) + d];
                        accK[c] += dst * sq[tt * (D + 1) + d];
                    }
                }
            }
        }
    }
    if (!live) return;
    const long row = ((long)b * T + j) * Hkv + g;
#pragma unroll
    for (int c = 0; c < ATT_MAXC; c++) {
        const int d = lane + 32 * c;
        if (d < D) {
            put(dk + row * D + d, scale * accK[c]);
            put(dv + row * D + d, accV[c]);
        }
    }
}

// dst rows [offset, offset + T) of each batch element (batch stride dstStride rows) = src [B, T, width] (batch
// stride srcStride rows): appending a pass's keys or values to a decoding cache, or moving a cache into a larger one.
extern "C" __global__ void copy_rows(const io_t* src, long srcStride, io_t* dst, long dstStride, int B, int T, int width, int offset) {
    const long n = (long)B * T * width;
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
        const long c = i % width, bt = i / width, b = bt / T, t = bt % T;
        dst[(b * dstStride + offset + t) * width + c] = src[(b * srcStride + t) * width + c];
    }
}
