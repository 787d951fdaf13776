// The kernels of a whole model around the token mixers (docs/MATH.md, "The block skeleton"): the
// RMSNorm fused with the residual add, the SwiGLU product, the embedding lookup, GLA's and HGRN2's gates,
// the short convolution, the cross-entropy of a block of logit rows, AdamW and the global gradient norm.
// Compiled after common.cu (storage types, bf16 conversion) and gsa.cu (warp_sum, warp_max, NEG_INF,
// the slot gate). Storage follows common.cu: io_t is float32 or bfloat16, arithmetic is float32;
// parameter gradients, the optimizer's master weights and moments are float32 whatever the mode.
//
// Every reduction runs in a fixed order (a fixed tree inside a block, then partial sums added in index
// order by a second kernel), never through atomics, so results are bit-identical from run to run.
// Dynamic shared memory only (the emulation in src/test/emu maps it onto one host buffer).

// The value a store of x in the storage type gives back: what later kernels will read.
__device__ __forceinline__ float stored(float x) {
#if GSA4J_BF16
    return bf16_to_float(float_to_bf16(x));
#else
    return x;
#endif
}

__device__ __forceinline__ float sigmoid(float x) { return 1.f / (1.f + expf(-x)); }
__device__ __forceinline__ float log_sigmoid(float x) { return fminf(x, 0.f) - log1pf(expf(-fabsf(x))); }

// The sum of x over the block (blockDim.x a multiple of 32, at most 1024), returned to every thread.
// scratch: 32 floats of shared memory, free again when the call returns.
__device__ __forceinline__ float block_sum(float x, float* scratch) {
    x = warp_sum(x);
    if (lane_id() == 0) scratch[warp_id()] = x;
    __syncthreads();
    float total = lane_id() < (int)(blockDim.x >> 5) ? scratch[lane_id()] : 0.f;
    total = warp_sum(total);
    __syncthreads();
    return total;
}

// The same in double, through shared memory only (a fixed halving tree). scratch: blockDim.x doubles.
__device__ __forceinline__ double block_sum_f64(double x, double* scratch) {
    scratch[threadIdx.x] = x;
    __syncthreads();
    for (int half = blockDim.x >> 1; half > 0; half >>= 1) {
        if ((int)threadIdx.x < half) scratch[threadIdx.x] += scratch[threadIdx.x + half];
        __syncthreads();
    }
    const double total = scratch[0];
    __syncthreads();
    return total;
}

#define GRID_STRIDE(i, n) for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < (n); i += (long)gridDim.x * blockDim.x)

// ---- RMSNorm with the residual add (docs/MATH.md, "RMSNorm"; the block skeleton's x ← x + f(x)) ----

// One block per row of width D: h = x + res (the new residual stream, written to h; with res null,
// h = x and nothing is written), y = h · rstd ⊙ w with rstd = 1/√(mean(h²) + eps) (w null: no weight),
// rstd kept (float32) for the backward. The norm reads h as stored, so the forward and the backward
// see the same residual in bf16 mode. h may be x's or res's buffer (updated in place).
extern "C" __global__ void rmsnorm_residual(const io_t* x, const io_t* res, const io_t* w, io_t* y, io_t* h,
                                            float* rstd, int D, float eps) {
    extern __shared__ __align__(16) float sh[];
    const long o = blockIdx.x * (long)D;
    float ss = 0.f;
    for (int j = threadIdx.x; j < D; j += blockDim.x) {
        float v = to_f(x[o + j]);
        if (res != nullptr) {
            v = stored(v + to_f(res[o + j]));
            put(h + o + j, v);
        }
        ss = fmaf(v, v, ss);
    }
    const float r = 1.f / sqrtf(block_sum(ss, sh) / D + eps);
    const io_t* hv = res != nullptr ? h : x;
    for (int j = threadIdx.x; j < D; j += blockDim.x) {
        const float v = to_f(hv[o + j]) * r;
        put(y + o + j, w != nullptr ? v * to_f(w[j]) : v);
    }
    if (threadIdx.x == 0) rstd[blockIdx.x] = r;
}

