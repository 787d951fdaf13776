// The gated-linear-attention primitive in chunk form (docs/MATH.md, "Chunk form"), forward and
// backward, for decay on the key axis (KEY, and SCALAR = RetNet's log γ per head) and on the value
// axis (VALUE). Tensors are [B, T, H, D] row-major; chunk states [B, H, Nc, Dk, Dv] float32.
// Every kernel runs 256 threads (eight warps: four row blocks × two column halves); a CTA takes one chunk of one (batch, head) and 64
// output channels, and loops over the contracted channels in slabs of 64.
//
// The decay between two rows of a chunk appears only in three kernels (scores, mix, mixT). They
// follow the float32-stable sub-block scheme of docs/MATH.md ("Float32-stable sub-blocks"): every exponent is ≤ 0; blocks of 16
// rows away from the diagonal go through tensor-core products after splitting the decay at a
// reference row between them; the diagonal blocks are summed element by element with the exact
// exponent, masked before exponentiating.

#define DECAY_KEY 0
#define DECAY_VALUE 1
#define DECAY_SCALAR 2

// Bump allocation of dynamic shared memory; run on a null base it measures a layout.
struct Carve {
    unsigned char* p;
    __device__ explicit Carve(unsigned char* base) : p(base) {}
    template <class T>
    __device__ T* take(int n) {
        T* r = (T*)p;
        p += ((n * (int)sizeof(T) + 15) / 16) * 16;
        return r;
    }
    __device__ op_t* tile() { return take<op_t>(64 * LDS); }
    __device__ cum_t* cum() { return take<cum_t>(64 * LDB); }
};

// Offset of row t of chunk c for (batch b, head h) in a [B, T, H, D] tensor.
__device__ __forceinline__ long row_offset(int b, int c, int h, int T, int H, int D) {
    return ((long)b * T + (long)CHUNK * c) * H * D + (long)h * D;
}
// Offset of chunk c's 64-row block for (b, h) in [B, H, Nc, Dk, Dv] chunk states.
__device__ __forceinline__ long state_offset(int b, int h, int c, int H, int Nc, int Dk, int Dv) {
    return (((long)b * H + h) * Nc + c) * Dk * Dv;
}

// ------------------------------------------------------------------------------------------------
// The three decayed kernels over one 64-channel slab (X, Y [64][LDS], b [64][LDB] staged).

// acc (this warp's rows t of the 64×64 block) += Σ_d X_td Y_jd e^{b_td − b_jd} for j ≤ t.
// Blocks J < I: (X_I ⊙ e^{b_I − b_n}) (Y_J ⊙ e^{b_n − b_J})ᵀ with n = the first row of I.
// Scratch: xt (a tile) and yw (3 × 48 rows of LDS). Ends with a barrier.
__device__ __forceinline__ void scores_slab(Frag& acc, const op_t* X, const op_t* Y, const cum_t* b, op_t* xt, op_t* yw) {
    for (int idx = threadIdx.x; idx < 64 * 64; idx += blockDim.x) {
        const int t = idx >> 6, d = idx & 63;
        put(xt + t * LDS + d, to_f(X[t * LDS + d]) * decay_exp(b[t * LDB + d] - b[(t & ~15) * LDB + d]));
    }
    for (int w = 1; w < 4; w++) {
        op_t* dst = yw + (w - 1) * 48 * LDS;
        const int n = SUB * w;
        for (int idx = threadIdx.x; idx < n * 64; idx += blockDim.x) {
            const int j = idx >> 6, d = idx & 63;
            put(dst + j * LDS + d, to_f(Y[j * LDS + d]) * decay_exp(b[n * LDB + d] - b[j * LDB + d]));
        }
    }
    __syncthreads();
    const int w = row_block();
    if (w > 0) mma_acc(acc, xt + SUB * w * LDS, LDS, yw + (w - 1) * 48 * LDS, LDS, 64, 0, 2 * w);
#pragma unroll
    for (int i = 0; i < FRAG; i++) {
        const int nt = ftile(i);
        if (nt != 2 * w && nt != 2 * w + 1) continue;
        const int t = frow(i), j = fcol(i);
        if (j > t) continue;
        float s = 0.f;
        for (int d = 0; d < 64; d++) {
            s = fmaf(to_f(X[t * LDS + d]) * to_f(Y[j * LDS + d]), decay_exp(b[t * LDB + d] - b[j * LDB + d]), s);
        }
        acc.x[i] += s;
    }
    __syncthreads();
}

// acc (this warp's rows t) += mix(W°, Y)_t = Σ_{j<t} W_tj (Y_j ⊙ e^{b_t − b_j}).
// Blocks J < I: W_IJ (Y_J ⊙ e^{b_n − b_J}), scaled by e^{b_t − b_n} (n = the first row of I).
// W [64][LDS] (row t, column j); Y [64][LDS] (row j). Scratch yt: 3 tiles of 64 × LDW. Ends with a barrier.
__device__ __forceinline__ void mix_rows(Frag& acc, const op_t* W, const op_t* Y, const cum_t* b, op_t* yt) {
    for (int blk = 1; blk < 4; blk++) {
        op_t* dst = yt + (blk - 1) * 64 * LDW;
        const int n = SUB * blk;
        for (int idx = threadIdx.x; idx < 64 * n; idx += blockDim.x) {
            const int d = idx / n, j = idx % n;
            put(dst + d * LDW + j, to_f(Y[j * LDS + d]) * decay_exp(b[n * LDB + d] - b[j * LDB + d]));
        }
    }
    __syncthreads();
    const int w = row_block(), n = SUB * w;
    Frag m;
    frag_zero(m);
    if (w > 0) mma_acc(m, W + n * LDS, LDS, yt + (w - 1) * 64 * LDW, LDW, n, 0, 8);
#pragma unroll
    for (int i = 0; i < FRAG; i++) {
        const int t = frow(i), d = fcol(i);
        const cum_t bt = b[t * LDB + d];
        float s = w > 0 ? m.x[i] * decay_exp(bt - b[n * LDB + d]) : 0.f;
        for (int j = n; j < t; j++) s = fmaf(to_f(W[t * LDS + j]) * to_f(Y[j * LDS + d]), decay_exp(bt - b[j * LDB + d]), s);
        acc.x[i] += s;
    }
    __syncthreads();
}

