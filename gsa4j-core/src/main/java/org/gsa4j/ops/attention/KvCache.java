package org.gsa4j.ops.attention;

import org.gsa4j.tensor.MatVec;
import org.gsa4j.tensor.Parallel;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.tensor.VectorOps;

import java.util.Arrays;
import java.util.function.IntConsumer;

/**
 * The key/value cache of one attention layer for a batch of B sequences decoded in lock-step.
 *
 * <p>Keys and values are stored already rotated, head-major as [B, HKV, slot, D], so that the keys
 * (and the values) one kv head attends over are one contiguous stream. With {@code window = 0} every
 * token is kept (memory grows linearly with the context); with {@code window = w > 0} only the last
 * w tokens are kept, in a ring buffer ({@code slot = position mod w}), which is exactly what a
 * sliding-window query can see.
 *
 * <p>The precision (float32 or float64) is fixed by the first tensors appended. Storage grows by
 * doubling, or once to the size given to {@link #reserve}; {@link #bytes()} reports the logical size
 * of the stored keys and values (linear in the number of stored tokens), {@link #capacityBytes()}
 * the allocated size.
 *
 * <p>The float32 {@link #step} streams the cache once per token: per kv head, all G query heads of
 * its group are scored against each key as it is read (blocks of keys through the decode product
 * kernel), with an online softmax over blocks; a long context is split into up to 16 ranges per
 * head, attended in parallel on the decode team and merged by their log-sum-exp. The split depends
 * only on the number of stored tokens, so results do not depend on the thread count. It allocates
 * nothing once the capacity suffices (its scratch is made by the first step). Not thread-safe.
 */
public final class KvCache {
    /** Keys scored at a time in the online softmax (their scores stay in L1). */
    private static final int BLOCK = 64;
    /** A head's tokens are attended in at most this many ranges in parallel, */
    private static final int MAX_SPLITS = 16;
    /** each of at least this many tokens (shorter ranges would cost more to merge than they save). */
    private static final int SPLIT_TOKENS = 256;
    /** Below this many multiply-adds a step runs on the calling thread (a dispatch costs a few µs). */
    private static final long PARALLEL_WORK = 1 << 15;

    private final int batch, kvHeads, headDim, window;
    /** tokens appended so far = the position of the next token. */
    private int length;
    /** slots allocated per sequence and kv head; at least {@code minCapacity} once allocated. */
    private int capacity, minCapacity;
    private float[] kf, vf;
    private double[] kd, vd;
    private Boolean f64;

    // The float32 step in flight: query heads per kv head, ranges per head and their length, the
    // inputs, and per range a scratch of [scores G·BLOCK | acc G·D | running max G | sum G] (the
    // offsets of its parts within it; taskStride in all).
    private int groups, splits, splitLen, attended, taskStride, accAt, maxAt, sumAt;
    private float[] q, work;
    private float scale;
    private final IntConsumer attendRange = this::attendRange;

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

    /**
     * Room for a context of {@code tokens} in all (at most the window) from now on, so that decoding
     * up to it never grows the storage: allocated now if the precision is known (something was
     * appended), else at the first append. Doubling from a small size would allocate about three
     * times the final size on the way.
     */
    public void reserve(int tokens) {
        minCapacity = Math.max(minCapacity, limit(tokens));
        if (f64 != null && minCapacity > capacity) grow(minCapacity);
    }

    /** An independent copy (same tokens, precision and capacity). */
    public KvCache copy() {
        KvCache c = new KvCache(batch, kvHeads, headDim, window);
        c.length = length;
        c.capacity = capacity;
        c.minCapacity = minCapacity;
        c.f64 = f64;
        c.kf = kf == null ? null : kf.clone();
        c.vf = vf == null ? null : vf.clone();
        c.kd = kd == null ? null : kd.clone();
        c.vd = vd == null ? null : vd.clone();
        return c;
    }

    /** Bytes one more token adds (until a window is full): 2 · B · HKV · D · (4 or 8). */
    public long bytesPerToken() {
        return 2L * batch * kvHeads * headDim * elementBytes();
    }

    /**
     * The stored keys and values, copies shaped [B, HKV, stored, D] in slot order (a ring's slots
     * as they lie), for a snapshot; {@link #restore} puts them back.
     */
    public Tensor[] contents() {
        int n = stored(), size = batch * kvHeads * n * headDim;
        boolean wide = Boolean.TRUE.equals(f64);
        Tensor k = wide ? Tensor.zerosF64(batch, kvHeads, n, headDim) : Tensor.zeros(batch, kvHeads, n, headDim);
        Tensor v = wide ? Tensor.zerosF64(batch, kvHeads, n, headDim) : Tensor.zeros(batch, kvHeads, n, headDim);
        for (int bg = 0; size > 0 && bg < batch * kvHeads; bg++) {
            int from = bg * capacity * headDim, to = bg * n * headDim, len = n * headDim;
            System.arraycopy(wide ? kd : kf, from, wide ? k.d : k.f, to, len);
            System.arraycopy(wide ? vd : vf, from, wide ? v.d : v.f, to, len);
        }
        return new Tensor[] {k, v};
    }

