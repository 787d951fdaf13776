package org.gsa4j.ops.attention;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

class CausalAttentionTest {

    private static double loss(Tensor q, Tensor k, Tensor v, double scale, int window, Tensor w) {
        return TestUtil.dot(w, CausalAttention.forward(q, k, v, scale, window).o());
    }

    @Test
    void float64GradientsMatchFiniteDifferences() {
        SplittableRandom rng = new SplittableRandom(10);
        int[][] heads = {{4, 2}, {2, 2}};
        double worst = 0;
        for (int T : new int[] {1, 5, 17}) {
            for (int D : new int[] {3, 8}) {
                for (int[] hh : heads) {
                    for (int window : new int[] {0, 3}) {
                        int B = T == 17 ? 1 : 2, HQ = hh[0], HKV = hh[1];
                        double scale = 1 / Math.sqrt(D);
                        Tensor q = TestUtil.randn64(rng, 1, B, T, HQ, D);
                        Tensor k = TestUtil.randn64(rng, 1, B, T, HKV, D);
                        Tensor v = TestUtil.randn64(rng, 1, B, T, HKV, D);
                        Tensor w = TestUtil.randn64(rng, 1, B, T, HQ, D);
                        CausalAttention.Result r = CausalAttention.forward(q, k, v, scale, window);
                        CausalAttention.Grads g = CausalAttention.backward(r, w);
                        double h = 1e-6;
                        double eq = Tensor.relErr(TestUtil.numericGrad(q, () -> loss(q, k, v, scale, window, w), h), g.dq());
                        double ek = Tensor.relErr(TestUtil.numericGrad(k, () -> loss(q, k, v, scale, window, w), h), g.dk());
                        double ev = Tensor.relErr(TestUtil.numericGrad(v, () -> loss(q, k, v, scale, window, w), h), g.dv());
                        System.out.printf("fd check B=%d T=%d D=%d HQ=%d HKV=%d window=%d: dq %.2e dk %.2e dv %.2e%n",
                                B, T, D, HQ, HKV, window, eq, ek, ev);
                        worst = Math.max(worst, Math.max(eq, Math.max(ek, ev)));
                    }
                }
            }
        }
        System.out.printf("fd check worst rel err %.2e%n", worst);
        assertTrue(worst < 1e-7, "worst " + worst);
    }

    /** Independent check of the GQA mapping and the window: against a plain formula with explicit masks. */
    @Test
    void float64MatchesExplicitFormula() {
        SplittableRandom rng = new SplittableRandom(11);
        int B = 2, T = 9, HQ = 6, HKV = 2, D = 5, G = HQ / HKV;
        Tensor q = TestUtil.randn64(rng, 1, B, T, HQ, D);
        Tensor k = TestUtil.randn64(rng, 1, B, T, HKV, D);
        Tensor v = TestUtil.randn64(rng, 1, B, T, HKV, D);
        for (int window : new int[] {0, 1, 4, 9, 100}) {
            Tensor o = CausalAttention.forward(q, k, v, 0.3, window).o();
            Tensor ref = Tensor.zerosF64(B, T, HQ, D);
            for (int b = 0; b < B; b++)
                for (int h = 0; h < HQ; h++)
                    for (int t = 0; t < T; t++) {
                        double[] e = new double[T];
                        double z = 0;
                        for (int j = 0; j < T; j++) {
                            boolean visible = j <= t && (window == 0 || t - j < window);
                            if (!visible) continue;
                            double s = 0;
                            for (int c = 0; c < D; c++) s += q.d[((b * T + t) * HQ + h) * D + c] * k.d[((b * T + j) * HKV + h / G) * D + c];
                            e[j] = Math.exp(0.3 * s);
                            z += e[j];
                        }
                        for (int j = 0; j < T; j++)
                            for (int c = 0; c < D; c++)
                                ref.d[((b * T + t) * HQ + h) * D + c] += e[j] / z * v.d[((b * T + j) * HKV + h / G) * D + c];
                    }
            double err = Tensor.relErr(o, ref);
            System.out.printf("f64 vs explicit masked formula, window=%d: %.2e%n", window, err);
            assertTrue(err < 1e-14, "err " + err);
        }
    }

    @Test
    void float32MatchesFloat64BackwardPerKvHead() {
        float32MatchesFloat64(Boolean.FALSE);
    }

    @Test
    void float32MatchesFloat64BackwardPerQueryHead() {
        float32MatchesFloat64(Boolean.TRUE);
    }

    private static void float32MatchesFloat64(Boolean perQueryHead) {
        CausalAttention.forcePerHeadBackward = perQueryHead;
        try {
            compareF32F64(perQueryHead ? "per-query-head backward" : "per-kv-head backward");
        } finally {
            CausalAttention.forcePerHeadBackward = null;
        }
    }

