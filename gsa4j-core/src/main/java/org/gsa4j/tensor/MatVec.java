package org.gsa4j.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.util.function.IntConsumer;

/**
 * Bandwidth-bound products {@code y = x·Wᵀ} for a few rows of x (decoding: one row per sequence),
 * W [M, K] in float32 or bfloat16. Each weight row is streamed once per call. For one row of x,
 * one weight row after the other with four independent FMA chains: the matrix is then one
 * sequential stream, which the hardware prefetchers follow (interleaving four rows, as a
 * register-blocked kernel would, left a core at 9 GB/s for bfloat16 and 13 GB/s for float32,
 * against 20–22 GB/s row by row on Zen 4). For several rows of x (batched decoding) the work per
 * weight byte grows with the rows and the product becomes compute-bound: blocks of two weight rows
 * × two rows of x reuse every loaded vector twice, each output element still summed in the
 * one-row order, so a row's result does not depend on the other rows ({@link #f32Rows}).
 * Bfloat16 weights are widened in registers ({@code bits << 16}).
 * The output rows are split into shrinking chunks ({@link #chunkCount}) run by the resident worker team of {@link Parallel},
 * which hands out chunks without allocating, so a decode step allocates nothing. Every output element is
 * computed by one thread in a fixed order: results do not depend on the thread count, and a
 * bfloat16 matrix gives bit-for-bit the result of the same values widened to float32.
 */
public final class MatVec {
    private MatVec() {}

    /** Inputs with at most this many rows take this kernel in {@link MatMul#linear}. */
    public static final int MAX_ROWS = 8;

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final VectorSpecies<Short> SH = VectorSpecies.of(short.class, VectorShape.forBitSize(L * 16));
    private static final VectorSpecies<Integer> SI = VectorSpecies.of(int.class, S.vectorShape());
    /** Below this many multiply-adds a call runs on the calling thread (dispatch costs a few µs). */
    private static final long PARALLEL_FMAS = 1 << 16;
    /** Output rows per chunk at least (a chunk claim costs a contended CAS, about 0.1 µs). */
    private static final int MIN_CHUNK = 16;

    /**
     * Guided self-scheduling of {@code rows} output rows: each chunk takes 1/(2·threads) of the rows
     * still unclaimed (at least {@link #MIN_CHUNK}), so chunks shrink towards the end of a job and the
     * threads finish within a few rows of each other. Equal 1/16 chunks left the first thread idle
     * for up to a whole chunk at every one of a decode step's ~70 joins (bfloat16 products ran at 90 %
     * of the read bandwidth, against 98 % with one join per step). The cut changes no result: every
     * output element is computed whole by one thread.
     */
    public static int chunkCount(int rows) {
        int c = 0;
        for (int s = 0; s < rows; c++) s += chunkSize(rows - s);
        return c;
    }

    /** First row of chunk c of {@link #chunkCount}(rows); {@code chunkStart(rows, chunkCount(rows)) == rows}. */
    public static int chunkStart(int rows, int c) {
        int s = 0;
        for (int i = 0; i < c && s < rows; i++) s += chunkSize(rows - s);
        return Math.min(s, rows);
    }

    private static int chunkSize(int remaining) {
        int share = 2 * Parallel.threads();
        return Math.max(MIN_CHUNK, (remaining + share - 1) / share);
    }

    /** y [n, M] = x [n, K] · wᵀ for w [M, K] (float32 or bfloat16); x and y float32. */
    public static void multiply(float[] x, int xOff, int n, Tensor w, float[] y, int yOff) {
        multiply(x, xOff, n, w, y, null, null, yOff);
    }

    /**
     * Several products of the same x [n, K] in one parallel dispatch: {@code ys[i][yOff + r·Mᵢ + j]
     * = Σ x[xOff + r·K + c]·ws[i][j, c]}. The arrays are read, not kept (callers reuse them).
     */
    public static void multiply(float[] x, int xOff, int n, Tensor[] ws, float[][] ys, int yOff) {
        multiply(x, xOff, n, null, null, ws, ys, yOff);
    }