// acc (this warp's rows j) += mixT(W°, Y)_j = Σ_{t>j} W_tj (Y_t ⊙ e^{b_t − b_j}).
// Blocks I > J: W_IJᵀ (Y_I ⊙ e^{b_I − b_n}), scaled by e^{b_n − b_j} (n = the last row of J).
// WT [64][LDS] holds Wᵀ (row j, column t); Y [64][LDS] (row t). Scratch yt: 3 tiles of 64 × LDW.
// Ends with a barrier.
__device__ __forceinline__ void mixT_rows(Frag& acc, const op_t* WT, const op_t* Y, const cum_t* b, op_t* yt) {
    for (int blk = 0; blk < 3; blk++) {
        op_t* dst = yt + blk * 64 * LDW;
        const int t0 = SUB * (blk + 1), width = 64 - t0, n = t0 - 1;
        for (int idx = threadIdx.x; idx < 64 * width; idx += blockDim.x) {
            const int d = idx / width, tt = idx % width;
            put(dst + d * LDW + tt, to_f(Y[(t0 + tt) * LDS + d]) * decay_exp(b[(t0 + tt) * LDB + d] - b[n * LDB + d]));
        }
    }
    __syncthreads();
    const int w = row_block(), t0 = SUB * (w + 1), n = t0 - 1;
    Frag m;
    frag_zero(m);
    if (w < 3) mma_acc(m, WT + SUB * w * LDS + t0, LDS, yt + w * 64 * LDW, LDW, 64 - t0, 0, 8);
#pragma unroll
    for (int i = 0; i < FRAG; i++) {
        const int j = frow(i), d = fcol(i);
        const cum_t bj = b[j * LDB + d];
        float s = w < 3 ? m.x[i] * decay_exp(b[n * LDB + d] - bj) : 0.f;
        for (int t = j + 1; t < t0; t++) s = fmaf(to_f(WT[j * LDS + t]) * to_f(Y[t * LDS + d]), decay_exp(b[t * LDB + d] - bj), s);
        acc.x[i] += s;
    }
    __syncthreads();
}

// The chunk-local gate gradient of 64 channels (docs/MATH.md, "Chunk backward"): with r and x [64][LDB]
// float and c[64] the per-chunk constant, dg_τ = Σ_{t≥τ} r_t + Σ_{j<τ} x_j + c.
__device__ __forceinline__ void gate_gradient(float* r, const float* x, const float* c, float* dg, long pitch, int rows, int c0, int width) {
    const int d = threadIdx.x;
    if (d >= 64 || c0 + d >= width) return;
    float suffix = 0.f;
    for (int t = 63; t >= 0; t--) {
        suffix += r[t * LDB + d];
        r[t * LDB + d] = suffix;
    }
    float prefix = 0.f;
    for (int t = 0; t < rows; t++) {
        dg[t * pitch + c0 + d] = r[t * LDB + d] + prefix + c[d];
        prefix += x[t * LDB + d];
    }
}

// ------------------------------------------------------------------------------------------------
// Chunk states in two kernels, both parallel over chunks. Forward (reverse = 0): the state entering chunk
// c is S_c = e^{B_{c-1}} ⊙ S_{c-1} + L_{c-1} with S_0 = s0 (or 0), where chunk c's own contribution is
// L_c = X̃ᵀ Ỹ, X = k, Y = v, and the factor e^{B − b_t} on the decayed side. Reverse (the state
// gradients): the gradient leaving chunk c is dS_c = e^{B_{c+1}} ⊙ dS_{c+1} + L_{c+1} from dS_T (or 0),
// with X = scale·q, Y = dO and the factor e^{b_t}. e^{B} ⊙ scales rows (KEY, SCALAR) or columns (VALUE).
//
// gla_chunk_local writes every L_c into the states buffer and e^{B_c} (per decayed channel) into
// chunkDecay: one CTA per (64×64 state tile, chunk, batch·head). gla_chunk_scan then walks the chunks
// once per state element, in place: states[c] ← S_c, S ← e^{B_c} ⊙ S + L_c. sLast receives the final S
// (forward: S_T; reverse: dS_0).

struct StatesSmem {
    op_t *xt, *yt;
    cum_t* b;
    unsigned char* end;
    __device__ explicit StatesSmem(unsigned char* base) {
        Carve c(base);
        xt = c.tile();
        yt = c.tile();
        b = c.cum();
        end = c.p;
    }
};