// Its backward, one block per row: with x̂ = h·rstd and u = dy ⊙ w,
// dh = rstd (u − x̂ · mean(u ⊙ x̂)) + dhNext, the gradient of both x and res (dhNext: the gradient the
// residual stream carries from later blocks, null = 0). dh may be dhNext's buffer.
extern "C" __global__ void rmsnorm_residual_backward(const io_t* h, const io_t* w, const float* rstd, const io_t* dy,
                                                     const io_t* dhNext, io_t* dh, int D) {
    extern __shared__ __align__(16) float sh[];
    const long o = blockIdx.x * (long)D;
    const float r = rstd[blockIdx.x];
    float dot = 0.f;
    for (int j = threadIdx.x; j < D; j += blockDim.x) {
        const float u = to_f(dy[o + j]) * (w != nullptr ? to_f(w[j]) : 1.f);
        dot = fmaf(u, to_f(h[o + j]) * r, dot);
    }
    const float c = block_sum(dot, sh) / D;
    for (int j = threadIdx.x; j < D; j += blockDim.x) {
        const float u = to_f(dy[o + j]) * (w != nullptr ? to_f(w[j]) : 1.f);
        float g = r * (u - to_f(h[o + j]) * r * c);
        if (dhNext != nullptr) g += to_f(dhNext[o + j]);
        put(dh + o + j, g);
    }
}

// The weight's gradient, stage 1: partial[s][j] = Σ_{rows of segment s} dy ⊙ h · rstd, the rows in
// order. Grid (⌈D/blockDim⌉, segments), one thread per column.
extern "C" __global__ void rmsnorm_dw_partial(const io_t* h, const float* rstd, const io_t* dy, float* partial,
                                             long rows, int D, int rowsPerSegment) {
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= D) return;
    const long r0 = blockIdx.y * (long)rowsPerSegment, r1 = r0 + rowsPerSegment < rows ? r0 + rowsPerSegment : rows;
    float acc = 0.f;
    for (long r = r0; r < r1; r++) acc = fmaf(to_f(dy[r * D + j]) * to_f(h[r * D + j]), rstd[r], acc);
    partial[blockIdx.y * (long)D + j] = acc;
}

// Stage 2 of every deterministic column sum: dst[j] += Σ_s partial[s][j], s in order. One thread per
// column.
extern "C" __global__ void add_column_sums(const float* partial, int segments, int width, float* dst) {
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= width) return;
    float acc = 0.f;
    for (int s = 0; s < segments; s++) acc += partial[(long)s * width + j];
    dst[j] += acc;
}

// ---- SwiGLU (docs/MATH.md, "SwiGLU MLP") ----

// y = silu(a) ⊙ b over rows × width; a's and b's rows are `pitch` elements apart (width when they are
// tensors of their own, 2·width when they are the two halves of one [rows, 2·width] projection).
extern "C" __global__ void swiglu(const io_t* a, const io_t* b, long pitch, io_t* y, long rows, int width) {
    GRID_STRIDE(i, rows * width) {
        const long r = i / width, k = r * pitch + i % width;
        const float x = to_f(a[k]);
        put(y + i, x * sigmoid(x) * to_f(b[k]));
    }
}

// Its backward: db = dy · silu(a), da = dy · b · σ(a)(1 + a(1 − σ(a))); da, db with the inputs' pitch.
extern "C" __global__ void swiglu_backward(const io_t* a, const io_t* b, long pitch, const io_t* dy, io_t* da, io_t* db,
                                          long rows, int width) {
    GRID_STRIDE(i, rows * width) {
        const long r = i / width, k = r * pitch + i % width;
        const float x = to_f(a[k]), sg = sigmoid(x), g = to_f(dy[i]);
        put(db + k, g * x * sg);
        put(da + k, g * to_f(b[k]) * sg * (1.f + x * (1.f - sg)));
    }
}

// ---- Embedding (docs/MATH.md, "The block skeleton": x₀ = E[ids]) ----

// x[i] = table[ids[i]], rows of D.
extern "C" __global__ void embedding(const int* ids, const io_t* table, io_t* x, long n, int D) {
    GRID_STRIDE(i, n * D) x[i] = table[(long)ids[i / D] * D + i % D];
}

// Its backward without atomics: the positions sorted by token (order), the run of each distinct token u
// (positions order[start[u] .. start[u+1])), its id tokens[u]. Block (u, column tile): one thread per
// column adds its token's rows of dx in position order, then adds the sum to the token's row of dtable
// (float32). Every row of dtable has one owner: bit-identical from run to run.
extern "C" __global__ void embedding_backward(const int* order, const int* start, const int* tokens, const io_t* dx,
                                             float* dtable, int D) {
    const int j = blockIdx.y * blockDim.x + threadIdx.x;
    if (j >= D) return;
    const int u = blockIdx.x;
    float acc = 0.f;
    for (int p = start[u]; p < start[u + 1]; p++) acc += to_f(dx[(long)order[p] * D + j]);
    dtable[(long)tokens[u] * D + j] += acc;
}

