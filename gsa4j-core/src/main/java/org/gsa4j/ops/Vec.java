package org.gsa4j.ops;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The element-wise float32 loops of the operators (decay scaling, exp, softmax), written with the
 * Vector API because plain loops are not auto-vectorised well here. Every method works on
 * {@code n} consecutive elements starting at the given offsets.
 */
final class Vec {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    private Vec() {}

    /** x = exp(x). */
    static void expInPlace(float[] x, int off, int n) {
        // Scalar Math.exp, not lanewise(EXP): the Vector API's EXP gives different bits before and after
        // C2 compiles it (Java fallback vs. intrinsic stub), so results would depend on JIT timing (RELIABILITY.md).
        for (int i = 0; i < n; i++) x[off + i] = (float) Math.exp(x[off + i]);
    }

    /**
     * dst = exp(b[hi..] − b[lo..]). The difference is formed in double: with strong decay |b| reaches
     * ~200, where a float32 b would already carry a 1e-5 relative error into every decay factor.
     */
    static void expOfDifference(float[] dst, int dOff, double[] b, int hi, int lo, int n) {
        for (int i = 0; i < n; i++) dst[dOff + i] = (float) (b[hi + i] - b[lo + i]);
        expInPlace(dst, dOff, n);
    }

    /** dst = x ⊙ y (dst may alias x or y). */
    static void mul(float[] dst, int dOff, float[] x, int xOff, float[] y, int yOff, int n) {
        int i = 0;
        for (int upper = F.loopBound(n); i < upper; i += F.length()) {
            FloatVector.fromArray(F, x, xOff + i).mul(FloatVector.fromArray(F, y, yOff + i)).intoArray(dst, dOff + i);
        }
        for (; i < n; i++) dst[dOff + i] = x[xOff + i] * y[yOff + i];
    }

    /** dst += x ⊙ y. */
    static void mulAdd(float[] dst, int dOff, float[] x, int xOff, float[] y, int yOff, int n) {
        int i = 0;
        for (int upper = F.loopBound(n); i < upper; i += F.length()) {
            FloatVector acc = FloatVector.fromArray(F, dst, dOff + i);
            FloatVector.fromArray(F, x, xOff + i).fma(FloatVector.fromArray(F, y, yOff + i), acc).intoArray(dst, dOff + i);
        }
        for (; i < n; i++) dst[dOff + i] += x[xOff + i] * y[yOff + i];
    }

    /** dst += w · x ⊙ y. */
    static void scaledMulAdd(float[] dst, int dOff, float w, float[] x, int xOff, float[] y, int yOff, int n) {
        int i = 0;
        for (int upper = F.loopBound(n); i < upper; i += F.length()) {
            FloatVector acc = FloatVector.fromArray(F, dst, dOff + i);
            FloatVector.fromArray(F, x, xOff + i).mul(w).fma(FloatVector.fromArray(F, y, yOff + i), acc).intoArray(dst, dOff + i);
        }
        for (; i < n; i++) dst[dOff + i] += w * x[xOff + i] * y[yOff + i];
    }

    /** dst += w · x. */
    static void axpy(float[] dst, int dOff, float w, float[] x, int xOff, int n) {
        int i = 0;
        for (int upper = F.loopBound(n); i < upper; i += F.length()) {
            FloatVector acc = FloatVector.fromArray(F, dst, dOff + i);
            FloatVector.fromArray(F, x, xOff + i).fma(FloatVector.broadcast(F, w), acc).intoArray(dst, dOff + i);
        }
        for (; i < n; i++) dst[dOff + i] += w * x[xOff + i];
    }

    /** x = w · x. */
    static void scale(float[] x, int off, float w, int n) {
        int i = 0;
        for (int upper = F.loopBound(n); i < upper; i += F.length()) {
            FloatVector.fromArray(F, x, off + i).mul(w).intoArray(x, off + i);
        }
        for (; i < n; i++) x[off + i] *= w;
    }

    /** Σ x ⊙ y. */
    static float dot(float[] x, int xOff, float[] y, int yOff, int n) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (int upper = F.loopBound(n); i < upper; i += F.length()) {
            acc = FloatVector.fromArray(F, x, xOff + i).fma(FloatVector.fromArray(F, y, yOff + i), acc);
        }
        float sum = org.gsa4j.tensor.VectorOps.sumLanes(acc);
        for (; i < n; i++) sum += x[xOff + i] * y[yOff + i];
        return sum;
    }

    /** Σ x ⊙ y ⊙ z. */
    static float dot3(float[] x, int xOff, float[] y, int yOff, float[] z, int zOff, int n) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (int upper = F.loopBound(n); i < upper; i += F.length()) {
            FloatVector xy = FloatVector.fromArray(F, x, xOff + i).mul(FloatVector.fromArray(F, y, yOff + i));
            acc = xy.fma(FloatVector.fromArray(F, z, zOff + i), acc);
        }
        float sum = org.gsa4j.tensor.VectorOps.sumLanes(acc);
        for (; i < n; i++) sum += x[xOff + i] * y[yOff + i] * z[zOff + i];
        return sum;
    }

    /** x = softmax(x), max-subtracted so that exp never overflows. */
    static void softmaxInPlace(float[] x, int off, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, x[off + i]);
        // Scalar Math.exp, not lanewise(EXP): the Vector API's EXP gives different bits before and after
        // C2 compiles it (Java fallback vs. intrinsic stub), so results would depend on JIT timing (RELIABILITY.md).
        float sum = 0;
        for (int i = 0; i < n; i++) {
            x[off + i] = (float) Math.exp(x[off + i] - max);
            sum += x[off + i];
        }
        scale(x, off, 1f / sum, n);
    }

    /** dp = p ⊙ (dp − ⟨p, dp⟩): the softmax backward, overwriting the gradient w.r.t. p by that w.r.t. the logits. */
    static void softmaxBackwardInPlace(float[] p, float[] dp, int off, int n) {
        float pDotDp = dot(p, off, dp, off, n);
        int i = 0;
        for (int upper = F.loopBound(n); i < upper; i += F.length()) {
            FloatVector.fromArray(F, dp, off + i).sub(pDotDp).mul(FloatVector.fromArray(F, p, off + i)).intoArray(dp, off + i);
        }
        for (; i < n; i++) dp[off + i] = p[off + i] * (dp[off + i] - pDotDp);
    }
}