extern "C" __global__ void __launch_bounds__(256) gla_chunk_local(
        const io_t* X, const io_t* Y, const float* g, const float* logGamma, int decay, int reverse,
        float* states, float* chunkDecay, int B, int T, int H, int Dk, int Dv, float xScale) {
    extern __shared__ __align__(16) unsigned char smem[];
    StatesSmem sm(smem);
    const int tilesV = (Dv + 63) / 64;
    const int dk0 = 64 * (blockIdx.x / tilesV), dv0 = 64 * (blockIdx.x % tilesV);
    const int c = blockIdx.y, bb = blockIdx.z / H, h = blockIdx.z % H, Nc = (T + CHUNK - 1) / CHUNK;
    const int rows = imin(CHUNK, T - CHUNK * c);
    const bool rowDecay = decay != DECAY_VALUE;
    const int Dd = rowDecay ? Dk : Dv, dd0 = rowDecay ? dk0 : dv0;
    stage_cumsum(sm.b, g == nullptr ? nullptr : g + row_offset(bb, c, h, T, H, Dd), (long)H * Dd, rows, dd0, Dd, logGamma, h);
    __syncthreads();
    const cum_t* b = sm.b;
    auto factor = [&](int t, int ch) { return reverse ? decay_exp(b[t * LDB + ch]) : decay_exp(b[63 * LDB + ch] - b[t * LDB + ch]); };
    stage_cols(sm.xt, X + row_offset(bb, c, h, T, H, Dk), (long)H * Dk, rows, dk0, Dk,
               [&](int t, int ch, float x) { return xScale * (rowDecay ? x * factor(t, ch) : x); });
    stage_cols(sm.yt, Y + row_offset(bb, c, h, T, H, Dv), (long)H * Dv, rows, dv0, Dv,
               [&](int t, int ch, float y) { return rowDecay ? y : y * factor(t, ch); });
    const bool writesDecay = (rowDecay ? dv0 : dk0) == 0;
    if (writesDecay && threadIdx.x < 64 && dd0 + threadIdx.x < Dd) {
        chunkDecay[(((long)bb * H + h) * Nc + c) * Dd + dd0 + threadIdx.x] = decay_exp(b[63 * LDB + threadIdx.x]);
    }
    __syncthreads();
    Frag L;
    frag_zero(L);
    mma_acc(L, sm.xt + SUB * row_block() * LDS, LDS, sm.yt, LDS, 64, 0, 8);
    float* out = states + state_offset(bb, h, c, H, Nc, Dk, Dv);
#pragma unroll
    for (int i = 0; i < FRAG; i++) {
        const int r = dk0 + frow(i), col = dv0 + fcol(i);
        if (r < Dk && col < Dv) out[(long)r * Dv + col] = L.x[i];
    }
}

// The walk is a chain through s, but the loads are not: each thread first loads SCAN_BATCH chunks' local states
// and decays, then runs the chain over registers, so that SCAN_BATCH loads are in flight at once instead of one
// (__restrict__ tells the compiler that the stores to states cannot change chunkDecay or later cells).
#define SCAN_BATCH 8

extern "C" __global__ void gla_chunk_scan(const float* __restrict__ sInit, float* __restrict__ states,
                                          float* __restrict__ sLast, const float* __restrict__ chunkDecay,
                                          int decay, int reverse, int B, int H, int Nc, int Dk, int Dv) {
    const long idx = blockIdx.x * (long)blockDim.x + threadIdx.x, size = (long)Dk * Dv;
    if (idx >= (long)B * H * size) return;
    const long head = idx / size, at = idx % size;
    const int Dd = decay == DECAY_VALUE ? Dv : Dk, ch = decay == DECAY_VALUE ? (int)(at % Dv) : (int)(at / Dv);
    float s = sInit != nullptr ? sInit[idx] : 0.f;
    for (int first = 0; first < Nc; first += SCAN_BATCH) {
        float local[SCAN_BATCH], factor[SCAN_BATCH];
#pragma unroll
        for (int j = 0; j < SCAN_BATCH; j++) {
            const int c = reverse ? Nc - 1 - (first + j) : first + j;
            const bool inside = first + j < Nc;
            local[j] = inside ? states[(head * Nc + c) * size + at] : 0.f;
            factor[j] = inside ? chunkDecay[(head * Nc + c) * Dd + ch] : 0.f;
        }
#pragma unroll
        for (int j = 0; j < SCAN_BATCH; j++) {
            if (first + j < Nc) {
                const int c = reverse ? Nc - 1 - (first + j) : first + j;
                states[(head * Nc + c) * size + at] = s;
                s = fmaf(factor[j], s, local[j]);
            }
        }
    }
    if (sLast != nullptr) sLast[idx] = s;
}

// ------------------------------------------------------------------------------------------------
// KEY (and SCALAR) decay, forward: O = (Q ⊙ e^{b}) S_in + scores(Q, K) V for one chunk and 64 value
// columns. Grid: (value tiles, chunks, B·H).

struct FwdKeySmem {
    op_t *qs, *ks, *xt, *yw, *es, *st;
    cum_t* b;
    unsigned char* end;
    __device__ explicit FwdKeySmem(unsigned char* base) {
        Carve c(base);
        qs = c.tile();
        ks = c.tile();
        xt = c.tile();
        yw = c.take<op_t>(3 * 48 * LDS);
        es = c.tile();
        st = c.tile();
        b = c.cum();
        end = c.p;
    }
};

