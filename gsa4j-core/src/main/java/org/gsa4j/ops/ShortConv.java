package org.gsa4j.ops;

import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.tensor.Tensor;

/**
 * Causal depthwise convolution over time, per channel c with kernel width W:
 * {@code y[t,c] = Σ_{i<W} w[c,i] · x[t−(W−1)+i, c]}, where inputs before the start come from a
 * cache of the previous W−1 inputs (decoding) or are zero.
 */
public final class ShortConv {
    private ShortConv() {}

    /** The convolution on a tape from zeros, x [B,T,C], w [C,1,W]; no bias, no activation. */
    public static Var apply(Tape tape, Var x, Var w) {
        Tensor y = forward(x.value, w.value, null);
        Var out = tape.result(y, x, w);
        tape.record(out, () -> {
            Tensor g = out.grad();
            if (g == null) return;
            backward(x.value, w.value, g, x.requiresGrad ? x.gradBuffer() : null, w.requiresGrad ? w.gradBuffer() : null);
        });
        return out;
    }

    /**
     * One token of the convolution in place, the decode step: the row x[xOff, xOff + C) becomes
     * {@code Σ_i w[c,i]·(cache…, x)}; the cache [W−1, C] at {@code cacheOff} shifts by one and takes x.
     */
    public static void step(float[] x, int xOff, float[] w, float[] cache, int cacheOff, int channels, int width) {
        int keep = width - 1;
        for (int c = 0; c < channels; c++) {
            float xv = x[xOff + c];
            double acc = 0;
            for (int i = 0; i < keep; i++) acc += w[c * width + i] * (double) cache[cacheOff + i * channels + c];
            acc += w[c * width + keep] * (double) xv;
            for (int i = 0; i + 1 < keep; i++) cache[cacheOff + i * channels + c] = cache[cacheOff + (i + 1) * channels + c];
            if (keep > 0) cache[cacheOff + (keep - 1) * channels + c] = xv;
            x[xOff + c] = (float) acc;
        }
    }

    /**
     * x [B,T,C], w [C,1,W]; cache [B,W−1,C] holding the W−1 inputs before this segment (oldest
     * first), or null for zeros. Returns y [B,T,C].
     */
    public static Tensor forward(Tensor x, Tensor w, Tensor cache) {
        int b = x.dim(0), t = x.dim(1), c = x.dim(2), width = w.dim(2);
        Tensor y = Tensor.zerosLike(x);
        for (int bi = 0; bi < b; bi++)
            for (int ti = 0; ti < t; ti++)
                for (int ci = 0; ci < c; ci++) {
                    double acc = 0;
                    for (int i = 0; i < width; i++) {
                        int src = ti - (width - 1) + i;
                        double xv;
                        if (src >= 0) xv = x.get((bi * t + src) * c + ci);
                        else if (cache != null) xv = cache.get((bi * (width - 1) + (width - 1 + src)) * c + ci);
                        else continue;
                        acc += w.get(ci * width + i) * xv;
                    }
                    y.set((bi * t + ti) * c + ci, acc);
                }
        return y;
    }

    /** dx += ..., dw += ... for a segment that started from zeros (training). */
    public static void backward(Tensor x, Tensor w, Tensor dy, Tensor dx, Tensor dw) {
        int b = x.dim(0), t = x.dim(1), c = x.dim(2), width = w.dim(2);
        for (int bi = 0; bi < b; bi++)
            for (int ti = 0; ti < t; ti++)
                for (int ci = 0; ci < c; ci++) {
                    double g = dy.get((bi * t + ti) * c + ci);
                    for (int i = 0; i < width; i++) {
                        int src = ti - (width - 1) + i;
                        if (src < 0) continue;
                        int xi = (bi * t + src) * c + ci;
                        if (dx != null) dx.set(xi, dx.get(xi) + g * w.get(ci * width + i));
                        if (dw != null) dw.set(ci * width + i, dw.get(ci * width + i) + g * x.get(xi));
                    }
                }
    }

    /**
     * The cache after a segment: the last W−1 inputs (from the old cache where the segment is
     * shorter), [B,W−1,C].
     */
    public static Tensor nextCache(Tensor x, Tensor cache, int width) {
        int b = x.dim(0), t = x.dim(1), c = x.dim(2), keep = width - 1;
        Tensor next = Tensor.zerosLike(x, b, keep, c);
        for (int bi = 0; bi < b; bi++)
            for (int j = 0; j < keep; j++) {
                int src = t - keep + j; // position in this segment; negative = from the old cache
                for (int ci = 0; ci < c; ci++) {
                    double v;
                    if (src >= 0) v = x.get((bi * t + src) * c + ci);
                    else v = cache == null ? 0 : cache.get((bi * keep + keep + src) * c + ci);
                    next.set((bi * keep + j) * c + ci, v);
                }
            }
        return next;
    }
}
