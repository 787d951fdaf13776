package org.gsa4j.ops.attention;

import org.gsa4j.tensor.Parallel;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.tensor.VectorOps;

/**
 * The key/value cache of one attention layer for a batch of B sequences decoded in lock-step.
 *
 * <p>Keys and values are stored already rotated, as [B, slot, HKV, D]. With {@code window = 0}
 * every token is kept (memory grows linearly with the context); with {@code window = w > 0} only
 * the last w tokens are kept, in a ring buffer ({@code slot = position mod w}), which is exactly
 * what a sliding-window query can see.
 *
 * <p>The precision (float32 or float64) is fixed by the first tensors appended. Storage grows by
 * doubling; {@link #bytes()} reports the logical size of the stored keys and values (linear in the
 * number of stored tokens), {@link #capacityBytes()} the allocated size.
 *
 * <p>{@link #step} allocates nothing once the capacity suffices (for a small amount of work it runs
 * on the calling thread; otherwise over (batch, query head) in parallel). Not thread-safe.
 */
public final class KvCache {
    private final int batch, kvHeads, headDim, window;
    /** tokens appended so far = the position of the next token. */
    private int length;
    /** slots allocated per sequence. */
    private int capacity;
    private float[] kf, vf;
    private double[] kd, vd;
    private Boolean f64;

    public KvCache(int batch, int kvHeads, int headDim, int window) {
        if (batch <= 0 || kvHeads <= 0 || headDim <= 0) {
            throw new IllegalArgumentException("batch, kvHeads, headDim must be > 0: " + batch + ", " + kvHeads + ", " + headDim);
        }
        if (window < 0) throw new IllegalArgumentException("window must be >= 0, got " + window);
        this.batch = batch;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.window = window;
    }

    /** Tokens appended so far (also the position of the next token). */
    public int length() {
        return length;
    }

    /** Tokens actually stored: {@code length()} or, with a window, at most the window. */
    public int stored() {
        return window > 0 ? Math.min(length, window) : length;
    }

    /** Bytes of the stored keys and values: 2 · B · stored · HKV · D · (4 or 8). */
    public long bytes() {
        return 2L * batch * stored() * kvHeads * headDim * elementBytes();
    }

    /** Bytes allocated for keys and values (capacity ≥ stored). */
    public long capacityBytes() {
        return 2L * batch * capacity * kvHeads * headDim * elementBytes();
    }

    /** Forgets every token (keeps the allocation). */
    public void clear() {
        length = 0;
    }

    private int elementBytes() {
        return Boolean.TRUE.equals(f64) ? 8 : 4;
    }

    private int rowLen() {
        return kvHeads * headDim;
    }

    /** Offset of (b, slot) in the storage. */
    private int off(int b, int slot) {
        return (b * capacity + slot) * rowLen();
    }

    private int slotOf(int position) {
        return window > 0 ? position % window : position;
    }

    /** Makes room for {@code more} further tokens and fixes the precision. */
    private void reserve(int more, boolean wantF64) {
        if (f64 == null) f64 = wantF64;
        else if (f64 != wantF64) throw new IllegalArgumentException("KvCache holds " + (f64 ? "float64" : "float32") + " data");
        long needL = (long) length + more;
        int need = (int) (window > 0 ? Math.min(needL, window) : Math.min(needL, Integer.MAX_VALUE));
        if (need <= capacity) return;
        int cap = (int) Math.max(need, Math.min(2L * capacity, window > 0 ? window : Integer.MAX_VALUE));
        cap = Math.max(cap, Math.min(16, window > 0 ? window : 16));
        if ((long) batch * cap * rowLen() > Integer.MAX_VALUE) throw new IllegalStateException("KV cache too large");
        int rl = rowLen(), keep = stored();
        if (f64) {
            double[] nk = new double[batch * cap * rl], nv = new double[batch * cap * rl];
            for (int b = 0; b < batch; b++) {
                if (kd != null) {
                    System.arraycopy(kd, b * capacity * rl, nk, b * cap * rl, keep * rl);
                    System.arraycopy(vd, b * capacity * rl, nv, b * cap * rl, keep * rl);
                }
            }
            kd = nk;
            vd = nv;
        } else {
            float[] nk = new float[batch * cap * rl], nv = new float[batch * cap * rl];
            for (int b = 0; b < batch; b++) {
                if (kf != null) {
                    System.arraycopy(kf, b * capacity * rl, nk, b * cap * rl, keep * rl);
                    System.arraycopy(vf, b * capacity * rl, nv, b * cap * rl, keep * rl);
                }
            }
            kf = nk;
            vf = nv;
        }
        // With a window the ring only grows while length < window, so slots 0..stored-1 are in order.
        capacity = cap;
    }

    /** Bulk-appends a prefill's (already rotated) k, v [B,T,HKV,D]. */
    public void append(Tensor k, Tensor v) {
        if (k.rank() != 4 || !k.sameShape(v) || k.dim(0) != batch || k.dim(2) != kvHeads || k.dim(3) != headDim) {
            throw new IllegalArgumentException("append expects k, v [" + batch + ",T," + kvHeads + "," + headDim + "], got " + k + ", " + v);
        }
        if (k.isF64() != v.isF64()) throw new IllegalArgumentException("k and v must share a precision");
        copyIn(k, v, k.dim(1));
    }