extern "C" __global__ void __launch_bounds__(256) gla_fwd_key(
        const io_t* Q, const io_t* K, const io_t* V, const float* g, const float* logGamma, const float* states,
        io_t* O, int B, int T, int H, int Dk, int Dv, float scale) {
    extern __shared__ __align__(16) unsigned char smem[];
    FwdKeySmem sm(smem);
    const int e0 = 64 * blockIdx.x, c = blockIdx.y, bb = blockIdx.z / H, h = blockIdx.z % H;
    const int Nc = (T + CHUNK - 1) / CHUNK, rows = imin(CHUNK, T - CHUNK * c), w = row_block();
    const float* sIn = states + state_offset(bb, h, c, H, Nc, Dk, Dv);
    Frag A, acc;
    frag_zero(A);
    frag_zero(acc);
    for (int dk0 = 0; dk0 < Dk; dk0 += 64) {
        stage_rows(sm.qs, Q + row_offset(bb, c, h, T, H, Dk), (long)H * Dk, rows, dk0, Dk, Scaled{scale});
        stage_rows(sm.ks, K + row_offset(bb, c, h, T, H, Dk), (long)H * Dk, rows, dk0, Dk, Identity{});
        stage_cols(sm.st, sIn + (long)dk0 * Dv, (long)Dv, imin(64, Dk - dk0), e0, Dv, Identity{});
        stage_cumsum(sm.b, g == nullptr ? nullptr : g + row_offset(bb, c, h, T, H, Dk), (long)H * Dk, rows, dk0, Dk, logGamma, h);
        __syncthreads();
        for (int idx = threadIdx.x; idx < 64 * 64; idx += blockDim.x) {
            const int t = idx >> 6, d = idx & 63;
            put(sm.es + t * LDS + d, to_f(sm.qs[t * LDS + d]) * decay_exp(sm.b[t * LDB + d]));
        }
        __syncthreads();
        mma_acc(acc, sm.es + SUB * w * LDS, LDS, sm.st, LDS, 64, 0, 8);
        scores_slab(A, sm.qs, sm.ks, sm.b, sm.xt, sm.yw);
    }
    op_t* as = sm.qs;   // the score block, row t, column j
    op_t* vt = sm.ks;   // Vᵀ: row e, column j
    frag_store(as, A, false, [](int, int, float x) { return x; });
    stage_cols(vt, V + row_offset(bb, c, h, T, H, Dv), (long)H * Dv, rows, e0, Dv, Identity{});
    __syncthreads();
    mma_acc(acc, as + SUB * w * LDS, LDS, vt, LDS, 64, 0, 8);
    io_t* out = O + row_offset(bb, c, h, T, H, Dv);
#pragma unroll
    for (int i = 0; i < FRAG; i++) {
        const int t = frow(i), e = e0 + fcol(i);
        if (t < rows && e < Dv) put(out + (long)t * H * Dv + e, acc.x[i]);
    }
}

// ------------------------------------------------------------------------------------------------
// VALUE decay, forward: P = tril(Q Kᵀ); O° = e^{b} ⊙ (Q S_in) + mix(P°, V); O = O° + P^d ⊙ V, for one
// chunk and 64 (decayed) value columns. O° is kept for the gate gradient. Grid: (value tiles, chunks, B·H).

struct FwdValueSmem {
    op_t *qs, *ks, *st, *ps, *vs, *yt;
    cum_t* b;
    unsigned char* end;
    __device__ explicit FwdValueSmem(unsigned char* base) {
        Carve c(base);
        qs = c.tile();
        ks = c.tile();
        st = c.tile();
        ps = c.tile();
        vs = c.tile();
        yt = c.take<op_t>(3 * 64 * LDW);
        b = c.cum();
        end = c.p;
    }
};

extern "C" __global__ void __launch_bounds__(256) gla_fwd_value(
        const io_t* Q, const io_t* K, const io_t* V, const float* g, const float* states,
        io_t* O, float* Ostrict, int B, int T, int H, int Dk, int Dv, float scale) {
    extern __shared__ __align__(16) unsigned char smem[];
    FwdValueSmem sm(smem);
    const int e0 = 64 * blockIdx.x, c = blockIdx.y, bb = blockIdx.z / H, h = blockIdx.z % H;
    const int Nc = (T + CHUNK - 1) / CHUNK, rows = imin(CHUNK, T - CHUNK * c), w = row_block();
    const float* sIn = states + state_offset(bb, h, c, H, Nc, Dk, Dv);
    Frag P, QS;
    frag_zero(P);
    frag_zero(QS);
    for (int dk0 = 0; dk0 < Dk; dk0 += 64) {
        stage_rows(sm.qs, Q + row_offset(bb, c, h, T, H, Dk), (long)H * Dk, rows, dk0, Dk, Scaled{scale});
        stage_rows(sm.ks, K + row_offset(bb, c, h, T, H, Dk), (long)H * Dk, rows, dk0, Dk, Identity{});
        stage_cols(sm.st, sIn + (long)dk0 * Dv, (long)Dv, imin(64, Dk - dk0), e0, Dv, Identity{});
        __syncthreads();
        mma_acc(P, sm.qs + SUB * w * LDS, LDS, sm.ks, LDS, 64, 0, 2 * w + 2);
        mma_acc(QS, sm.qs + SUB * w * LDS, LDS, sm.st, LDS, 64, 0, 8);
        __syncthreads();
    }
    frag_store(sm.ps, P, false, [](int t, int j, float x) { return j <= t ? x : 0.f; });
    stage_rows(sm.vs, V + row_offset(bb, c, h, T, H, Dv), (long)H * Dv, rows, e0, Dv, Identity{});
    stage_cumsum(sm.b, g + row_offset(bb, c, h, T, H, Dv), (long)H * Dv, rows, e0, Dv, nullptr, h);
    __syncthreads();
    Frag Os;
    frag_zero(Os);
    mix_rows(Os, sm.ps, sm.vs, sm.b, sm.yt);
    io_t* out = O + row_offset(bb, c, h, T, H, Dv);
    float* outStrict = Ostrict + row_offset(bb, c, h, T, H, Dv);
#pragma unroll
    for (int i = 0; i < FRAG; i++) {
        const int t = frow(i), e = fcol(i);
        const float strict = Os.x[i] + decay_exp(sm.b[t * LDB + e]) * QS.x[i];
        if (t < rows && e0 + e < Dv) {
            const long at = (long)t * H * Dv + e0 + e;
            outStrict[at] = strict;
            put(out + at, strict + to_f(sm.ps[t * LDS + t]) * to_f(sm.vs[t * LDS + e]));
        }
    }
}