    /**
     * Replaces the contents with what {@link #contents} returned for a cache of the same shape
     * after {@code length} tokens: keys and values [B, HKV, stored, D] in slot order.
     */
    public void restore(long length, Tensor keys, Tensor values) {
        if (length < 0 || length > Integer.MAX_VALUE) throw new IllegalArgumentException("KV cache length " + length + " out of range");
        int n = limit(length);
        int[] want = {batch, kvHeads, n, headDim};
        if (!java.util.Arrays.equals(keys.shape, want) || !keys.sameShape(values) || keys.isF64() != values.isF64()) {
            throw new IllegalArgumentException("a KV cache of " + length + " tokens needs keys and values " + java.util.Arrays.toString(want)
                    + " of one precision, got " + keys + ", " + values);
        }
        this.length = 0;
        capacity = 0;
        kf = vf = null;
        kd = vd = null;
        f64 = n == 0 ? null : keys.isF64();
        if (n > 0) {
            grow(Math.max(n, minCapacity));
            for (int bg = 0; bg < batch * kvHeads; bg++) {
                int from = bg * n * headDim, to = bg * capacity * headDim, len = n * headDim;
                System.arraycopy(f64 ? keys.d : keys.f, from, f64 ? kd : kf, to, len);
                System.arraycopy(f64 ? values.d : values.f, from, f64 ? vd : vf, to, len);
            }
        }
        this.length = (int) length;
    }

    /**
     * Appends {@code tokens} tokens of random keys and values (N(0, 0.25) each) without computing
     * anything: a context of that length for benchmarks, not the cache of any real text.
     */
    public void skip(int tokens, java.util.SplittableRandom rng) {
        boolean wide = Boolean.TRUE.equals(f64);
        int block = Math.min(Math.max(tokens, 1), 4096);
        Tensor k = Tensor.randn(rng, 0.5, batch, block, kvHeads, headDim), v = Tensor.randn(rng, 0.5, batch, block, kvHeads, headDim);
        if (wide) {
            k = k.toF64();
            v = v.toF64();
        }
        for (int done = 0; done < tokens; done += block) {
            int n = Math.min(block, tokens - done);
            copyIn(k, v, n, block);
        }
    }

    private int elementBytes() {
        return Boolean.TRUE.equals(f64) ? 8 : 4;
    }

    /** Slots needed for a context of {@code tokens}: all of them, or at most the window. */
    private int limit(long tokens) {
        return (int) Math.min(tokens, window > 0 ? window : Integer.MAX_VALUE);
    }

    /** Offset of (b, kv head g, slot) in the storage. */
    private int off(int b, int g, int slot) {
        return ((b * kvHeads + g) * capacity + slot) * headDim;
    }

    private int slotOf(int position) {
        return window > 0 ? position % window : position;
    }

    /** Makes room for {@code more} further tokens and fixes the precision. */
    private void ensureRoom(int more, boolean wantF64) {
        if (f64 == null) f64 = wantF64;
        else if (f64 != wantF64) throw new IllegalArgumentException("KvCache holds " + (f64 ? "float64" : "float32") + " data");
        int need = limit((long) length + more);
        if (need <= capacity) return;
        int cap = Math.max(Math.max(need, minCapacity), limit(2L * capacity));
        grow(Math.max(cap, limit(16)));
    }

    /** Reallocates to {@code cap} slots, keeping the stored tokens. */
    private void grow(int cap) {
        if ((long) batch * kvHeads * cap * headDim > Integer.MAX_VALUE) throw new IllegalStateException("KV cache too large");
        // With a window the storage only grows while length < window (it never exceeds the window),
        // so slots 0..stored-1 are in order.
        int keep = stored() * headDim, size = batch * kvHeads * cap * headDim;
        Object nk = f64 ? new double[size] : new float[size], nv = f64 ? new double[size] : new float[size];
        Object ok = f64 ? kd : kf, ov = f64 ? vd : vf;
        if (ok != null) {
            for (int bg = 0; bg < batch * kvHeads; bg++) {
                System.arraycopy(ok, bg * capacity * headDim, nk, bg * cap * headDim, keep);
                System.arraycopy(ov, bg * capacity * headDim, nv, bg * cap * headDim, keep);
            }
        }
        if (f64) {
            kd = (double[]) nk;
            vd = (double[]) nv;
        } else {
            kf = (float[]) nk;
            vf = (float[]) nv;
        }
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
        copyIn(k, v, T, T);
    }

