package org.gsa4j.tensor;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
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
 * Transcendentals use {@link #exp(FloatVector)}, built from IEEE add/mul/fma only, so that compiled
 * and interpreted code give the same bits (RELIABILITY.md, determinism).
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

    private static final VectorSpecies<Double> DS = DoubleVector.SPECIES_PREFERRED;
    /** Floats that widen into one double vector. */
    private static final VectorSpecies<Float> HALF = VectorSpecies.of(float.class, VectorShape.forBitSize(Math.max(64, DS.vectorBitSize() / 2)));
    private static final int DL = DS.length();

    /** Σ x[i]·y[i] accumulated in double (products exact in double, one double lane sum per vector lane). */
    public static double dotDouble(float[] x, int xOff, float[] y, int yOff, int n) {
        int i = 0;
        double s = 0;
        if (DL > 1 && HALF.length() == DL) {
            DoubleVector acc = DoubleVector.zero(DS);
            for (; i <= n - DL; i += DL) {
                DoubleVector a = (DoubleVector) FloatVector.fromArray(HALF, x, xOff + i).convertShape(VectorOperators.F2D, DS, 0);
                DoubleVector b = (DoubleVector) FloatVector.fromArray(HALF, y, yOff + i).convertShape(VectorOperators.F2D, DS, 0);
                acc = a.fma(b, acc);
            }
            s = sumLanes(acc);
        }
        for (; i < n; i++) s += (double) x[xOff + i] * y[yOff + i];
        return s;
    }

    /** Σ x[i]² accumulated in double. */
    public static double sumOfSquaresDouble(float[] x, int off, int n) {
        return dotDouble(x, off, x, off, n);
    }

    /** out = (x·a) ⊙ w. */
    public static void scaledMul(float[] x, int xOff, float a, float[] w, int wOff, float[] out, int outOff, int n) {
        int i = 0;
        for (; i <= n - L; i += L) {
            FloatVector.fromArray(S, x, xOff + i).mul(a).mul(FloatVector.fromArray(S, w, wOff + i)).intoArray(out, outOff + i);
        }
        for (; i < n; i++) out[outOff + i] = x[xOff + i] * a * w[wOff + i];
    }

    /** RMSNorm's dx: out += rs·(g − k·x). */
    public static void rmsNormDx(float[] g, int gOff, float[] x, int xOff, float rs, float k, float[] out, int outOff, int n) {
        int i = 0;
        for (; i <= n - L; i += L) {
            FloatVector gv = FloatVector.fromArray(S, g, gOff + i), xv = FloatVector.fromArray(S, x, xOff + i);
            FloatVector t = gv.sub(xv.mul(k)).mul(rs);
            FloatVector.fromArray(S, out, outOff + i).add(t).intoArray(out, outOff + i);
        }
        for (; i < n; i++) out[outOff + i] += rs * (g[gOff + i] - x[xOff + i] * k);
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

    /** out = a·x (out may alias x at the same offset). */
    public static void scaleTo(float a, float[] x, int xOff, float[] out, int outOff, int n) {
        int i = 0;
        for (; i <= n - L; i += L) FloatVector.fromArray(S, x, xOff + i).mul(a).intoArray(out, outOff + i);
        for (; i < n; i++) out[outOff + i] = a * x[xOff + i];
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
        if (v.species() == S) {
            // a fixed tree of lane-wise adds: intrinsic in compiled code, the same order in every tier
            for (VectorShuffle<Float> fold : FOLD) v = v.add(v.rearrange(fold));
            return v.lane(0);
        }
        float s = 0;
        for (int i = 0; i < v.length(); i++) s += v.lane(i);
        return s;
    }

    @SuppressWarnings("unchecked")
    private static final VectorShuffle<Float>[] FOLD = new VectorShuffle[Integer.numberOfTrailingZeros(L)];

    static {
        for (int i = 0, half = L / 2; half >= 1; i++, half /= 2) {
            int h = half;
            FOLD[i] = VectorShuffle.fromOp(S, l -> l ^ h);
        }
    }

    /** {@link #sumLanes(FloatVector)} for doubles. */
    public static double sumLanes(DoubleVector v) {
        double s = 0;
        for (int i = 0; i < v.length(); i++) s += v.lane(i);
        return s;
    }

    private static final float LOG2E = 1.44269504f;
    private static final float LN2_HI = 0.693359375f;       // ln 2 split so that n·LN2_HI is exact
    private static final float LN2_LO = -2.12194440e-4f;
    private static final float ROUND = 12582912f;           // 1.5·2^23: x + ROUND rounds x to an integer
    private static final float[] TAYLOR = {1f / 720, 1f / 120, 1f / 24, 1f / 6, 0.5f, 1f, 1f};

    /**
     * e^x lane-wise, within about 1 ulp of {@link Math#exp}: {@code e^x = 2^n · e^r} with
     * {@code n = round(x·log2 e)}, {@code |r| ≤ ln2/2}, e^r by its degree-7 Taylor polynomial, and 2^n
     * applied as two normal halves so that overflow gives +∞ and underflow rounds into the subnormals.
     * Not {@code lanewise(EXP)}: that differs in the last bit between the Java fallback and the C2
     * intrinsic, which made results depend on JIT timing; this uses only exactly-rounded operations.
     */
    public static FloatVector exp(FloatVector x) {
        FloatVector xc = x.max(-104f).min(89f);
        FloatVector n = xc.fma(x.broadcast(LOG2E), x.broadcast(ROUND)).sub(ROUND);
        FloatVector r = n.fma(x.broadcast(-LN2_HI), xc);
        r = n.fma(x.broadcast(-LN2_LO), r);
        FloatVector p = x.broadcast(1f / 5040);
        for (float c : TAYLOR) p = p.fma(r, x.broadcast(c));
        IntVector ni = (IntVector) n.convert(VectorOperators.F2I, 0);
        IntVector half = ni.lanewise(VectorOperators.ASHR, 1);
        FloatVector s1 = half.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector s2 = ni.sub(half).add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector y = p.mul(s1).mul(s2);
        return y.blend(0f, x.compare(VectorOperators.LT, -104f));
    }

    // ---------------------------------------------------------------- the chunk kernels' loops

    /**
     * out = exp(b[hi..] − b[lo..]). The difference is formed in double: with strong decay |b| reaches
     * ~200, where a float32 b would already carry a 1e-5 relative error into every decay factor.
     */
    public static void expOfDifference(double[] b, int hi, int lo, float[] out, int outOff, int n) {
        int i = 0;
        if (HALF.length() == DL) {
            for (int upper = DS.loopBound(n); i < upper; i += DL) {
                DoubleVector diff = DoubleVector.fromArray(DS, b, hi + i).sub(DoubleVector.fromArray(DS, b, lo + i));
                ((FloatVector) diff.convertShape(VectorOperators.D2F, HALF, 0)).intoArray(out, outOff + i);
            }
        }
        for (int j = i; j < n; j++) out[outOff + j] = (float) (b[hi + j] - b[lo + j]);
        expInPlace(out, outOff, n);
    }

    /** out = src + (double) g, element-wise (one step of a running double sum of float gates). */
    public static void addWidened(double[] src, int sOff, float[] g, int gOff, double[] out, int outOff, int n) {
        int i = 0;
        if (HALF.length() == DL) {
            for (int upper = DS.loopBound(n); i < upper; i += DL) {
                DoubleVector gd = (DoubleVector) FloatVector.fromArray(HALF, g, gOff + i).convertShape(VectorOperators.F2D, DS, 0);
                DoubleVector.fromArray(DS, src, sOff + i).add(gd).intoArray(out, outOff + i);
            }
        }
        for (; i < n; i++) out[outOff + i] = src[sOff + i] + g[gOff + i];
    }

    /** acc += x ⊙ y. */
    public static void mulAdd(float[] x, int xOff, float[] y, int yOff, float[] acc, int accOff, int n) {
        int i = 0;
        for (int upper = S.loopBound(n); i < upper; i += L) {
            FloatVector a = FloatVector.fromArray(S, acc, accOff + i);
            FloatVector.fromArray(S, x, xOff + i).fma(FloatVector.fromArray(S, y, yOff + i), a).intoArray(acc, accOff + i);
        }
        for (; i < n; i++) acc[accOff + i] += x[xOff + i] * y[yOff + i];
    }

    /** acc += w · x ⊙ y. */
    public static void scaledMulAdd(float w, float[] x, int xOff, float[] y, int yOff, float[] acc, int accOff, int n) {
        int i = 0;
        for (int upper = S.loopBound(n); i < upper; i += L) {
            FloatVector a = FloatVector.fromArray(S, acc, accOff + i);
            FloatVector.fromArray(S, x, xOff + i).mul(w).fma(FloatVector.fromArray(S, y, yOff + i), a).intoArray(acc, accOff + i);
        }
        for (; i < n; i++) acc[accOff + i] += w * x[xOff + i] * y[yOff + i];
    }

    /** Σ x ⊙ y ⊙ z. */
    public static float dot3(float[] x, int xOff, float[] y, int yOff, float[] z, int zOff, int n) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0;
        for (int upper = S.loopBound(n); i < upper; i += L) {
            FloatVector xy = FloatVector.fromArray(S, x, xOff + i).mul(FloatVector.fromArray(S, y, yOff + i));
            acc = xy.fma(FloatVector.fromArray(S, z, zOff + i), acc);
        }
        float sum = sumLanes(acc);
        for (; i < n; i++) sum += x[xOff + i] * y[yOff + i] * z[zOff + i];
        return sum;
    }

    /**
     * dp = p ⊙ (dp − ⟨p, dp⟩): the backward of {@link #softmax}, overwriting the gradient with respect
     * to p by the gradient with respect to the logits.
     */
    public static void softmaxBackward(float[] p, float[] dp, int off, int n) {
        float pDotDp = dot(p, off, dp, off, n);
        int i = 0;
        for (int upper = S.loopBound(n); i < upper; i += L) {
            FloatVector.fromArray(S, dp, off + i).sub(pDotDp).mul(FloatVector.fromArray(S, p, off + i)).intoArray(dp, off + i);
        }
        for (; i < n; i++) dp[off + i] = p[off + i] * (dp[off + i] - pDotDp);
    }

    // ---------------------------------------------------------------- activations

    /** out = σ(x) = 1 / (1 + e^(−x)). */
    public static void sigmoid(float[] x, int xOff, float[] out, int outOff, int n) {
        int i = 0;
        for (; i <= n - L; i += L) ONE.div(exp(FloatVector.fromArray(S, x, xOff + i).neg()).add(1f)).intoArray(out, outOff + i);
        for (; i < n; i++) out[outOff + i] = sigmoid(x[xOff + i]);
    }

    /** out = x·σ(x) (SiLU / swish). */
    public static void silu(float[] x, int xOff, float[] out, int outOff, int n) {
        int i = 0;
        for (; i <= n - L; i += L) {
            FloatVector v = FloatVector.fromArray(S, x, xOff + i);
            v.div(exp(v.neg()).add(1f)).intoArray(out, outOff + i);
        }
        for (; i < n; i++) {
            float v = x[xOff + i];
            out[outOff + i] = v / (1f + (float) Math.exp(-v));
        }
    }

    /** x = e^x, in place. */
    public static void expInPlace(float[] x, int off, int n) {
        int i = 0;
        for (; i <= n - L; i += L) exp(FloatVector.fromArray(S, x, off + i)).intoArray(x, off + i);
        for (; i < n; i++) x[off + i] = (float) Math.exp(x[off + i]);
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
        float s = expShifted(x, xOff, max(x, xOff, n), out, outOff, n);
        scale(1f / s, out, outOff, n);
    }

    /**
     * out = e^(x − m) over n elements (out may alias x); returns Σ out, added in order (the
     * unnormalised half of a softmax whose running max is m).
     */
    public static float expShifted(float[] x, int xOff, float m, float[] out, int outOff, int n) {
        int i = 0;
        for (; i <= n - L; i += L) exp(FloatVector.fromArray(S, x, xOff + i).sub(m)).intoArray(out, outOff + i);
        for (; i < n; i++) out[outOff + i] = (float) Math.exp(x[xOff + i] - m);
        // A scalar in-order sum: no vector is handed to a helper that C2 might not inline (a boxed
        // vector made the decode steps allocate).
        float s = 0;
        for (i = 0; i < n; i++) s += out[outOff + i];
        return s;
    }

    /** out = x·σ(x) with σ in float lanes, and the backward {@code dx = dy·σ·(1 + x·(1 − σ))} (dx overwritten). */
    public static void siluBackward(float[] x, int xOff, float[] dy, int dyOff, float[] dx, int dxOff, int n) {
        int i = 0;
        for (; i <= n - L; i += L) {
            FloatVector v = FloatVector.fromArray(S, x, xOff + i);
            FloatVector sg = ONE.div(exp(v.neg()).add(1f));
            FloatVector t = ONE.sub(sg).fma(v, ONE);                       // 1 + x(1 − σ)
            FloatVector.fromArray(S, dy, dyOff + i).mul(sg).mul(t).intoArray(dx, dxOff + i);
        }
        for (; i < n; i++) {
            double v = x[xOff + i], sg = 1 / (1 + Math.exp(-v));
            dx[dxOff + i] = (float) (dy[dyOff + i] * sg * (1 + v * (1 - sg)));
        }
    }

    /** out = silu(a) ⊙ b. */
    public static void swiglu(float[] a, int aOff, float[] b, int bOff, float[] out, int outOff, int n) {
        int i = 0;
        for (; i <= n - L; i += L) {
            FloatVector v = FloatVector.fromArray(S, a, aOff + i);
            v.div(exp(v.neg()).add(1f)).mul(FloatVector.fromArray(S, b, bOff + i)).intoArray(out, outOff + i);
        }
        for (; i < n; i++) {
            double x = a[aOff + i];
            out[outOff + i] = (float) (x / (1 + Math.exp(-x)) * b[bOff + i]);
        }
    }

    /** Backward of {@link #swiglu}: da = dy·b·σ(a)(1 + a(1 − σ(a))), db = dy·a·σ(a) (both overwritten). */
    public static void swigluBackward(float[] a, float[] b, float[] dy, float[] da, float[] db, int off, int n) {
        int i = 0;
        for (; i <= n - L; i += L) {
            int o = off + i;
            FloatVector x = FloatVector.fromArray(S, a, o);
            FloatVector g = FloatVector.fromArray(S, dy, o);
            FloatVector sg = ONE.div(exp(x.neg()).add(1f));
            g.mul(x).mul(sg).intoArray(db, o);
            FloatVector t = ONE.sub(sg).fma(x, ONE);
            g.mul(FloatVector.fromArray(S, b, o)).mul(sg).mul(t).intoArray(da, o);
        }
        for (; i < n; i++) {
            int o = off + i;
            double x = a[o], sg = 1 / (1 + Math.exp(-x)), gi = dy[o];
            db[o] = (float) (gi * x * sg);
            da[o] = (float) (gi * b[o] * sg * (1 + x * (1 - sg)));
        }
    }

    /**
     * {@code out = logsigmoid(x)/τ = (min(x,0) − log1p(e^{−|x|}))/τ}. With {@code e = e^{−|x|} ≤ 1},
     * {@code log1p(e) = 2·atanh(t)}, {@code t = e/(2+e) ≤ 1/3}, whose odd series to t¹³ is within
     * float rounding and has no cancellation for tiny e. IEEE add/mul/fma/div only: the same bits
     * compiled or interpreted (the Vector API's own LOG1P is not). out may alias x.
     *
     * <p>e is formed by {@link #expInPlace} over blocks of a thread-local scratch row, not by a
     * vector exp inside this loop: a kernel with an inlined exp, inlined in turn into a large caller
     * (the decode step), exceeded C2's node budget, and the exp left out-of-line boxed every vector.
     */
    public static void logSigmoid(float[] x, int xOff, float[] out, int outOff, int n, float invTau) {
        float[] e = SCRATCH.get();
        for (int b = 0; b < n; b += e.length) {
            int len = Math.min(e.length, n - b), xb = xOff + b, ob = outOff + b;
            int nv = len - len % L, i;
            for (i = 0; i < nv; i += L) FloatVector.fromArray(S, x, xb + i).abs().neg().intoArray(e, i);
            expInPlace(e, 0, nv);
            for (i = 0; i < nv; i += L) {
                FloatVector v = FloatVector.fromArray(S, x, xb + i), ev = FloatVector.fromArray(S, e, i);
                FloatVector t = ev.div(ev.add(2f)), t2 = t.mul(t);
                FloatVector series = t2.fma(1f / 13, 1f / 11).fma(t2, FloatVector.broadcast(S, 1f / 9)).fma(t2, FloatVector.broadcast(S, 1f / 7))
                        .fma(t2, FloatVector.broadcast(S, 1f / 5)).fma(t2, FloatVector.broadcast(S, 1f / 3)).fma(t2, ONE);
                v.min(0f).sub(t.add(t).mul(series)).mul(invTau).intoArray(out, ob + i);
            }
            for (; i < len; i++) {
                double v = x[xb + i];
                out[ob + i] = (float) ((Math.min(v, 0) - Math.log1p(Math.exp(-Math.abs(v)))) * invTau);
            }
        }
    }

    /** Per-thread scratch row of the gate kernels (256 floats). */
    private static final ThreadLocal<float[]> SCRATCH = ThreadLocal.withInitial(() -> new float[256]);

    /** Backward of {@link #logSigmoid}: dx = dy ⊙ (1 − σ(x)) / τ = dy / (1 + e^x) / τ. */
    public static void logSigmoidBackward(float[] x, float[] dy, float[] dx, int off, int n, float invTau) {
        int i = 0;
        for (; i <= n - L; i += L) {
            FloatVector oneMinusSig = ONE.div(exp(FloatVector.fromArray(S, x, off + i)).add(1f));
            FloatVector.fromArray(S, dy, off + i).mul(oneMinusSig).mul(invTau).intoArray(dx, off + i);
        }
        for (; i < n; i++) dx[off + i] = (float) (dy[off + i] / (1 + Math.exp(x[off + i])) * invTau);
    }

    // ---------------------------------------------------------------- the decode step's scalar loops

    // The single-token steps use these: scalar, every intermediate in double, one rounding to float
    // at the end. (The vector kernels above form σ in float lanes: the two agree to an ulp or two,
    // not bit for bit.) All work in place on [off, off + n).

    /** x ← silu(x) = x·σ(x). */
    public static void siluInPlace(float[] x, int off, int n) {
        for (int i = off; i < off + n; i++) x[i] = (float) (x[i] / (1 + Math.exp(-x[i])));
    }

    /** x ← max(x, 0). */
    public static void reluInPlace(float[] x, int off, int n) {
        for (int i = off; i < off + n; i++) x[i] = (float) Math.max(x[i], 0);
    }

    /** gate ← silu(gate) ⊙ up. */
    public static void swigluInPlace(float[] gate, float[] up, int off, int n) {
        for (int i = off; i < off + n; i++) {
            double x = gate[i];
            gate[i] = (float) (x / (1 + Math.exp(-x)) * up[i]);
        }
    }

    /** x ← max(x, min). */
    public static void clampMinInPlace(float[] x, int off, int n, double min) {
        for (int i = off; i < off + n; i++) x[i] = (float) Math.max(x[i], min);
    }

    /** [B, Hkv, D] → [B, Hkv·G, D]: query head i reads kv head i / G (grouped-query attention). */
    public static void repeatHeads(float[] x, int batch, int hkv, int d, int groups, float[] y) {
        for (int b = 0; b < batch; b++)
            for (int h = 0; h < hkv; h++)
                for (int j = 0; j < groups; j++)
                    System.arraycopy(x, (b * hkv + h) * d, y, ((b * hkv + h) * groups + j) * d, d);
    }

    /** y [rows, m] ← y + bias [m] per row. */
    public static void addRowBias(float[] y, float[] bias, int rows, int m) {
        for (int r = 0; r < rows; r++) add(y, r * m, bias, 0, y, r * m, m);
    }

    /** Scalar σ(x). */
    public static float sigmoid(float x) {
        return (float) (1.0 / (1.0 + Math.exp(-x)));
    }
}