// ------------------------------------------------------------------------------------------------
// KEY (and SCALAR) decay, backward of the key side, one chunk and 64 key channels:
// dA = tril(dO Vᵀ); dQ° = (dO S_inᵀ) ⊙ e^{b} + mix(dA°, K); dK° = mixT(dA°, Q); dKs = (V dS_outᵀ) ⊙ e^{B−b};
// dQ = dQ° + dA^d ⊙ K; dK = dK° + dKs + dA^d ⊙ Q; r = Q ⊙ dQ° − K ⊙ dK°, x = K ⊙ dKs,
// c = e^{B} ⊙ rowsum(S_in ⊙ dS_out) → dg. Q here is scale·q; the stored dQ is scale·dQ.
// Grid: (key tiles, chunks, B·H).

// The layout of the two backward kernels that end in the gate gradient: TILES operand tiles, the mix
// scratch, the cumulative decay, the gradient's scan inputs r and x, the per-chunk constant c, the score
// diagonal, and the threads' partial sums of c.
template <int TILES>
struct GateGradSmem {
    op_t* tile[TILES];
    op_t* yt;
    cum_t* b;
    float *r, *x, *csum, *diag, *cpart;
    unsigned char* end;
    __device__ explicit GateGradSmem(unsigned char* base) {
        Carve c(base);
        for (int i = 0; i < TILES; i++) tile[i] = c.tile();
        yt = c.take<op_t>(3 * 64 * LDW);
        b = c.cum();
        r = c.take<float>(64 * LDB);
        x = c.take<float>(64 * LDB);
        csum = c.take<float>(64);
        diag = c.take<float>(64);
        cpart = c.take<float>(THREADS);
        end = c.p;
    }
};
typedef GateGradSmem<4> BwdKeySmem;
typedef GateGradSmem<5> BwdValueValueSmem;

// At most 128 registers, so that two CTAs share an SM (its 110 KB of shared memory allow two): with its five
// accumulator fragments the compiler otherwise took 146 and ran one CTA per SM (12 % occupancy, Nsight Compute).
extern "C" __global__ void __launch_bounds__(256, 2) gla_bwd_key_dqk(
        const io_t* Q, const io_t* K, const io_t* V, const float* g, const float* logGamma, const io_t* dO,
        const float* states, const float* dstates, io_t* dQ, io_t* dK, float* dg,
        int B, int T, int H, int Dk, int Dv, float scale) {
    extern __shared__ __align__(16) unsigned char smem[];
    BwdKeySmem sm(smem);
    const int dk0 = 64 * blockIdx.x, c = blockIdx.y, bb = blockIdx.z / H, h = blockIdx.z % H;
    const int Nc = (T + CHUNK - 1) / CHUNK, rows = imin(CHUNK, T - CHUNK * c), w = row_block();
    const float* sIn = states + state_offset(bb, h, c, H, Nc, Dk, Dv);
    const float* dsOut = dstates + state_offset(bb, h, c, H, Nc, Dk, Dv);
    const int stateRows = imin(64, Dk - dk0);
    // Phase 1, over value slabs: dA, G1 = dO S_inᵀ, G2 = V dS_outᵀ and the row sums of S_in ⊙ dS_out.
    Frag dA, G1, G2;
    frag_zero(dA);
    frag_zero(G1);
    frag_zero(G2);
    float cpart = 0.f;   // thread (row tid/4, quarter tid%4) of rowsum(S_in ⊙ dS_out), summed in a fixed order
    op_t *dos = sm.tile[0], *vs = sm.tile[1], *sin = sm.tile[2], *dso = sm.tile[3];
    for (int dv0 = 0; dv0 < Dv; dv0 += 64) {
        stage_rows(dos, dO + row_offset(bb, c, h, T, H, Dv), (long)H * Dv, rows, dv0, Dv, Identity{});
        stage_rows(vs, V + row_offset(bb, c, h, T, H, Dv), (long)H * Dv, rows, dv0, Dv, Identity{});
        stage_rows(sin, sIn + (long)dk0 * Dv, (long)Dv, stateRows, dv0, Dv, Identity{});
        stage_rows(dso, dsOut + (long)dk0 * Dv, (long)Dv, stateRows, dv0, Dv, Identity{});
        {
            const int r = threadIdx.x >> 2, quarter = threadIdx.x & 3;
            if (r < stateRows) {
                const float* a = sIn + (long)(dk0 + r) * Dv;
                const float* z = dsOut + (long)(dk0 + r) * Dv;
                for (int j = dv0 + 16 * quarter; j < imin(Dv, dv0 + 16 * quarter + 16); j++) cpart = fmaf(a[j], z[j], cpart);
            }
        }
        __syncthreads();
        mma_acc(dA, dos + SUB * w * LDS, LDS, vs, LDS, 64, 0, 2 * w + 2);
        mma_acc(G1, dos + SUB * w * LDS, LDS, sin, LDS, 64, 0, 8);
        mma_acc(G2, vs + SUB * w * LDS, LDS, dso, LDS, 64, 0, 8);
        __syncthreads();
    }
    sm.cpart[threadIdx.x] = cpart;
    // Phase 2, on this key slab.
    op_t *qs = sm.tile[0], *ks = sm.tile[1], *das = sm.tile[2], *dat = sm.tile[3];
    stage_rows(qs, Q + row_offset(bb, c, h, T, H, Dk), (long)H * Dk, rows, dk0, Dk, Scaled{scale});
    stage_rows(ks, K + row_offset(bb, c, h, T, H, Dk), (long)H * Dk, rows, dk0, Dk, Identity{});
    stage_cumsum(sm.b, g == nullptr ? nullptr : g + row_offset(bb, c, h, T, H, Dk), (long)H * Dk, rows, dk0, Dk, logGamma, h);
    frag_store(das, dA, false, [](int t, int j, float x) { return j < t ? x : 0.f; });
    frag_store(dat, dA, true, [](int t, int j, float x) { return j < t ? x : 0.f; });
#pragma unroll
    for (int i = 0; i < FRAG; i++) {
        if (frow(i) == fcol(i)) sm.diag[frow(i)] = dA.x[i];
    }
    __syncthreads();
    if (threadIdx.x < 64) {
        const float* p = sm.cpart + 4 * threadIdx.x;
        sm.csum[threadIdx.x] = (p[0] + p[1]) + (p[2] + p[3]);
    }
    Frag dQs, dKs;
    frag_zero(dQs);
    frag_zero(dKs);
    mix_rows(dQs, das, ks, sm.b, sm.yt);
    mixT_rows(dKs, dat, qs, sm.b, sm.yt);
    const cum_t* b = sm.b;
    io_t* dq = dQ + row_offset(bb, c, h, T, H, Dk);
    io_t* dk = dK + row_offset(bb, c, h, T, H, Dk);
#pragma unroll
    for (int i = 0; i < FRAG; i++) {
        const int t = frow(i), d = fcol(i);
        const float qf = to_f(qs[t * LDS + d]), kf = to_f(ks[t * LDS + d]), att = sm.diag[t];
        const float dqStrict = dQs.x[i] + G1.x[i] * decay_exp(b[t * LDB + d]);
        const float dkState = G2.x[i] * decay_exp(b[63 * LDB + d] - b[t * LDB + d]);
        sm.r[t * LDB + d] = qf * dqStrict - kf * dKs.x[i];
        sm.x[t * LDB + d] = kf * dkState;
        if (t < rows && dk0 + d < Dk) {
            const long at = (long)t * H * Dk + dk0 + d;
            put(dq + at, scale * (dqStrict + att * kf));
            put(dk + at, dKs.x[i] + dkState + att * qf);
        }
    }
    __syncthreads();
    if (dg != nullptr) {
        if (threadIdx.x < 64) sm.csum[threadIdx.x] *= decay_exp(b[63 * LDB + threadIdx.x]);
        __syncthreads();
        gate_gradient(sm.r, sm.x, sm.csum, dg + row_offset(bb, c, h, T, H, Dk), (long)H * Dk, rows, dk0, Dk);
    }
}

