package org.gsa4j.tensor;

import org.gsa4j.ops.gsa.SlotGate;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class VectorOpsTest {
    static final int[] LENGTHS = {0, 1, 15, 16, 17, 100};
    static final int OFF = 3;

    static float[] rand(SplittableRandom rng, int n, double scale) {
        float[] x = new float[n + 2 * OFF];
        for (int i = 0; i < x.length; i++) x[i] = (float) ((rng.nextDouble() * 2 - 1) * scale);
        return x;
    }

    static void assertClose(double expected, double actual, double tol, String what) {
        assertEquals(expected, actual, tol * Math.max(1, Math.abs(expected)), what);
    }

    /** out must match ref inside [OFF, OFF+n) and keep its original values outside. */
    static void assertSlice(float[] ref, float[] out, float[] before, int n, double tol, String what) {
        for (int i = 0; i < out.length; i++) {
            if (i >= OFF && i < OFF + n) assertClose(ref[i - OFF], out[i], tol, what + "[" + (i - OFF) + "] n=" + n);
            else assertEquals(before[i], out[i], 0f, what + " wrote outside slice at " + i + " n=" + n);
        }
    }

    @Test
    void reductionsMatchScalar() {
        SplittableRandom rng = new SplittableRandom(1);
        for (int n : LENGTHS) {
            float[] x = rand(rng, n, 2), y = rand(rng, n, 2);
            double dot = 0, sum = 0, ss = 0, max = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < n; i++) {
                double a = x[OFF + i], b = y[OFF + i];
                dot += a * b;
                sum += a;
                ss += a * a;
                max = Math.max(max, a);
            }
            assertClose(dot, VectorOps.dot(x, OFF, y, OFF, n), 1e-5, "dot n=" + n);
            assertClose(sum, VectorOps.sum(x, OFF, n), 1e-5, "sum n=" + n);
            assertClose(ss, VectorOps.sumOfSquares(x, OFF, n), 1e-5, "ss n=" + n);
            assertClose(dot, VectorOps.dotDouble(x, OFF, y, OFF, n), 1e-12, "dotDouble n=" + n);
            assertClose(ss, VectorOps.sumOfSquaresDouble(x, OFF, n), 1e-12, "ssDouble n=" + n);
            assertEquals((float) max, VectorOps.max(x, OFF, n), 0f, "max n=" + n);
        }
    }

    @Test
    void maxFindsElementInTail() {
        float[] x = new float[17];
        java.util.Arrays.fill(x, -5f);
        x[16] = 3f;
        assertEquals(3f, VectorOps.max(x, 0, 17), 0f);
        x[16] = -5f;
        x[2] = 4f;
        assertEquals(4f, VectorOps.max(x, 0, 17), 0f);
    }

    @Test
    void elementwiseMatchScalar() {
        SplittableRandom rng = new SplittableRandom(2);
        for (int n : LENGTHS) {
            float[] x = rand(rng, n, 3), y = rand(rng, n, 3);
            float[] rAdd = new float[n], rMul = new float[n], rAxpy = new float[n], rScale = new float[n];
            float[] rSig = new float[n], rSilu = new float[n], rExp = new float[n];
            for (int i = 0; i < n; i++) {
                double a = x[OFF + i], b = y[OFF + i];
                rAdd[i] = (float) (a + b);
                rMul[i] = (float) (a * b);
                rAxpy[i] = (float) (b + 0.7 * a);
                rScale[i] = (float) (a * -1.25);
                rSig[i] = (float) (1 / (1 + Math.exp(-a)));
                rSilu[i] = (float) (a / (1 + Math.exp(-a)));
                rExp[i] = (float) Math.exp(a);
            }
            float[] out = rand(rng, n, 1), before = out.clone();
            VectorOps.add(x, OFF, y, OFF, out, OFF, n);
            assertSlice(rAdd, out, before, n, 1e-6, "add");
            out = before.clone();
            VectorOps.mul(x, OFF, y, OFF, out, OFF, n);
            assertSlice(rMul, out, before, n, 1e-6, "mul");
            out = y.clone();
            VectorOps.axpy(0.7f, x, OFF, out, OFF, n);
            assertSlice(rAxpy, out, y, n, 1e-6, "axpy");
            out = x.clone();
            VectorOps.scale(-1.25f, out, OFF, n);
            assertSlice(rScale, out, x, n, 1e-6, "scale");
            out = before.clone();
            VectorOps.sigmoid(x, OFF, out, OFF, n);
            assertSlice(rSig, out, before, n, 1e-6, "sigmoid");
            out = before.clone();
            VectorOps.silu(x, OFF, out, OFF, n);
            assertSlice(rSilu, out, before, n, 1e-6, "silu");
            out = x.clone();
            VectorOps.silu(out, OFF, out, OFF, n); // aliasing in place
            assertSlice(rSilu, out, x, n, 1e-6, "silu in place");
            out = x.clone();
            VectorOps.expInPlace(out, OFF, n);
            assertSlice(rExp, out, x, n, 1e-6, "exp");
        }
    }

    @Test
    void activationsAtExtremes() {
        float[] x = new float[20];
        for (int i = 0; i < 20; i++) x[i] = (i % 2 == 0 ? -1 : 1) * 100f * i;
        float[] s = new float[20], u = new float[20];
        VectorOps.sigmoid(x, 0, s, 0, 20);
        VectorOps.silu(x, 0, u, 0, 20);
        for (int i = 0; i < 20; i++) {
            assertEquals(VectorOps.sigmoid(x[i]), s[i], 1e-7, "sigmoid at " + x[i]);
            double ref = x[i] / (1 + Math.exp(-x[i]));
            assertEquals(ref, u[i], 1e-6 * Math.max(1, Math.abs(ref)), "silu at " + x[i]);
        }
    }

    @Test
    void softmaxMatchesScalarAndSurvivesLargeInputs() {
        SplittableRandom rng = new SplittableRandom(3);
        for (int n : LENGTHS) {
            for (double scale : new double[] {1, 200}) {
                float[] x = rand(rng, n, scale);
                double m = Double.NEGATIVE_INFINITY;
                for (int i = 0; i < n; i++) m = Math.max(m, x[OFF + i]);
                double z = 0;
                for (int i = 0; i < n; i++) z += Math.exp(x[OFF + i] - m);
                float[] ref = new float[n];
                for (int i = 0; i < n; i++) ref[i] = (float) (Math.exp(x[OFF + i] - m) / z);
                float[] out = x.clone();
                VectorOps.softmax(out, OFF, n);
                assertSlice(ref, out, x, n, 2e-6, "softmax scale=" + scale);
                float[] out2 = new float[x.length];
                VectorOps.softmax(x, OFF, out2, OFF, n);
                assertSlice(ref, out2, new float[x.length], n, 2e-6, "softmax out-of-place");
            }
        }
    }

    /** The deterministic vector exp: within 2 ulp of Math.exp over float's range, exact at the edges. */
    @org.junit.jupiter.api.Test
    void vectorExpMatchesMathExp() {
        jdk.incubator.vector.VectorSpecies<Float> sp = jdk.incubator.vector.FloatVector.SPECIES_PREFERRED;
        java.util.SplittableRandom rng = new java.util.SplittableRandom(9);
        float[] x = new float[sp.length() * 4000];
        for (int i = 0; i < x.length; i++) x[i] = (float) (rng.nextDouble() * 200 - 110);
        float[] special = {0f, -0f, 1e-8f, -1e-8f, 88.72f, 88.73f, 89f, 1e4f, -87.3f, -103.9f, -104.5f, -1e4f,
                Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN, 0.5f * (float) Math.log(2)};
        System.arraycopy(special, 0, x, 0, special.length);
        double worstUlps = 0;
        for (int i = 0; i < x.length; i += sp.length()) {
            float[] y = new float[sp.length()];
            org.gsa4j.tensor.VectorOps.exp(jdk.incubator.vector.FloatVector.fromArray(sp, x, i)).intoArray(y, 0);
            for (int j = 0; j < y.length; j++) {
                float want = (float) Math.exp(x[i + j]);
                if (Float.isNaN(want) || Float.isInfinite(want) || want == 0f) {
                    assertEquals(want, y[j], 0f, "exp(" + x[i + j] + ")");
                    continue;
                }
                double ulps = Math.abs(y[j] - want) / Math.ulp(want);
                worstUlps = Math.max(worstUlps, ulps);
                assertTrue(ulps <= 2 || Math.abs(y[j] - want) <= Float.MIN_VALUE * 2, "exp(" + x[i + j] + ") = " + y[j] + " vs " + want);
            }
        }
        System.out.printf("vector exp: worst error %.1f ulp over %d inputs%n", worstUlps, x.length);
    }

    /** logsigmoid, the slot gate and their backward against double formulas, relative to each value, over a wide range of logits. */
    @Test
    void gatesMatchDoubleFormulasToFloatRounding() {
        int n = 4099;
        float[] f = new float[n], g = new float[n], s = new float[n], y = new float[n], dy = new float[n], dx = new float[n];
        SplittableRandom rng = new SplittableRandom(9);
        for (int i = 0; i < n; i++) {
            // logits from 1e-6 to 100 in magnitude, both signs, plus exact zeros
            f[i] = i % 97 == 0 ? 0f : (float) ((rng.nextBoolean() ? 1 : -1) * Math.pow(10, rng.nextDouble(-6, 2)));
            dy[i] = (float) rng.nextGaussian();
        }
        for (float invTau : new float[] {1f, 1f / 8, 1f / 16}) {
            VectorOps.logSigmoid(f, 0, y, 0, n, invTau);
            SlotGate.forward(f, g, s, 0, n, invTau);
            VectorOps.logSigmoidBackward(f, dy, dx, 0, n, invTau);
            double worstG = 0, worstS = 0, worstDx = 0;
            for (int i = 0; i < n; i++) {
                double x = f[i];
                double logSig = (Math.min(x, 0) - Math.log1p(Math.exp(-Math.abs(x)))) * invTau;
                double gate = -Math.expm1((float) logSig);
                double grad = dy[i] / (1 + Math.exp(x)) * invTau;
                assertEquals(y[i], g[i], 0f, "slotGate's g is logSigmoid's");
                // relative to the value, or to the smallest normal float where the value is subnormal
                double errG = Math.abs(g[i] - logSig) / Math.max(Math.abs(logSig), Float.MIN_NORMAL);
                double errS = Math.abs(s[i] - gate) / Math.max(Math.abs(gate), Float.MIN_NORMAL);
                if (errG > 5e-7 || errS > 5e-7) System.out.printf("  x=%s g=%s want %s; s=%s want %s%n", x, g[i], logSig, s[i], gate);
                worstG = Math.max(worstG, errG);
                worstS = Math.max(worstS, errS);
                worstDx = Math.max(worstDx, Math.abs(dx[i] - grad) / Math.max(Math.abs(grad), 1e-30));
            }
            System.out.printf("[gates] 1/tau=%s: logsigmoid rel err %.2e, 1 - e^g %.2e, backward %.2e%n", invTau, worstG, worstS, worstDx);
            assertTrue(worstG < 5e-7, "logsigmoid rel err " + worstG);
            assertTrue(worstS < 5e-7, "1 - e^g rel err " + worstS);
            assertTrue(worstDx < 5e-7, "logsigmoid backward rel err " + worstDx);
        }
    }
}