    /** One matrix (w, y) when ws is null, else the list: no array is made for a single product. */
    private static void multiply(float[] x, int xOff, int n, Tensor w, float[] y, Tensor[] ws, float[][] ys, int yOff) {
        int count = ws == null ? 1 : ws.length;
        int k = (ws == null ? w : ws[0]).dim(1);
        long rows = 0;
        for (int i = 0; i < count; i++) {
            Tensor wi = ws == null ? w : ws[i];
            if (wi.rank() != 2 || wi.dim(1) != k) throw new IllegalArgumentException("matvec: weights " + wi + " vs K = " + k);
            rows += wi.dim(0);
        }
        Job j = JOBS.get();
        if (rows * k * n >= PARALLEL_FMAS && Parallel.DECODE_PARALLEL && !j.busy) {
            j.busy = true;
            j.x = x;
            j.xOff = xOff;
            j.n = n;
            j.k = k;
            j.w = w;
            j.y = y;
            j.ws = ws;
            j.ys = ys;
            j.yOff = yOff;
            j.totalRows = (int) rows;
            boolean ran;
            try {
                ran = Parallel.tryTeam(j, chunkCount(j.totalRows));
            } finally {
                j.x = j.y = null;
                j.w = null;
                j.ws = null;
                j.ys = null;
                j.busy = false;
            }
            if (ran) return;
        }
        for (int i = 0; i < count; i++) {
            Tensor wi = ws == null ? w : ws[i];
            rows(x, xOff, n, k, wi, 0, wi.dim(0), ws == null ? y : ys[i], yOff);
        }
    }

    /** Each calling thread's job object (reused: a decode step allocates nothing). */
    private static final ThreadLocal<Job> JOBS = ThreadLocal.withInitial(Job::new);

    private static final class Job implements IntConsumer {
        boolean busy;
        float[] x, y;
        int xOff, n, k, yOff, totalRows;
        Tensor w;
        Tensor[] ws;
        float[][] ys;

        @Override
        public void accept(int c) {
            int a = chunkStart(totalRows, c), b = chunkStart(totalRows, c + 1), base = 0;
            int count = ws == null ? 1 : ws.length;
            for (int i = 0; i < count && base < b; i++) {
                Tensor wi = ws == null ? w : ws[i];
                int m = wi.dim(0);
                int lo = Math.max(a, base), hi = Math.min(b, base + m);
                if (lo < hi) rows(x, xOff, n, k, wi, lo - base, hi - base, ws == null ? y : ys[i], yOff);
                base += m;
            }
        }
    }

    /**
     * Output rows [j0, j1) of one matrix on the calling thread: {@code y[yOff + r·M + j]} for r &lt; n
     * (a building block for fused jobs run through {@link Parallel#forDecode}).
     */
    public static void rows(float[] x, int xOff, int n, int k, Tensor w, int j0, int j1, float[] y, int yOff) {
        int m = w.dim(0);
        if (w.h != null) bf16Rows(x, xOff, n, k, w.h, j0, j1, y, yOff, m);
        else f32Rows(x, xOff, n, k, w.f, 0, j0, j1, y, yOff, m);
    }

    /**
     * The same kernel on a float32 matrix of {@code rows} rows of k stored from {@code w[wOff]} (a
     * slice of a larger array, e.g. one head's cached keys): {@code y[yOff + r·ldy + j] =
     * Σ_c x[xOff + r·k + c]·w[wOff + j·k + c]} for r &lt; n, j &lt; rows, on the calling thread.
     */
    public static void rows(float[] x, int xOff, int n, int k, float[] w, int wOff, int rows, float[] y, int yOff, int ldy) {
        f32Rows(x, xOff, n, k, w, wOff, 0, rows, y, yOff, ldy);
    }

    /**
     * Per-thread scratch of the blocked kernels: the four combined accumulators of a 2×2 block. (A
     * call that reduced the vectors itself grew the kernel past C2's inlining budget, and a vector
     * passed to a call that is not inlined is boxed on the heap.)
     */
    private static final ThreadLocal<float[]> BLOCK_SUMS = ThreadLocal.withInitial(() -> new float[4 * L]);