// KEY (and SCALAR) decay, backward of the value side, one chunk and 64 value columns:
// dV = scores(Q, K)ᵀ dO + (K ⊙ e^{B−b}) dS_out. Grid: (value tiles, chunks, B·H).

struct BwdKeyValueSmem {
    op_t *qs, *ks, *ke, *dst, *xt, *yw;
    cum_t* b;
    unsigned char* end;
    __device__ explicit BwdKeyValueSmem(unsigned char* base) {
        Carve c(base);
        qs = c.tile();
        ks = c.tile();
        ke = c.tile();
        dst = c.tile();
        xt = c.tile();
        yw = c.take<op_t>(3 * 48 * LDS);
        b = c.cum();
        end = c.p;
    }
};

extern "C" __global__ void __launch_bounds__(256) gla_bwd_key_dv(
        const io_t* Q, const io_t* K, const float* g, const float* logGamma, const io_t* dO, const float* dstates,
        io_t* dV, int B, int T, int H, int Dk, int Dv, float scale) {
    extern __shared__ __align__(16) unsigned char smem[];
    BwdKeyValueSmem sm(smem);
    const int e0 = 64 * blockIdx.x, c = blockIdx.y, bb = blockIdx.z / H, h = blockIdx.z % H;
    const int Nc = (T + CHUNK - 1) / CHUNK, rows = imin(CHUNK, T - CHUNK * c), w = row_block();
    const float* dsOut = dstates + state_offset(bb, h, c, H, Nc, Dk, Dv);
    Frag A, U;
    frag_zero(A);
    frag_zero(U);
    for (int dk0 = 0; dk0 < Dk; dk0 += 64) {
        stage_rows(sm.qs, Q + row_offset(bb, c, h, T, H, Dk), (long)H * Dk, rows, dk0, Dk, Scaled{scale});
        stage_rows(sm.ks, K + row_offset(bb, c, h, T, H, Dk), (long)H * Dk, rows, dk0, Dk, Identity{});
        stage_cols(sm.dst, dsOut + (long)dk0 * Dv, (long)Dv, imin(64, Dk - dk0), e0, Dv, Identity{});
        stage_cumsum(sm.b, g == nullptr ? nullptr : g + row_offset(bb, c, h, T, H, Dk), (long)H * Dk, rows, dk0, Dk, logGamma, h);
        __syncthreads();
        for (int idx = threadIdx.x; idx < 64 * 64; idx += blockDim.x) {
            const int t = idx >> 6, d = idx & 63;
            put(sm.ke + t * LDS + d, to_f(sm.ks[t * LDS + d]) * decay_exp(sm.b[63 * LDB + d] - sm.b[t * LDB + d]));
        }
        __syncthreads();
        mma_acc(U, sm.ke + SUB * w * LDS, LDS, sm.dst, LDS, 64, 0, 8);
        scores_slab(A, sm.qs, sm.ks, sm.b, sm.xt, sm.yw);
    }
    op_t* at = sm.qs;    // Aᵀ: row j, column t
    op_t* dot = sm.ks;   // dOᵀ: row e, column t
    frag_store(at, A, true, [](int, int, float x) { return x; });
    stage_cols(dot, dO + row_offset(bb, c, h, T, H, Dv), (long)H * Dv, rows, e0, Dv, Identity{});
    __syncthreads();
    mma_acc(U, at + SUB * w * LDS, LDS, dot, LDS, 64, 0, 8);
    io_t* out = dV + row_offset(bb, c, h, T, H, Dv);
#pragma unroll
    for (int i = 0; i < FRAG; i++) {
        const int j = frow(i), e = e0 + fcol(i);
        if (j < rows && e < Dv) put(out + (long)j * H * Dv + e, U.x[i]);
    }
}

