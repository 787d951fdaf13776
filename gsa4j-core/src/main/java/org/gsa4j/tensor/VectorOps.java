package org.gsa4j.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Plain Vector-API kernels on {@code float[]} slices (array, offset, length), each with a scalar
 * tail, for the forward/backward code of the other tiers.
 *
 * <p>Precision: the reductions ({@link #dot}, {@link #sum}, {@link #sumOfSquares}) keep one float
 * partial sum per vector lane (16 on AVX-512) and add the lanes at the end, which is already more
 * accurate than a sequential float loop (error grows with n/lanes rather than n). Where a result
 * feeds a long accumulation or a normalisation over very long rows, use the {@code ...Double}
 * variants, which accumulate in double (at half the vector width).
 *
 * <p>Element-wise kernels allow {@code out} to alias an input at the same offset.
 * Transcendentals use {@link VectorOperators#EXP} (within about 1 ulp of {@link Math#exp}).
 */
public final class VectorOps {
    private VectorOps() {}

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final FloatVector ONE = FloatVector.broadcast(S, 1f);

    // ---------------------------------------------------------------- reductions

    /** Σ x[i]·y[i]. */
    public static float dot(float[] x, int xOff, float[] y, int yOff, int n) {
        FloatVector acc0 = FloatVector.zero(S), acc1 = FloatVector.zero(S);
        int i = 0;
        for (; i <= n - 2 * L; i += 2 * L) {
            acc0 = FloatVector.fromArray(S, x, xOff + i).fma(FloatVector.fromArray(S, y, yOff + i), acc0);
            acc1 = FloatVector.fromArray(S, x, xOff + i + L).fma(FloatVector.fromArray(S, y, yOff + i + L), acc1);
        }
        for (; i <= n - L; i += L) {
            acc0 = FloatVector.fromArray(S, x, xOff + i).fma(FloatVector.fromArray(S, y, yOff + i), acc0);
        }
        float s = sumLanes(acc0.add(acc1));
        for (; i < n; i++) s += x[xOff + i] * y[yOff + i];
        return s;
    }

    /** Σ x[i]. */
    public static float sum(float[] x, int off, int n) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (; i <= n - L; i += L) acc = acc.add(FloatVector.fromArray(S, x, off + i));
        float s = sumLanes(acc);
        for (; i < n; i++) s += x[off + i];
        return s;
    }

    /** Σ x[i]² (float lane accumulators). */
    public static float sumOfSquares(float[] x, int off, int n) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (; i <= n - L; i += L) {
            FloatVector v = FloatVector.fromArray(S, x, off + i);
            acc = v.fma(v, acc);
        }
        float s = sumLanes(acc);
        for (; i < n; i++) s += x[off + i] * x[off + i];
        return s;
    }

    /** Σ x[i]·y[i] accumulated in double. */
    public static double dotDouble(float[] x, int xOff, float[] y, int yOff, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) s += (double) x[xOff + i] * y[yOff + i];
        return s;
    }

    /** Σ x[i]² accumulated in double. */
    public static double sumOfSquaresDouble(float[] x, int off, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            double v = x[off + i];
            s += v * v;
        }
        return s;
    }

    /** max x[i]; −∞ when n == 0. NaN inputs give an unspecified result. */
    public static float max(float[] x, int off, int n) {
        float m = Float.NEGATIVE_INFINITY;
        int i = 0;
        if (n >= L) {
            FloatVector acc = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
            for (; i <= n - L; i += L) acc = acc.max(FloatVector.fromArray(S, x, off + i));
            m = acc.reduceLanes(VectorOperators.MAX);
        }
        for (; i < n; i++) m = Math.max(m, x[off + i]);
        return m;
    }

    // ---------------------------------------------------------------- BLAS-1

    /** y += a·x. */
    public static void axpy(float a, float[] x, int xOff, float[] y, int yOff, int n) {
        int i = 0;
        FloatVector va = FloatVector.broadcast(S, a);
        for (; i <= n - L; i += L) {
            FloatVector.fromArray(S, x, xOff + i).fma(va, FloatVector.fromArray(S, y, yOff + i))
                    .intoArray(y, yOff + i);
        }
        for (; i < n; i++) y[yOff + i] = Math.fma(a, x[xOff + i], y[yOff + i]);
    }

    /** x *= a, in place. */
    public static void scale(float a, float[] x, int off, int n) {
        int i = 0;
        for (; i <= n - L; i += L) FloatVector.fromArray(S, x, off + i).mul(a).intoArray(x, off + i);
        for (; i < n; i++) x[off + i] *= a;
    }

    /** out = a + b, element-wise. */
    public static void add(float[] a, int aOff, float[] b, int bOff, float[] out, int outOff, int n) {
        int i = 0;
        for (; i <= n - L; i += L) {
            FloatVector.fromArray(S, a, aOff + i).add(FloatVector.fromArray(S, b, bOff + i)).intoArray(out, outOff + i);
        }
        for (; i < n; i++) out[outOff + i] = a[aOff + i] + b[bOff + i];
    }

    /** out = a · b, element-wise. */
    public static void mul(float[] a, int aOff, float[] b, int bOff, float[] out, int outOff, int n) {
        int i = 0;
        for (; i <= n - L; i += L) {
            FloatVector.fromArray(S, a, aOff + i).mul(FloatVector.fromArray(S, b, bOff + i)).intoArray(out, outOff + i);
        }
        for (; i < n; i++) out[outOff + i] = a[aOff + i] * b[bOff + i];
    }

    /**
     * The sum of a vector's lanes, added in lane order. Not {@code reduceLanes(ADD)}: its order is
     * unspecified and differs between the Java fallback and the C2 intrinsic, so a result would depend
     * on whether the caller had been JIT-compiled yet (RELIABILITY.md, determinism).
     */
    public static float sumLanes(FloatVector v) {
        float[] lanes = v.toArray();
        float s = 0;
        for (float x : lanes) s += x;
        return s;
    }

    // ---------------------------------------------------------------- activations

    /** out = σ(x) = 1 / (1 + e^(−x)). */
    public static void sigmoid(float[] x, int xOff, float[] out, int outOff, int n) {
        // Scalar Math.exp, not lanewise(EXP): the Vector API's EXP gives different bits before and after
        // C2 compiles it (Java fallback vs. intrinsic stub), so results would depend on JIT timing (RELIABILITY.md).
        for (int i = 0; i < n; i++) out[outOff + i] = sigmoid(x[xOff + i]);
    }

    /** out = x·σ(x) (SiLU / swish). */
    public static void silu(float[] x, int xOff, float[] out, int outOff, int n) {
        // Scalar Math.exp, not lanewise(EXP): the Vector API's EXP gives different bits before and after
        // C2 compiles it (Java fallback vs. intrinsic stub), so results would depend on JIT timing (RELIABILITY.md).
        for (int i = 0; i < n; i++) {
            float v = x[xOff + i];
            out[outOff + i] = v / (1f + (float) Math.exp(-v));
        }
    }

    /** x = e^x, in place. */
    public static void expInPlace(float[] x, int off, int n) {
        // Scalar Math.exp, not lanewise(EXP): the Vector API's EXP gives different bits before and after
        // C2 compiles it (Java fallback vs. intrinsic stub), so results would depend on JIT timing (RELIABILITY.md).
        for (int i = 0; i < n; i++) x[off + i] = (float) Math.exp(x[off + i]);
    }

    /**
     * In-place softmax of one row: x = e^(x − max x) / Σ e^(x − max x). An empty row is left as is;
     * a row of all −∞ becomes NaN (as in PyTorch).
     */
    public static void softmax(float[] x, int off, int n) {
        softmax(x, off, x, off, n);
    }

    /** out = softmax(x) over one row of n elements (max-subtracted). */
    public static void softmax(float[] x, int xOff, float[] out, int outOff, int n) {
        if (n == 0) return;
        float m = max(x, xOff, n);
        // Scalar Math.exp, not lanewise(EXP): the Vector API's EXP gives different bits before and after
        // C2 compiles it (Java fallback vs. intrinsic stub), so results would depend on JIT timing (RELIABILITY.md).
        float s = 0;
        for (int i = 0; i < n; i++) {
            float e = (float) Math.exp(x[xOff + i] - m);
            out[outOff + i] = e;
            s += e;
        }
        scale(1f / s, out, outOff, n);
    }

    /** Scalar σ(x). */
    public static float sigmoid(float x) {
        return (float) (1.0 / (1.0 + Math.exp(-x)));
    }
}