    /**
     * One sequence takes the weights row after row (the bandwidth-bound case). Several sequences
     * go in blocks of two weight rows × two sequences ({@link #f32Block}): each loaded vector
     * serves two products, so a multiply-add needs one load instead of two, and the weight rows
     * are still read from memory once per call. Every output element keeps the single-sequence
     * order of {@link #f32Dot} (four FMA chains, their sum, the lanes, the scalar tail): a
     * sequence's results do not depend on what it is multiplied with. Four chains per element
     * make 16 accumulators per block, half the 32 vector registers of AVX-512; a 4×4 block would
     * need 64.
     */
    static void f32Rows(float[] x, int xOff, int n, int k, float[] w, int wOff, int j0, int j1, float[] y, int yOff, int m) {
        if (n > 1) {
            f32Blocks(x, xOff, n, k, w, wOff, j0, j1, y, yOff, m);
            return;
        }
        for (int j = j0; j < j1; j++) y[yOff + j] = f32Dot(w, wOff + j * k, x, xOff, k);
    }

    /**
     * {@link #f32Rows} for n &gt; 1: its own method, so that a caller that inlines f32Rows does not
     * inline this too (one call site per kernel keeps every method within C2's inlining budget).
     */
    private static void f32Blocks(float[] x, int xOff, int n, int k, float[] w, int wOff, int j0, int j1, float[] y, int yOff, int m) {
        float[] sums = BLOCK_SUMS.get();
        int jEnd = j1 - (j1 - j0) % 2, rEnd = n - n % 2;
        for (int j = j0; j < jEnd; j += 2)
            for (int r = 0; r < rEnd; r += 2) {
                f32Block(w, wOff + j * k, x, xOff + r * k, k, sums);
                for (int b = 0; b < 4; b++) {   // w0·x0, w0·x1, w1·x0, w1·x1
                    int jb = j + b / 2, rb = r + b % 2;
                    y[yOff + rb * m + jb] = f32Tail(sumAt(sums, b), w, wOff + jb * k, x, xOff + rb * k, k);
                }
            }
        // what the blocks leave: the last row of x when n is odd, the last weight row when j1 - j0 is odd
        for (int j = j0; j < j1; j++)
            for (int r = j < jEnd ? rEnd : 0; r < n; r++) y[yOff + r * m + j] = f32Dot(w, wOff + j * k, x, xOff + r * k, k);
    }

    /** One output element: {@code Σ_c w[wj + c]·x[xr + c]} in the order every kernel here keeps. */
    private static float f32Dot(float[] w, int wj, float[] x, int xr, int k) {
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (; i <= k - 4 * L; i += 4 * L) {
            a0 = FloatVector.fromArray(S, w, wj + i).fma(FloatVector.fromArray(S, x, xr + i), a0);
            a1 = FloatVector.fromArray(S, w, wj + i + L).fma(FloatVector.fromArray(S, x, xr + i + L), a1);
            a2 = FloatVector.fromArray(S, w, wj + i + 2 * L).fma(FloatVector.fromArray(S, x, xr + i + 2 * L), a2);
            a3 = FloatVector.fromArray(S, w, wj + i + 3 * L).fma(FloatVector.fromArray(S, x, xr + i + 3 * L), a3);
        }
        for (; i <= k - L; i += L) a0 = FloatVector.fromArray(S, w, wj + i).fma(FloatVector.fromArray(S, x, xr + i), a0);
        return f32Tail(VectorOps.sumLanes(a0.add(a1).add(a2.add(a3))), w, wj, x, xr, k);
    }

    /** The elements past the last whole vector, added one by one to the vector part s. */
    private static float f32Tail(float s, float[] w, int wj, float[] x, int xr, int k) {
        for (int i = k - k % L; i < k; i++) s += w[wj + i] * x[xr + i];
        return s;
    }