// ------------------------------------------------------------------------------------------------
// VALUE decay, backward of the key side, one chunk and 64 key channels:
// dP = scores(dO, V); dQ = (dO ⊙ e^{b}) S_inᵀ + dP K; dK = dPᵀ Q + (V ⊙ e^{B−b}) dS_outᵀ.
// Q here is scale·q; the stored dQ is scale·dQ. Grid: (key tiles, chunks, B·H).

struct BwdValueKeySmem {
    op_t *dos, *vs, *sin, *dso, *doe, *ve, *xt, *yw;
    cum_t* b;
    unsigned char* end;
    __device__ explicit BwdValueKeySmem(unsigned char* base) {
        Carve c(base);
        dos = c.tile();
        vs = c.tile();
        sin = c.tile();
        dso = c.tile();
        doe = c.tile();
        ve = c.tile();
        xt = c.tile();
        yw = c.take<op_t>(3 * 48 * LDS);
        b = c.cum();
        end = c.p;
    }
};

extern "C" __global__ void __launch_bounds__(256) gla_bwd_value_dqk(
        const io_t* Q, const io_t* K, const io_t* V, const float* g, const io_t* dO,
        const float* states, const float* dstates, io_t* dQ, io_t* dK, int B, int T, int H, int Dk, int Dv, float scale) {
    extern __shared__ __align__(16) unsigned char smem[];
    BwdValueKeySmem sm(smem);
    const int dk0 = 64 * blockIdx.x, c = blockIdx.y, bb = blockIdx.z / H, h = blockIdx.z % H;
    const int Nc = (T + CHUNK - 1) / CHUNK, rows = imin(CHUNK, T - CHUNK * c), w = row_block();
    const float* sIn = states + state_offset(bb, h, c, H, Nc, Dk, Dv);
    const float* dsOut = dstates + state_offset(bb, h, c, H, Nc, Dk, Dv);
    const int stateRows = imin(64, Dk - dk0);
    Frag dP, G1, G2;
    frag_zero(dP);
    frag_zero(G1);
    frag_zero(G2);
    for (int dv0 = 0; dv0 < Dv; dv0 += 64) {
        stage_rows(sm.dos, dO + row_offset(bb, c, h, T, H, Dv), (long)H * Dv, rows, dv0, Dv, Identity{});
        stage_rows(sm.vs, V + row_offset(bb, c, h, T, H, Dv), (long)H * Dv, rows, dv0, Dv, Identity{});
        stage_rows(sm.sin, sIn + (long)dk0 * Dv, (long)Dv, stateRows, dv0, Dv, Identity{});
        stage_rows(sm.dso, dsOut + (long)dk0 * Dv, (long)Dv, stateRows, dv0, Dv, Identity{});
        stage_cumsum(sm.b, g + row_offset(bb, c, h, T, H, Dv), (long)H * Dv, rows, dv0, Dv, nullptr, h);
        __syncthreads();
        for (int idx = threadIdx.x; idx < 64 * 64; idx += blockDim.x) {
            const int t = idx >> 6, d = idx & 63;
            const cum_t bt = sm.b[t * LDB + d];
            put(sm.doe + t * LDS + d, to_f(sm.dos[t * LDS + d]) * decay_exp(bt));
            put(sm.ve + t * LDS + d, to_f(sm.vs[t * LDS + d]) * decay_exp(sm.b[63 * LDB + d] - bt));
        }
        __syncthreads();
        mma_acc(G1, sm.doe + SUB * w * LDS, LDS, sm.sin, LDS, 64, 0, 8);
        mma_acc(G2, sm.ve + SUB * w * LDS, LDS, sm.dso, LDS, 64, 0, 8);
        scores_slab(dP, sm.dos, sm.vs, sm.b, sm.xt, sm.yw);
    }
    op_t *dps = sm.dos, *dpt = sm.vs, *kt = sm.sin, *qt = sm.dso;
    frag_store(dps, dP, false, [](int, int, float x) { return x; });
    frag_store(dpt, dP, true, [](int, int, float x) { return x; });
    stage_cols(kt, K + row_offset(bb, c, h, T, H, Dk), (long)H * Dk, rows, dk0, Dk, Identity{});
    stage_cols(qt, Q + row_offset(bb, c, h, T, H, Dk), (long)H * Dk, rows, dk0, Dk, Scaled{scale});
    __syncthreads();
    mma_acc(G1, dps + SUB * w * LDS, LDS, kt, LDS, 64, 0, 8);
    mma_acc(G2, dpt + SUB * w * LDS, LDS, qt, LDS, 64, 0, 8);
    io_t* dq = dQ + row_offset(bb, c, h, T, H, Dk);
    io_t* dk = dK + row_offset(bb, c, h, T, H, Dk);
#pragma unroll
    for (int i = 0; i < FRAG; i++) {
        const int t = frow(i), d = dk0 + fcol(i);
        if (t < rows && d < Dk) {
            const long at = (long)t * H * Dk + d;
            put(dq + at, scale * G1.x[i]);
            put(dk + at, G2.x[i]);
        }
    }
}

// VALUE decay, backward of the value side, one chunk and 64 (decayed) value channels:
// dV° = mixT(P°, dO); dVs = (K dS_out) ⊙ e^{B−b}; dV = dV° + dVs + P^d ⊙ dO; r = O° ⊙ dO − V ⊙ dV°,
// x = V ⊙ dVs, c = e^{B} ⊙ colsum(S_in ⊙ dS_out) → dg. Grid: (value tiles, chunks, B·H).

