// GSA's own pieces around the primitive (docs/MATH.md, "The GSA operator"): the slot gate, the
// softmax between the two passes and its backward, and the one-token recurrent steps of the
// primitive and of GSA (decoding). Element-wise helpers for summing gradients of the two passes.

#define NEG_INF __int_as_float(0xff800000)

__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}
__device__ __forceinline__ float warp_max(float x) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
    return x;
}

// Slot gate: g = logsigmoid(f) / τ (log-decay ≤ 0) and s = 1 − e^{g} (the write weight), element-wise.
extern "C" __global__ void gsa_slot_gate(const io_t* f, float* g, io_t* s, long n, float invTau) {
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
        const float x = to_f(f[i]);
        const float logsig = fminf(x, 0.f) - log1pf(expf(-fabsf(x)));
        const float gi = logsig * invTau;
        g[i] = gi;
        put(s + i, -expm1f(gi));
    }
}

// Its backward: with α = e^{g}, dg_total = dg − ds ⊙ α and df = dg_total ⊙ (1 − σ(f)) / τ.
extern "C" __global__ void gsa_slot_gate_backward(const io_t* f, const float* dg, const io_t* ds, io_t* df, long n, float invTau) {
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) {
        const float x = to_f(f[i]);
        const float logsig = fminf(x, 0.f) - log1pf(expf(-fabsf(x)));
        const float alpha = expf(logsig * invTau);
        const float sigmaNeg = 1.f / (1.f + expf(x));   // 1 − σ(x)
        put(df + i, (dg[i] - to_f(ds[i]) * alpha) * sigmaNeg * invTau);
    }
}

// p = softmax(a) over the M slots of every row (one warp per row); p is kept in float32 for the
// backward and also written in the storage type as the second pass's query.
extern "C" __global__ void gsa_softmax(const io_t* a, float* p, io_t* pq, long rows, int M) {
    const long row = blockIdx.x * (long)(blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= rows) return;
    const int lane = threadIdx.x & 31;
    const io_t* x = a + row * M;
    float mx = NEG_INF;
    for (int m = lane; m < M; m += 32) mx = fmaxf(mx, to_f(x[m]));
    mx = warp_max(mx);
    float sum = 0.f;
    for (int m = lane; m < M; m += 32) sum += expf(to_f(x[m]) - mx);
    sum = warp_sum(sum);
    const float inv = 1.f / sum;
    for (int m = lane; m < M; m += 32) {
        const float pm = expf(to_f(x[m]) - mx) * inv;
        p[row * M + m] = pm;
        put(pq + row * M + m, pm);
    }
}

// da = p ⊙ (dp − ⟨p, dp⟩), one warp per row.
extern "C" __global__ void gsa_softmax_backward(const float* p, const io_t* dp, io_t* da, long rows, int M) {
    const long row = blockIdx.x * (long)(blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= rows) return;
    const int lane = threadIdx.x & 31;
    float dot = 0.f;
    for (int m = lane; m < M; m += 32) dot = fmaf(p[row * M + m], to_f(dp[row * M + m]), dot);
    dot = warp_sum(dot);
    for (int m = lane; m < M; m += 32) put(da + row * M + m, p[row * M + m] * (to_f(dp[row * M + m]) - dot));
}

// y += x, element-wise, in the storage type and in float32.
extern "C" __global__ void add_into(io_t* y, const io_t* x, long n) {
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) put(y + i, to_f(y[i]) + to_f(x[i]));
}
extern "C" __global__ void add_into_f32(float* y, const float* x, long n) {
    for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) y[i] += x[i];
}