// ---- GLA's gate (docs/MATH.md, "GLA layer") ----

// g = max(logsigmoid(x)/τ, clampMin) in float32 (clampMin = −∞: no clamp).
extern "C" __global__ void log_sigmoid_gate(const io_t* x, float* g, long n, float invTau, float clampMin) {
    GRID_STRIDE(i, n) g[i] = fmaxf(log_sigmoid(to_f(x[i])) * invTau, clampMin);
}

// Its backward: dx = dg · (1 − σ(x)) / τ where the clamp let the value through (logsigmoid(x)/τ ≥ clampMin), else 0.
extern "C" __global__ void log_sigmoid_gate_backward(const io_t* x, const float* dg, io_t* dx, long n, float invTau,
                                                    float clampMin) {
    GRID_STRIDE(i, n) {
        const float v = to_f(x[i]);
        put(dx + i, log_sigmoid(v) * invTau >= clampMin ? dg[i] / (1.f + expf(v)) * invTau : 0.f);
    }
}

// ---- HGRN2's gate (docs/MATH.md, "HGRN2 layer") ----

// a = lb + (1 − lb) σ(f), g = log a (float32; logsigmoid(f) without a bound, lb null), and the primitive's key
// k = 1 − a = (1 − lb)(1 − σ(f)), formed without cancellation. f, k [rows, D]; lb [D] float32.
extern "C" __global__ void hgrn2_gate(const io_t* f, const float* lb, float* g, io_t* k, long n, int D) {
    GRID_STRIDE(i, n) {
        const float x = to_f(f[i]), low = lb != nullptr ? lb[i % D] : 0.f;
        g[i] = lb != nullptr ? logf(low + (1.f - low) * sigmoid(x)) : log_sigmoid(x);
        put(k + i, (1.f - low) / (1.f + expf(x)));
    }
}

// Its backward: df = dg · ∂g/∂f − dk · (1 − lb) σ(1 − σ), ∂g/∂f = (1 − lb) σ(1 − σ)/a (1 − σ without a bound).
extern "C" __global__ void hgrn2_gate_backward(const io_t* f, const float* lb, const float* dg, const io_t* dk, io_t* df,
                                              long n, int D) {
    GRID_STRIDE(i, n) {
        const float x = to_f(f[i]), low = lb != nullptr ? lb[i % D] : 0.f, sg = sigmoid(x), oneMinus = 1.f / (1.f + expf(x));
        const float dgdf = lb != nullptr ? (1.f - low) * sg * oneMinus / (low + (1.f - low) * sg) : oneMinus;
        put(df + i, dg[i] * dgdf - to_f(dk[i]) * (1.f - low) * sg * oneMinus);
    }
}

// The bound's gradient, stage 1 (then add_column_sums): partial[s][j] = Σ_{rows of segment s} dg (1 − σ)/a − dk (1 − σ).
extern "C" __global__ void hgrn2_dlb_partial(const io_t* f, const float* lb, const float* dg, const io_t* dk, float* partial,
                                            long rows, int D, int rowsPerSegment) {
    const int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= D) return;
    const long r0 = blockIdx.y * (long)rowsPerSegment, r1 = r0 + rowsPerSegment < rows ? r0 + rowsPerSegment : rows;
    const float low = lb[j];
    float acc = 0.f;
    for (long r = r0; r < r1; r++) {
        const float x = to_f(f[r * D + j]), oneMinus = 1.f / (1.f + expf(x));
        acc += dg[r * D + j] * oneMinus / (low + (1.f - low) * sigmoid(x)) - to_f(dk[r * D + j]) * oneMinus;
    }
    partial[blockIdx.y * (long)D + j] = acc;
}

