package org.gsa4j.ops;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.gsa4j.tensor.VectorOps;

/**
 * The operators' own float32 Vector-API loops (decay factors from double cumulative sums,
 * three-way products, softmax and its backward). The generic ones (exp, mul, axpy, scale, dot)
 * are argument-order adapters over {@link VectorOps}, the one home of the shared kernels. Every
 * method works on {@code n} consecutive elements starting at the given offsets.
 */
final class Vec {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Double> D = DoubleVector.SPECIES_PREFERRED;
    /** Floats as wide (in lanes) as one double vector. */
    private static final VectorSpecies<Float> FH = VectorSpecies.of(float.class, VectorShape.forBitSize(Math.max(64, D.vectorBitSize() / 2)));

    private Vec() {}

    /** x = exp(x). */
    static void expInPlace(float[] x, int off, int n) {
        VectorOps.expInPlace(x, off, n);
    }

    /**
     * dst = exp(b[hi..] − b[lo..]). The difference is formed in double: with strong decay |b| reaches
     * ~200, where a float32 b would already carry a 1e-5 relative error into every decay factor.
     */
    static void expOfDifference(float[] dst, int dOff, double[] b, int hi, int lo, int n) {
        int i = 0;
        if (FH.length() == D.length()) {
            for (int upper = D.loopBound(n); i < upper; i += D.length()) {
                DoubleVector diff = DoubleVector.fromArray(D, b, hi + i).sub(DoubleVector.fromArray(D, b, lo + i));
                ((FloatVector) diff.convertShape(VectorOperators.D2F, FH, 0)).intoArray(dst, dOff + i);
            }
        }
        for (int j = i; j < n; j++) dst[dOff + j] = (float) (b[hi + j] - b[lo + j]);
        VectorOps.expInPlace(dst, dOff, n);
    }

    /** dst = src + (double) g, element-wise (one step of a running double sum of float gates). */
    static void addWidened(double[] dst, int dOff, double[] src, int sOff, float[] g, int gOff, int n) {
        int i = 0;
        if (FH.length() == D.length()) {
            for (int upper = D.loopBound(n); i < upper; i += D.length()) {
                DoubleVector gd = (DoubleVector) FloatVector.fromArray(FH, g, gOff + i).convertShape(VectorOperators.F2D, D, 0);
                DoubleVector.fromArray(D, src, sOff + i).add(gd).intoArray(dst, dOff + i);
            }
        }
        for (; i < n; i++) dst[dOff + i] = src[sOff + i] + g[gOff + i];
    }

    /** dst = x ⊙ y (dst may alias x or y). */
    static void mul(float[] dst, int dOff, float[] x, int xOff, float[] y, int yOff, int n) {
        VectorOps.mul(x, xOff, y, yOff, dst, dOff, n);
    }

    /** dst += x, element-wise. */
    static void add(float[] dst, int dOff, float[] x, int xOff, int n) {
        VectorOps.add(dst, dOff, x, xOff, dst, dOff, n);
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
        VectorOps.axpy(w, x, xOff, dst, dOff, n);
    }

    /** dst = w · x. */
    static void scaleTo(float[] dst, int dOff, float w, float[] x, int xOff, int n) {
        VectorOps.scaleTo(w, x, xOff, dst, dOff, n);
    }

    /** x = w · x. */
    static void scale(float[] x, int off, float w, int n) {
        VectorOps.scale(w, x, off, n);
    }

    /** Σ x ⊙ y. */
    static float dot(float[] x, int xOff, float[] y, int yOff, int n) {
        return VectorOps.dot(x, xOff, y, yOff, n);
    }

    /** Σ x ⊙ y ⊙ z. */
    static float dot3(float[] x, int xOff, float[] y, int yOff, float[] z, int zOff, int n) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (int upper = F.loopBound(n); i < upper; i += F.length()) {
            FloatVector xy = FloatVector.fromArray(F, x, xOff + i).mul(FloatVector.fromArray(F, y, yOff + i));
            acc = xy.fma(FloatVector.fromArray(F, z, zOff + i), acc);
        }
        float sum = VectorOps.sumLanes(acc);
        for (; i < n; i++) sum += x[xOff + i] * y[yOff + i] * z[zOff + i];
        return sum;
    }

    /** x = softmax(x), max-subtracted so that exp never overflows. */
    static void softmaxInPlace(float[] x, int off, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, x[off + i]);
        scale(x, off, 1f / VectorOps.expShifted(x, off, max, x, off, n), n);
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