// One token of the primitive for every (batch, head): S ← decay(S) + k vᵀ, o = Sᵀ q. q, k [BH, Dk],
// v, o [BH, Dv], g [BH, Dk or Dv] (or log γ per head), S [BH, Dk, Dv] float32 in place. One thread per
// state column; grid (column blocks, BH).
extern "C" __global__ void gla_step(const io_t* q, const io_t* k, const io_t* v, const float* g, const float* logGamma,
                                    int decay, float* S, io_t* o, int H, int Dk, int Dv) {
    const int j = blockIdx.x * blockDim.x + threadIdx.x, bh = blockIdx.y;
    if (j >= Dv) return;
    const io_t* qh = q + (long)bh * Dk;
    const io_t* kh = k + (long)bh * Dk;
    float* s = S + (long)bh * Dk * Dv + j;
    const float vj = to_f(v[(long)bh * Dv + j]);
    const float gammaLog = logGamma != nullptr ? logGamma[bh % H] : 0.f;
    const float colDecay = decay == 1 ? expf(g[(long)bh * Dv + j]) : 0.f;
    float acc = 0.f;
    for (int i = 0; i < Dk; i++) {
        const float a = decay == 1 ? colDecay : expf(decay == 2 ? gammaLog : g[(long)bh * Dk + i]);
        const float sij = fmaf(a, s[(long)i * Dv], to_f(kh[i]) * vj);
        s[(long)i * Dv] = sij;
        acc = fmaf(to_f(qh[i]), sij, acc);
    }
    put(o + (long)bh * Dv + j, acc);
}

// One token of GSA for every (batch, head), both passes and the softmax fused:
// hk ← hk Diag(α) + k sᵀ; a = hkᵀ (scale·q); p = softmax(a); hv ← Diag(α) hv + s vᵀ; o = hvᵀ p.
// q, k [BH, K], v, o [BH, V], s, g [BH, M]; hk [BH, K, M], hv [BH, M, V] float32 in place.
// One CTA (256 threads) per (batch, head); shared: α, s, p [M] and the partial sums [slices][M],
// slices = 256 / min(M, 256).
extern "C" __global__ void __launch_bounds__(256) gsa_step(
        const io_t* q, const io_t* k, const io_t* v, const io_t* s, const float* g,
        float* hk, float* hv, io_t* o, int K, int V, int M, float scale) {
    extern __shared__ __align__(16) float sh[];
    float* alpha = sh;
    float* sw = sh + M;
    float* p = sh + 2 * M;
    float* part = sh + 3 * M;   // [slices][M]
    const int bh = blockIdx.x, tid = threadIdx.x, cols = imin(M, blockDim.x), slices = blockDim.x / cols;
    for (int m = tid; m < M; m += blockDim.x) {
        alpha[m] = expf(g[(long)bh * M + m]);
        sw[m] = to_f(s[(long)bh * M + m]);
    }
    __syncthreads();
    // pass 1: thread (column m, slice of rows); the slices' partial sums of a are added in order below
    float* hkh = hk + (long)bh * K * M;
    const io_t* qh = q + (long)bh * K;
    const io_t* kh = k + (long)bh * K;
    const int per = (K + slices - 1) / slices;
    for (int m0 = 0; m0 < M; m0 += cols) {
        const int m = m0 + tid % cols, slice = tid / cols;
        if (slice >= slices || m >= M) continue;
        const int i0 = slice * per, i1 = imin(K, i0 + per);
        float acc = 0.f;
        for (int i = i0; i < i1; i++) {
            const float h = fmaf(hkh[(long)i * M + m], alpha[m], to_f(kh[i]) * sw[m]);
            hkh[(long)i * M + m] = h;
            acc = fmaf(to_f(qh[i]), h, acc);
        }
        part[slice * M + m] = acc;
    }
    __syncthreads();
    if (tid < 32) {
        float mx = NEG_INF;
        for (int m = tid; m < M; m += 32) {
            float a = 0.f;
            for (int sl = 0; sl < slices; sl++) a += part[sl * M + m];
            a *= scale;
            p[m] = a;
            mx = fmaxf(mx, a);
        }
        mx = warp_max(mx);
        float sum = 0.f;
        for (int m = tid; m < M; m += 32) {
            const float e = expf(p[m] - mx);
            p[m] = e;
            sum += e;
        }
        sum = warp_sum(sum);
        const float inv = 1.f / sum;
        for (int m = tid; m < M; m += 32) p[m] *= inv;
    }
    __syncthreads();
    // pass 2: one thread per value column
    float* hvh = hv + (long)bh * M * V;
    for (int j = tid; j < V; j += blockDim.x) {
        const float vj = to_f(v[(long)bh * V + j]);
        float acc = 0.f;
        for (int m = 0; m < M; m++) {
            const float h = fmaf(alpha[m], hvh[(long)m * V + j], sw[m] * vj);
            hvh[(long)m * V + j] = h;
            acc = fmaf(p[m], h, acc);
        }
        put(o + (long)bh * V + j, acc);
    }
}