    /**
     * Rows wj and wj + k of w times rows xr and xr + k of x, each product's four chains summed as
     * in {@link #f32Dot}, into sums (vectors: w0·x0, w0·x1, w1·x0, w1·x1).
     */
    private static void f32Block(float[] w, int wj, float[] x, int xr, int k, float[] sums) {
        int wk = wj + k, xk = xr + k;
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        FloatVector c0 = a0, c1 = a0, c2 = a0, c3 = a0, d0 = a0, d1 = a0, d2 = a0, d3 = a0;
        int i = 0;
        for (; i <= k - 4 * L; i += 4 * L) {
            FloatVector v = FloatVector.fromArray(S, w, wj + i), u = FloatVector.fromArray(S, w, wk + i);
            FloatVector p = FloatVector.fromArray(S, x, xr + i), q = FloatVector.fromArray(S, x, xk + i);
            a0 = v.fma(p, a0); b0 = v.fma(q, b0); c0 = u.fma(p, c0); d0 = u.fma(q, d0);
            v = FloatVector.fromArray(S, w, wj + i + L); u = FloatVector.fromArray(S, w, wk + i + L);
            p = FloatVector.fromArray(S, x, xr + i + L); q = FloatVector.fromArray(S, x, xk + i + L);
            a1 = v.fma(p, a1); b1 = v.fma(q, b1); c1 = u.fma(p, c1); d1 = u.fma(q, d1);
            v = FloatVector.fromArray(S, w, wj + i + 2 * L); u = FloatVector.fromArray(S, w, wk + i + 2 * L);
            p = FloatVector.fromArray(S, x, xr + i + 2 * L); q = FloatVector.fromArray(S, x, xk + i + 2 * L);
            a2 = v.fma(p, a2); b2 = v.fma(q, b2); c2 = u.fma(p, c2); d2 = u.fma(q, d2);
            v = FloatVector.fromArray(S, w, wj + i + 3 * L); u = FloatVector.fromArray(S, w, wk + i + 3 * L);
            p = FloatVector.fromArray(S, x, xr + i + 3 * L); q = FloatVector.fromArray(S, x, xk + i + 3 * L);
            a3 = v.fma(p, a3); b3 = v.fma(q, b3); c3 = u.fma(p, c3); d3 = u.fma(q, d3);
        }
        for (; i <= k - L; i += L) {
            FloatVector v = FloatVector.fromArray(S, w, wj + i), u = FloatVector.fromArray(S, w, wk + i);
            FloatVector p = FloatVector.fromArray(S, x, xr + i), q = FloatVector.fromArray(S, x, xk + i);
            a0 = v.fma(p, a0); b0 = v.fma(q, b0); c0 = u.fma(p, c0); d0 = u.fma(q, d0);
        }
        a0.add(a1).add(a2.add(a3)).intoArray(sums, 0);
        b0.add(b1).add(b2.add(b3)).intoArray(sums, L);
        c0.add(c1).add(c2.add(c3)).intoArray(sums, 2 * L);
        d0.add(d1).add(d2.add(d3)).intoArray(sums, 3 * L);
    }

    private static float sumAt(float[] sums, int block) {
        return VectorOps.sumLanes(FloatVector.fromArray(S, sums, block * L));
    }

    /** As {@link #f32Rows}, the weights widened from bfloat16 bits in registers: the same arithmetic. */
    static void bf16Rows(float[] x, int xOff, int n, int k, short[] w, int j0, int j1, float[] y, int yOff, int m) {
        if (n > 1) {
            bf16Blocks(x, xOff, n, k, w, j0, j1, y, yOff, m);
            return;
        }
        for (int j = j0; j < j1; j++) y[yOff + j] = bf16Dot(w, j * k, x, xOff, k);
    }

    private static void bf16Blocks(float[] x, int xOff, int n, int k, short[] w, int j0, int j1, float[] y, int yOff, int m) {
        float[] sums = BLOCK_SUMS.get();
        int jEnd = j1 - (j1 - j0) % 2, rEnd = n - n % 2;
        for (int j = j0; j < jEnd; j += 2)
            for (int r = 0; r < rEnd; r += 2) {
                bf16Block(w, j * k, x, xOff + r * k, k, sums);
                for (int b = 0; b < 4; b++) {
                    int jb = j + b / 2, rb = r + b % 2;
                    y[yOff + rb * m + jb] = bf16Tail(sumAt(sums, b), w, jb * k, x, xOff + rb * k, k);
                }
            }
        for (int j = j0; j < j1; j++)
            for (int r = j < jEnd ? rEnd : 0; r < n; r++) y[yOff + r * m + j] = bf16Dot(w, j * k, x, xOff + r * k, k);
    }