    private static void compareF32F64(String label) {
        SplittableRandom rng = new SplittableRandom(12);
        double worst = 0, worstAbsT1 = 0;
        for (int T : new int[] {1, 63, 64, 65, 200}) {
            for (int D : new int[] {7, 33}) {
                for (int window : new int[] {0, 3, 50}) {
                    int B = 2, HQ = 4, HKV = 2;
                    double scale = 1 / Math.sqrt(D);
                    Tensor q = TestUtil.randn64(rng, 1, B, T, HQ, D).toF32().toF64();
                    Tensor k = TestUtil.randn64(rng, 1, B, T, HKV, D).toF32().toF64();
                    Tensor v = TestUtil.randn64(rng, 1, B, T, HKV, D).toF32().toF64();
                    Tensor dO = TestUtil.randn64(rng, 1, B, T, HQ, D).toF32().toF64();
                    CausalAttention.Result r64 = CausalAttention.forward(q, k, v, scale, window);
                    CausalAttention.Grads g64 = CausalAttention.backward(r64, dO);
                    CausalAttention.Result r32 = CausalAttention.forward(q.toF32(), k.toF32(), v.toF32(), scale, window);
                    CausalAttention.Grads g32 = CausalAttention.backward(r32, dO.toF32());
                    double eo = Tensor.relErr(r32.o(), r64.o());
                    double eq = Tensor.relErr(g32.dq(), g64.dq());
                    double ek = Tensor.relErr(g32.dk(), g64.dk());
                    double ev = Tensor.relErr(g32.dv(), g64.dv());
                    System.out.printf("f32 vs f64 (%s) T=%d D=%d window=%d: o %.2e dq %.2e dk %.2e dv %.2e%s%n", label, T, D, window, eo, eq, ek, ev,
                            T == 1 ? "  (T=1: exact dq, dk are 0, so these two are absolute norms of f32 rounding)" : "");
                    if (T == 1) {
                        worstAbsT1 = Math.max(worstAbsT1, Math.max(eq, ek));
                        worst = Math.max(worst, Math.max(eo, ev));
                    } else {
                        worst = Math.max(worst, Math.max(Math.max(eo, eq), Math.max(ek, ev)));
                    }
                }
            }
        }
        System.out.printf("f32 vs f64 (%s) worst rel err %.2e (T=1 zero-gradient dq, dk: worst abs %.2e)%n", label, worst, worstAbsT1);
        assertTrue(worst <= 1e-5, "worst " + worst);
        assertTrue(worstAbsT1 <= 1e-5, "T=1 abs " + worstAbsT1);
    }

    /** Logits q·k·scale of order ±1e4 must not overflow: outputs and gradients stay finite and close to float64. */
    @Test
    void largeLogitsStayFinite() {
        SplittableRandom rng = new SplittableRandom(13);
        int B = 1, T = 70, HQ = 2, HKV = 1, D = 8;
        double scale = 1 / Math.sqrt(D);
        Tensor q = TestUtil.randn64(rng, 60, B, T, HQ, D).toF32().toF64();
        Tensor k = TestUtil.randn64(rng, 60, B, T, HKV, D).toF32().toF64();
        Tensor v = TestUtil.randn64(rng, 1, B, T, HKV, D).toF32().toF64();
        Tensor dO = TestUtil.randn64(rng, 1, B, T, HQ, D).toF32().toF64();
        double maxLogit = 0;
        for (int t = 0; t < T; t++)
            for (int j = 0; j <= t; j++) {
                double s = 0;
                for (int c = 0; c < D; c++) s += q.d[(t * HQ) * D + c] * k.d[j * D + c];
                maxLogit = Math.max(maxLogit, Math.abs(s * scale));
            }
        for (int window : new int[] {0, 7}) {
            CausalAttention.Result r64 = CausalAttention.forward(q, k, v, scale, window);
            CausalAttention.Grads g64 = CausalAttention.backward(r64, dO);
            CausalAttention.Result r32 = CausalAttention.forward(q.toF32(), k.toF32(), v.toF32(), scale, window);
            CausalAttention.Grads g32 = CausalAttention.backward(r32, dO.toF32());
            for (Tensor x : new Tensor[] {r64.o(), g64.dq(), g64.dk(), g64.dv(), r32.o(), g32.dq(), g32.dk(), g32.dv()}) {
                assertTrue(TestUtil.allFinite(x), "non-finite " + x);
            }
            // the output is a convex combination of values
            assertTrue(TestUtil.maxAbs(r32.o()) <= TestUtil.maxAbs(v) * (1 + 1e-6));
            double eo = Tensor.relErr(r32.o(), r64.o()), ev = Tensor.relErr(g32.dv(), g64.dv());
            System.out.printf("large logits (max |s| %.1e) window=%d: f32 vs f64 o %.2e dv %.2e, |dq|max f32 %.2e f64 %.2e%n",
                    maxLogit, window, eo, ev, TestUtil.maxAbs(g32.dq()), TestUtil.maxAbs(g64.dq()));
            assertTrue(eo < 1e-3 && ev < 1e-3, "o " + eo + " dv " + ev);
        }
        assertTrue(maxLogit > 5e3, "test did not reach large logits: " + maxLogit);
    }

    @Test
    void rejectsBadShapes() {
        assertThrows(IllegalArgumentException.class,
                () -> CausalAttention.forward(Tensor.zeros(1, 4, 3, 8), Tensor.zeros(1, 4, 2, 8), Tensor.zeros(1, 4, 2, 8), 1, 0));
        assertThrows(IllegalArgumentException.class,
                () -> CausalAttention.forward(Tensor.zeros(1, 4, 4, 8), Tensor.zeros(1, 5, 2, 8), Tensor.zeros(1, 5, 2, 8), 1, 0));
    }
}