extern "C" __global__ void __launch_bounds__(256) gla_bwd_value_dvg(
        const io_t* Q, const io_t* K, const io_t* V, const float* g, const io_t* dO, const float* Ostrict,
        const float* states, const float* dstates, io_t* dV, float* dg, int B, int T, int H, int Dk, int Dv, float scale) {
    extern __shared__ __align__(16) unsigned char smem[];
    BwdValueValueSmem sm(smem);
    op_t *qs = sm.tile[0], *ks = sm.tile[1], *dst = sm.tile[2], *pt = sm.tile[3], *dos = sm.tile[4];
    const int e0 = 64 * blockIdx.x, c = blockIdx.y, bb = blockIdx.z / H, h = blockIdx.z % H;
    const int Nc = (T + CHUNK - 1) / CHUNK, rows = imin(CHUNK, T - CHUNK * c), w = row_block();
    const float* sIn = states + state_offset(bb, h, c, H, Nc, Dk, Dv);
    const float* dsOut = dstates + state_offset(bb, h, c, H, Nc, Dk, Dv);
    Frag P, KS;
    frag_zero(P);
    frag_zero(KS);
    float cpart = 0.f;   // thread (column tid/4, quarter tid%4) of colsum(S_in ⊙ dS_out), summed in a fixed order
    for (int dk0 = 0; dk0 < Dk; dk0 += 64) {
        stage_rows(qs, Q + row_offset(bb, c, h, T, H, Dk), (long)H * Dk, rows, dk0, Dk, Scaled{scale});
        stage_rows(ks, K + row_offset(bb, c, h, T, H, Dk), (long)H * Dk, rows, dk0, Dk, Identity{});
        stage_cols(dst, dsOut + (long)dk0 * Dv, (long)Dv, imin(64, Dk - dk0), e0, Dv, Identity{});
        {
            const int col = e0 + (threadIdx.x >> 2), quarter = threadIdx.x & 3;
            if (col < Dv) {
                for (int r = dk0 + 16 * quarter; r < imin(Dk, dk0 + 16 * quarter + 16); r++) {
                    cpart = fmaf(sIn[(long)r * Dv + col], dsOut[(long)r * Dv + col], cpart);
                }
            }
        }
        __syncthreads();
        mma_acc(P, qs + SUB * w * LDS, LDS, ks, LDS, 64, 0, 2 * w + 2);
        mma_acc(KS, ks + SUB * w * LDS, LDS, dst, LDS, 64, 0, 8);
        __syncthreads();
    }
    sm.cpart[threadIdx.x] = cpart;
    frag_store(pt, P, true, [](int t, int j, float x) { return j < t ? x : 0.f; });
#pragma unroll
    for (int i = 0; i < FRAG; i++) {
        if (frow(i) == fcol(i)) sm.diag[frow(i)] = P.x[i];
    }
    stage_rows(dos, dO + row_offset(bb, c, h, T, H, Dv), (long)H * Dv, rows, e0, Dv, Identity{});
    stage_cumsum(sm.b, g + row_offset(bb, c, h, T, H, Dv), (long)H * Dv, rows, e0, Dv, nullptr, h);
    __syncthreads();
    if (threadIdx.x < 64) {
        const float* p = sm.cpart + 4 * threadIdx.x;
        sm.csum[threadIdx.x] = ((p[0] + p[1]) + (p[2] + p[3])) * decay_exp(sm.b[63 * LDB + threadIdx.x]);
    }
    Frag dvStrict;
    frag_zero(dvStrict);
    mixT_rows(dvStrict, pt, dos, sm.b, sm.yt);
    const cum_t* b = sm.b;
    const long pitch = (long)H * Dv;
    const io_t* v = V + row_offset(bb, c, h, T, H, Dv);
    const float* os = Ostrict + row_offset(bb, c, h, T, H, Dv);
    io_t* dv = dV + row_offset(bb, c, h, T, H, Dv);
    float vv[FRAG], ov[FRAG];   // all global loads first (see stage)
#pragma unroll
    for (int i = 0; i < FRAG; i++) {
        const int j = frow(i), e = fcol(i);
        const bool live = j < rows && e0 + e < Dv;
        const long at = (long)j * pitch + e0 + e;
        vv[i] = live ? to_f(v[at]) : 0.f;
        ov[i] = live ? os[at] : 0.f;
    }
#pragma unroll
    for (int i = 0; i < FRAG; i++) {
        const int j = frow(i), e = fcol(i);
        const bool live = j < rows && e0 + e < Dv;
        const long at = (long)j * pitch + e0 + e;
        const float vf = vv[i], of = ov[i], dof = to_f(dos[j * LDS + e]);
        const float dvState = KS.x[i] * decay_exp(b[63 * LDB + e] - b[j * LDB + e]);
        sm.r[j * LDB + e] = of * dof - vf * dvStrict.x[i];
        sm.x[j * LDB + e] = vf * dvState;
        if (live) put(dv + at, dvStrict.x[i] + dvState + sm.diag[j] * dof);
    }
    __syncthreads();
    gate_gradient(sm.r, sm.x, sm.csum, dg + row_offset(bb, c, h, T, H, Dv), pitch, rows, e0, Dv);
}

// The dynamic shared memory each kernel of this file needs, in bytes, in the order
// chunk_local, fwd_key, fwd_value, bwd_key_dqk, bwd_key_dv, bwd_value_dqk, bwd_value_dvg.
extern "C" __global__ void gla_smem_bytes(int* out) {
    out[0] = (int)(long)StatesSmem(nullptr).end;
    out[1] = (int)(long)FwdKeySmem(nullptr).end;
    out[2] = (int)(long)FwdValueSmem(nullptr).end;
    out[3] = (int)(long)BwdKeySmem(nullptr).end;
    out[4] = (int)(long)BwdKeyValueSmem(nullptr).end;
    out[5] = (int)(long)BwdValueKeySmem(nullptr).end;
    out[6] = (int)(long)BwdValueValueSmem(nullptr).end;
}