    /** Appends the first T of the {@code stride} tokens laid out [B,stride,HKV,D] in k, v. */
    private void copyIn(Tensor k, Tensor v, int T, int stride) {
        int first = window > 0 ? Math.max(0, T - window) : 0;   // older tokens would be overwritten anyway
        ensureRoom(T - first, k.isF64());
        for (int t = first; t < T; t++) {
            int slot = slotOf(length + t);
            for (int b = 0; b < batch; b++) {
                for (int g = 0; g < kvHeads; g++) {
                    int src = ((b * stride + t) * kvHeads + g) * headDim, dst = off(b, g, slot);
                    if (f64) {
                        System.arraycopy(k.d, src, kd, dst, headDim);
                        System.arraycopy(v.d, src, vd, dst, headDim);
                    } else {
                        System.arraycopy(k.f, src, kf, dst, headDim);
                        System.arraycopy(v.f, src, vf, dst, headDim);
                    }
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
            return;
        }
        if (work == null || groups != G) {
            groups = G;
            accAt = G * BLOCK;
            maxAt = accAt + G * headDim;
            sumAt = maxAt + G;
            taskStride = sumAt + G;
            work = new float[batch * kvHeads * MAX_SPLITS * taskStride];
        }
        splitLen = Math.max(SPLIT_TOKENS, (n + MAX_SPLITS - 1) / MAX_SPLITS);
        splits = (n + splitLen - 1) / splitLen;
        attended = n;
        this.q = q.f;
        this.scale = (float) scale;
        int tasks = batch * kvHeads * splits;
        if ((long) batch * HQ * n * headDim < PARALLEL_WORK) {
            for (int t = 0; t < tasks; t++) attendRange(t);
        } else {
            Parallel.forDecode(tasks, attendRange);
        }
        this.q = null;
        merge(HQ, o.f);
    }

    /**
     * Task t: one (sequence, kv head) over one range of its slots, for the G query heads of the
     * group together (each key and value is read once for all of them). Keys go by blocks: their
     * scores, the running max (rescaling what was summed so far when it rises), then the weighted
     * values. Slot order does not matter to softmax, so the ring needs no unrolling.
     */
    private void attendRange(int t) {
        int G = groups, D = headDim, bg = t / splits, b = bg / kvHeads, g = bg % kvHeads;
        int from = (t % splits) * splitLen, to = Math.min(attended, from + splitLen);
        int scores = t * taskStride, acc = scores + accAt, max = scores + maxAt, sum = scores + sumAt;
        int qOff = (b * kvHeads + g) * G * D, base = off(b, g, 0);
        Arrays.fill(work, acc, acc + G * D, 0f);
        Arrays.fill(work, max, max + G, Float.NEGATIVE_INFINITY);
        Arrays.fill(work, sum, sum + G, 0f);
        for (int j = from; j < to; j += BLOCK) {
            int len = Math.min(BLOCK, to - j);
            MatVec.rows(q, qOff, G, D, kf, base + j * D, len, work, scores, BLOCK);
            for (int r = 0; r < G; r++) {
                int row = scores + r * BLOCK;
                VectorOps.scale(scale, work, row, len);
                float old = work[max + r], now = Math.max(old, VectorOps.max(work, row, len));
                if (now > old && work[sum + r] != 0f) {
                    float shrink = (float) Math.exp(old - now);
                    work[sum + r] *= shrink;
                    VectorOps.scale(shrink, work, acc + r * D, D);
                }
                work[max + r] = now;
                work[sum + r] += VectorOps.expShifted(work, row, now, work, row, len);
            }
            for (int i = 0; i < len; i++) {
                int vo = base + (j + i) * D;
                for (int r = 0; r < G; r++) VectorOps.axpy(work[scores + r * BLOCK + i], vf, vo, work, acc + r * D, D);
            }
        }
    }

    /** o per query head: its ranges' sums rescaled to the overall max, in range order, then normalised. */
    private void merge(int HQ, float[] o) {
        int G = groups, D = headDim;
        for (int bh = 0; bh < batch * HQ; bh++) {
            // bh = b·HQ + h with HQ = HKV·G: the group's first task is (b·HKV + h / G)·splits = bh / G · splits
            int r = bh % G, first = bh / G * splits, oo = bh * D;
            float top = Float.NEGATIVE_INFINITY;
            for (int s = 0; s < splits; s++) top = Math.max(top, work[(first + s) * taskStride + maxAt + r]);
            float total = 0;
            Arrays.fill(o, oo, oo + D, 0f);
            for (int s = 0; s < splits; s++) {
                int w = (first + s) * taskStride;
                float weight = (float) Math.exp(work[w + maxAt + r] - top);
                total += weight * work[w + sumAt + r];
                VectorOps.axpy(weight, work, w + accAt + r * D, o, oo, D);
            }
            VectorOps.scale(1f / total, o, oo, D);
        }
    }

    private void attendF64(int bh, int HQ, int G, int n, double[] q, double scale, double[] o) {
        int b = bh / HQ, h = bh % HQ, g = h / G, D = headDim;
        int qo = bh * D;
        double[] s = new double[n];
        double m = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) {
            int ko = off(b, g, j);
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
        Arrays.fill(o, qo, qo + D, 0.0);
        for (int j = 0; j < n; j++) {
            int vo = off(b, g, j);
            double p = s[j] / l;
            for (int c = 0; c < D; c++) o[qo + c] += p * vd[vo + c];
        }
    }
}