// A layer's bound from the model's lower_bounds x [L, D] (float32): with P = softmax over the layer axis per
// channel, lb = Σ_{1 ≤ m ≤ layer} P_m. One thread per channel.
struct LayerSoftmax {
    float max, sum, lb;   // per channel: max_l x, Σ_l e^{x − max}, and the bound
};
__device__ __forceinline__ LayerSoftmax layer_softmax(const float* x, long c, int layers, int D, int layer) {
    LayerSoftmax s{NEG_INF, 0.f, 0.f};
    for (int l = 0; l < layers; l++) s.max = fmaxf(s.max, x[(long)l * D + c]);
    float inside = 0.f;
    for (int l = 0; l < layers; l++) {
        const float e = expf(x[(long)l * D + c] - s.max);
        s.sum += e;
        if (l >= 1 && l <= layer) inside += e;
    }
    s.lb = inside / s.sum;
    return s;
}

extern "C" __global__ void hgrn2_lower_bound(const float* x, float* lb, int layers, int D, int layer) {
    GRID_STRIDE(c, D) lb[c] = layer_softmax(x, c, layers, D, layer).lb;
}

// Its backward: dx[m, c] += dlb[c] · P_m · ([1 ≤ m ≤ layer] − lb[c]); one thread owns a channel's column.
extern "C" __global__ void hgrn2_lower_bound_backward(const float* x, const float* dlb, float* dx, int layers, int D, int layer) {
    GRID_STRIDE(c, D) {
        const LayerSoftmax s = layer_softmax(x, c, layers, D, layer);
        for (int l = 0; l < layers; l++) {
            const float p = expf(x[(long)l * D + c] - s.max) / s.sum;
            dx[(long)l * D + c] += dlb[c] * p * ((l >= 1 && l <= layer ? 1.f : 0.f) - s.lb);
        }
    }
}

// ---- Short convolution (docs/MATH.md, "Short convolution") ----

// x, y [B, T, C]; w [C, W]; cache [B, W−1, C] (the W−1 inputs before x, oldest first; null = zeros).
// y = act(Σ_i w[c,i] · x[t − (W−1) + i]) with act = silu when `silu`, else the identity. y must not be x.
__device__ __forceinline__ float conv_at(const io_t* x, const io_t* w, const io_t* cache, int b, int t, int c, int T,
                                         int C, int W) {
    float acc = 0.f;
    for (int i = 0; i < W; i++) {
        const int s = t - (W - 1) + i;
        float v = 0.f;
        if (s >= 0) v = to_f(x[((long)b * T + s) * C + c]);
        else if (cache != nullptr) v = to_f(cache[((long)b * (W - 1) + (W - 1) + s) * C + c]);
        acc = fmaf(to_f(w[c * W + i]), v, acc);
    }
    return acc;
}

extern "C" __global__ void short_conv(const io_t* x, const io_t* w, const io_t* cache, io_t* y, int B, int T, int C,
                                      int W, int silu) {
    GRID_STRIDE(i, (long)B * T * C) {
        const int c = i % C, t = (i / C) % T, b = i / ((long)T * C);
        const float u = conv_at(x, w, cache, b, t, c, T, C, W);
        put(y + i, silu ? u * sigmoid(u) : u);
    }
}

// The cache after x: the last W−1 inputs (from the old cache where T < W−1). One thread per (b, c)
// writes its entries oldest first, so `next` may be `cache` (an in-place shift).
extern "C" __global__ void short_conv_next_cache(const io_t* x, const io_t* cache, io_t* next, int B, int T, int C, int W) {
    GRID_STRIDE(i, (long)B * C) {
        const int c = i % C, b = i / C, keep = W - 1;
        for (int j = 0; j < keep; j++) {
            const int s = T - keep + j;
            const float v = s >= 0 ? to_f(x[((long)b * T + s) * C + c])
                                   : cache != nullptr ? to_f(cache[((long)b * keep + keep + s) * C + c]) : 0.f;
            put(next + ((long)b * keep + j) * C + c, v);
        }
    }
}

// Backward, from zeros (training). Step 1: du = dy ⊙ act'(u) with u recomputed (float32 [B, T, C]).
extern "C" __global__ void short_conv_backward_du(const io_t* x, const io_t* w, const io_t* dy, float* du, int B, int T,
                                                  int C, int W, int silu) {
    GRID_STRIDE(i, (long)B * T * C) {
        float g = to_f(dy[i]);
        if (silu) {
            const int c = i % C, t = (i / C) % T, b = i / ((long)T * C);
            const float u = conv_at(x, w, nullptr, b, t, c, T, C, W), sg = sigmoid(u);
            g *= sg * (1.f + u * (1.f - sg));
        }
        du[i] = g;
    }
}