    private static float bf16Dot(short[] w, int wj, float[] x, int xr, int k) {
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (; i <= k - 4 * L; i += 4 * L) {
            a0 = widen(w, wj + i).fma(FloatVector.fromArray(S, x, xr + i), a0);
            a1 = widen(w, wj + i + L).fma(FloatVector.fromArray(S, x, xr + i + L), a1);
            a2 = widen(w, wj + i + 2 * L).fma(FloatVector.fromArray(S, x, xr + i + 2 * L), a2);
            a3 = widen(w, wj + i + 3 * L).fma(FloatVector.fromArray(S, x, xr + i + 3 * L), a3);
        }
        for (; i <= k - L; i += L) a0 = widen(w, wj + i).fma(FloatVector.fromArray(S, x, xr + i), a0);
        return bf16Tail(VectorOps.sumLanes(a0.add(a1).add(a2.add(a3))), w, wj, x, xr, k);
    }

    private static float bf16Tail(float s, short[] w, int wj, float[] x, int xr, int k) {
        for (int i = k - k % L; i < k; i++) s += bf16(w[wj + i]) * x[xr + i];
        return s;
    }

    private static void bf16Block(short[] w, int wj, float[] x, int xr, int k, float[] sums) {
        int wk = wj + k, xk = xr + k;
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        FloatVector c0 = a0, c1 = a0, c2 = a0, c3 = a0, d0 = a0, d1 = a0, d2 = a0, d3 = a0;
        int i = 0;
        for (; i <= k - 4 * L; i += 4 * L) {
            FloatVector v = widen(w, wj + i), u = widen(w, wk + i);
            FloatVector p = FloatVector.fromArray(S, x, xr + i), q = FloatVector.fromArray(S, x, xk + i);
            a0 = v.fma(p, a0); b0 = v.fma(q, b0); c0 = u.fma(p, c0); d0 = u.fma(q, d0);
            v = widen(w, wj + i + L); u = widen(w, wk + i + L);
            p = FloatVector.fromArray(S, x, xr + i + L); q = FloatVector.fromArray(S, x, xk + i + L);
            a1 = v.fma(p, a1); b1 = v.fma(q, b1); c1 = u.fma(p, c1); d1 = u.fma(q, d1);
            v = widen(w, wj + i + 2 * L); u = widen(w, wk + i + 2 * L);
            p = FloatVector.fromArray(S, x, xr + i + 2 * L); q = FloatVector.fromArray(S, x, xk + i + 2 * L);
            a2 = v.fma(p, a2); b2 = v.fma(q, b2); c2 = u.fma(p, c2); d2 = u.fma(q, d2);
            v = widen(w, wj + i + 3 * L); u = widen(w, wk + i + 3 * L);
            p = FloatVector.fromArray(S, x, xr + i + 3 * L); q = FloatVector.fromArray(S, x, xk + i + 3 * L);
            a3 = v.fma(p, a3); b3 = v.fma(q, b3); c3 = u.fma(p, c3); d3 = u.fma(q, d3);
        }
        for (; i <= k - L; i += L) {
            FloatVector v = widen(w, wj + i), u = widen(w, wk + i);
            FloatVector p = FloatVector.fromArray(S, x, xr + i), q = FloatVector.fromArray(S, x, xk + i);
            a0 = v.fma(p, a0); b0 = v.fma(q, b0); c0 = u.fma(p, c0); d0 = u.fma(q, d0);
        }
        a0.add(a1).add(a2.add(a3)).intoArray(sums, 0);
        b0.add(b1).add(b2.add(b3)).intoArray(sums, L);
        c0.add(c1).add(c2.add(c3)).intoArray(sums, 2 * L);
        d0.add(d1).add(d2.add(d3)).intoArray(sums, 3 * L);
    }

    private static FloatVector widen(short[] h, int off) {
        return ((IntVector) ShortVector.fromArray(SH, h, off).convertShape(VectorOperators.S2I, SI, 0))
                .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    private static float bf16(short b) {
        return Float.intBitsToFloat(b << 16);
    }
}