    /** Appends T tokens laid out [B,T,HKV,D] in k, v (a step's [B,HKV,D] is T = 1). */
    private void copyIn(Tensor k, Tensor v, int T) {
        int rl = rowLen();
        int first = window > 0 ? Math.max(0, T - window) : 0;   // older tokens would be overwritten anyway
        reserve(T - first, k.isF64());
        for (int t = first; t < T; t++) {
            int pos = length + t;
            for (int b = 0; b < batch; b++) {
                int src = (b * T + t) * rl, dst = off(b, slotOf(pos));
                if (f64) {
                    System.arraycopy(k.d, src, kd, dst, rl);
                    System.arraycopy(v.d, src, vd, dst, rl);
                } else {
                    System.arraycopy(k.f, src, kf, dst, rl);
                    System.arraycopy(v.f, src, vf, dst, rl);
                }
            }
        }
        length += T;
    }

    /**
     * Appends the new token's k, v [B,HKV,D] (already rotated), then attends q [B,HQ,D] over the
     * cache: o [B,HQ,D] = softmax(scale · q kᵀ) v per query head, kv head = floor(h / G).
     */
    public void step(Tensor q, Tensor k, Tensor v, double scale, Tensor o) {
        if (k.rank() != 3 || !k.sameShape(v) || k.dim(0) != batch || k.dim(1) != kvHeads || k.dim(2) != headDim) {
            throw new IllegalArgumentException("step expects k, v [" + batch + "," + kvHeads + "," + headDim + "], got " + k + ", " + v);
        }
        if (q.rank() != 3 || q.dim(0) != batch || q.dim(2) != headDim || q.dim(1) % kvHeads != 0 || !q.sameShape(o)) {
            throw new IllegalArgumentException("step expects q, o [" + batch + ",HQ," + headDim + "] with HQ a multiple of "
                    + kvHeads + ", got " + q + ", " + o);
        }
        if (q.isF64() != k.isF64() || q.isF64() != o.isF64() || k.isF64() != v.isF64()) {
            throw new IllegalArgumentException("q, k, v, o must share a precision");
        }
        copyIn(k, v, 1);
        int HQ = q.dim(1), G = HQ / kvHeads, n = stored();
        if (f64) {
            for (int bh = 0; bh < batch * HQ; bh++) attendF64(bh, HQ, G, n, q.d, scale, o.d);
        } else {
            float sc = (float) scale;
            long work = (long) batch * HQ * n * headDim;
            if (work < 32_768) {
                for (int bh = 0; bh < batch * HQ; bh++) attendF32(bh, HQ, G, n, q.f, sc, o.f);
            } else {
                Parallel.forRange(batch * HQ, bh -> attendF32(bh, HQ, G, n, q.f, sc, o.f));
            }
        }
    }

    /**
     * One (batch, query head) row, single pass with an online softmax; o's row is the accumulator,
     * so nothing is allocated. Slot order does not matter to softmax.
     */
    private void attendF32(int bh, int HQ, int G, int n, float[] q, float scale, float[] o) {
        int b = bh / HQ, h = bh % HQ, g = h / G, D = headDim;
        int qo = bh * D;
        float m = Float.NEGATIVE_INFINITY, l = 0f;
        java.util.Arrays.fill(o, qo, qo + D, 0f);
        for (int j = 0; j < n; j++) {
            int ko = off(b, j) + g * D;
            float s = scale * VectorOps.dot(q, qo, kf, ko, D);
            if (s > m) {
                if (l != 0f) {
                    float alpha = (float) Math.exp(m - s);
                    l *= alpha;
                    VectorOps.scale(alpha, o, qo, D);
                }
                m = s;
            }
            float p = (float) Math.exp(s - m);
            l += p;
            VectorOps.axpy(p, vf, ko, o, qo, D);
        }
        VectorOps.scale(1f / l, o, qo, D);
    }

    private void attendF64(int bh, int HQ, int G, int n, double[] q, double scale, double[] o) {
        int b = bh / HQ, h = bh % HQ, g = h / G, D = headDim;
        int qo = bh * D;
        double[] s = new double[n];
        double m = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) {
            int ko = off(b, j) + g * D;
            double acc = 0;
            for (int c = 0; c < D; c++) acc += q[qo + c] * kd[ko + c];
            s[j] = scale * acc;
            m = Math.max(m, s[j]);
        }
        double l = 0;
        for (int j = 0; j < n; j++) {
            s[j] = Math.exp(s[j] - m);
            l += s[j];
        }
        java.util.Arrays.fill(o, qo, qo + D, 0.0);
        for (int j = 0; j < n; j++) {
            int vo = off(b, j) + g * D;
            double p = s[j] / l;
            for (int c = 0; c < D; c++) o[qo + c] += p * vd[vo + c];
        }
    }
}