// Step 2: dx[t, c] = Σ_i w[c,i] · du[t + (W−1) − i, c] over the positions that exist.
extern "C" __global__ void short_conv_backward_dx(const float* du, const io_t* w, io_t* dx, int B, int T, int C, int W) {
    GRID_STRIDE(i, (long)B * T * C) {
        const int c = i % C, t = (i / C) % T;
        float acc = 0.f;
        for (int k = 0; k < W; k++) {
            const int s = t + (W - 1) - k;
            if (s < T) acc = fmaf(to_f(w[c * W + k]), du[i + (long)(s - t) * C], acc);
        }
        put(dx + i, acc);
    }
}

#define MAX_CONV_WIDTH 8

// Step 3, the kernel's gradient, stage 1: partial[b·S + s][c][i] = Σ_{t in segment s} du[b,t,c] ·
// x[b, t−(W−1)+i, c], t in order; then add_column_sums over the B·S segments. Grid (⌈C/blockDim⌉, S, B).
extern "C" __global__ void short_conv_dw_partial(const io_t* x, const float* du, float* partial, int T, int C, int W,
                                                 int stepsPerSegment) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    const int b = blockIdx.z, t0 = blockIdx.y * stepsPerSegment, t1 = imin(T, t0 + stepsPerSegment);
    float acc[MAX_CONV_WIDTH];
    for (int k = 0; k < MAX_CONV_WIDTH; k++) acc[k] = 0.f;
    for (int t = t0; t < t1; t++) {
        const float g = du[((long)b * T + t) * C + c];
        for (int k = 0; k < W; k++) {
            const int s = t - (W - 1) + k;
            if (s >= 0) acc[k] = fmaf(g, to_f(x[((long)b * T + s) * C + c]), acc[k]);
        }
    }
    float* out = partial + ((long)b * gridDim.y + blockIdx.y) * C * W + (long)c * W;
    for (int k = 0; k < W; k++) out[k] = acc[k];
}

// ---- Cross-entropy of a block of rows (docs/MATH.md, "Cross-entropy") ----
//
// The caller runs the vocabulary projection one block of rows at a time (logits of that block from a
// cuBLASLt product into a buffer it reuses, then this kernel, then the two products of the backward),
// so that float32 logits never exist for the whole batch. That keeps the matrix products on cuBLASLt at
// the tensor cores' rate; a kernel fusing the product with an online softmax would need a GEMM of our
// own to match it, for a buffer of R × V floats saved.
//
// One block per row of V logits (float32): the row's maximum and Σ e^{z − max} in one pass (each thread
// keeps a running pair, the pairs merged by a fixed tree), loss = logsumexp(z) − z[target] (0 for
// target == ignoreIndex), and, where dlogits is not null, dz = (softmax(z) − onehot(target)) · gradScale
// (0 for an ignored row), gradScale = (the loss's cotangent)/(labelled rows of the whole batch).
// dlogits may be the logits' own buffer (float32 mode).

__device__ __forceinline__ void merge_lse(float& m, float& s, float m2, float s2) {
    const float mx = fmaxf(m, m2);
    if (mx == NEG_INF) return;   // both empty
    s = s * expf(m - mx) + s2 * expf(m2 - mx);
    m = mx;
}

extern "C" __global__ void cross_entropy_rows(const float* logits, const int* targets, float* rowLoss, io_t* dlogits, int V,
                                              float gradScale, int ignoreIndex) {
    extern __shared__ __align__(16) float sh[];
    const long o = blockIdx.x * (long)V;
    const int target = targets[blockIdx.x];
    float m = NEG_INF, s = 0.f;
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
        const float z = logits[o + j];
        if (z > m) {
            s = s * expf(m - z) + 1.f;
            m = z;
        } else {
            s += expf(z - m);
        }
    }
    for (int d = 16; d > 0; d >>= 1) {
        const float m2 = __shfl_xor_sync(0xffffffffu, m, d), s2 = __shfl_xor_sync(0xffffffffu, s, d);
        merge_lse(m, s, m2, s2);
    }
    float* ms = sh;
    float* ss = sh + 32;
    if (lane_id() == 0) {
        ms[warp_id()] = m;
        ss[warp_id()] = s;
    }
    __syncthreads();
    m = NEG_INF;
    s = 0.f;
    for (int k = 0; k < (int)(blockDim.x >> 5); k++) merge_lse(m, s, ms[k], ss[k]);
    const float lse = m + logf(s);
    const bool ignored = target == ignoreIndex;
    if (threadIdx.x == 0) rowLoss[blockIdx.x] = ignored ? 0.f : lse - logits[o + target];
    __syncthreads();   // logits[o + target] is read before any dz overwrites it
    if (dlogits == nullptr) return;
    for (int j = threadIdx.x; j < V; j += blockDim.x) {
        const float p = expf(logits[o + j] - lse);
        put(dlogits + o + j, ignored ? 0.f : (p - (j == target ? 1.f : 0.f)) * gradScale);
    }
}

// The mean of the per-row losses in double: one block, every thread summing a fixed stride of rows,
// then a fixed tree; out[0] = Σ rowLoss · invCount. Launch with blockDim.x doubles of shared memory.
extern "C" __global__ void mean_loss(const float* rowLoss, long n, double invCount, float* out) {
    extern __shared__ __align__(16) float sh[];
    double acc = 0;
    for (long i = threadIdx.x; i < n; i += blockDim.x) acc += rowLoss[i];
    const double total = block_sum_f64(acc, (double*)sh);
    if (threadIdx.x == 0) out[0] = (float)(total * invCount);
}

// ---- Optimizer (docs/MATH.md, "Training recipe"; the update as train.AdamW states it) ----

// Sum of squares of g in double, stage 1: block b covers [b·span, (b+1)·span) and writes partial[b].
// Launch with blockDim.x doubles of shared memory.
extern "C" __global__ void sum_of_squares_partial(const float* g, long n, long span, double* partial) {
    extern __shared__ __align__(16) float sh[];
    const long from = blockIdx.x * span, to = from + span < n ? from + span : n;
    double acc = 0;
    for (long i = from + threadIdx.x; i < to; i += blockDim.x) acc += (double)g[i] * g[i];
    const double total = block_sum_f64(acc, (double*)sh);
    if (threadIdx.x == 0) partial[blockIdx.x] = total;
}

// Stage 2, one block: norm = √(Σ partial) · invAccum (the gradients summed over accumulation steps are
// divided by their number), and the factor the optimizer multiplies the gradients by:
// invAccum · (maxNorm / (norm + 1e-6) where 0 < maxNorm < norm, else 1). out = {norm, factor}.
extern "C" __global__ void grad_norm_finish(const double* partial, int count, double invAccum, double maxNorm, double* out) {
    extern __shared__ __align__(16) float sh[];
    double acc = 0;
    for (int i = threadIdx.x; i < count; i += blockDim.x) acc += partial[i];
    const double total = block_sum_f64(acc, (double*)sh);
    if (threadIdx.x == 0) {
        const double norm = sqrt(total) * invAccum;
        out[0] = norm;
        out[1] = invAccum * (maxNorm > 0 && norm > maxNorm ? maxNorm / (norm + 1e-6) : 1.0);
    }
}

// One AdamW update of n elements, in double in train.AdamW's order of operations:
//   g ← g · gradScale · (*factor, when not null)    m ← β1 m + (1 − β1) g      v ← β2 v + (1 − β2) g²
//   (m, v stored as float32, then read back)          p ← p · decay − lr · (m / bc1) / (√(v / bc2) + ε)
// with decay = 1 − lr·wd (1 where the parameter does not decay), bc = 1 − βᵗ. p (float32 master), m, v in
// place; copy (not null in bf16 mode) receives p rounded to bfloat16, the weights the products read.
extern "C" __global__ void adamw(float* p, const float* g, float* m, float* v, bf16_t* copy, long n, double lr,
                                 double decay, double beta1, double beta2, double eps, double bc1, double bc2,
                                 double gradScale, const double* factor) {
    const double scale = factor != nullptr ? gradScale * factor[1] : gradScale;
    GRID_STRIDE(i, n) {
        const double gi = g[i] * scale;
        const float mi = (float)(beta1 * m[i] + (1 - beta1) * gi);
        const float vi = (float)(beta2 * v[i] + (1 - beta2) * gi * gi);
        m[i] = mi;
        v[i] = vi;
        const float pi = (float)(p[i] * decay - lr * (mi / bc1) / (sqrt(vi / bc2) + eps));
        p[i] = pi;
        if (copy != nullptr) copy[i] = float_to_bf16(pi);
    }
}
