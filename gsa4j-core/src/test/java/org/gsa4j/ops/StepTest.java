package org.gsa4j.ops;

import java.util.SplittableRandom;
import org.gsa4j.ops.gla.GatedLinearAttention.Decay;
import org.gsa4j.ops.gla.GatedLinearAttention;
import org.gsa4j.ops.gla.GatedLinearAttention.Gate;
import org.gsa4j.ops.OpsTestSupport.Strength;
import org.gsa4j.ops.gsa.GatedSlotAttention;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** T recurrent steps give the chunk forward's outputs and final states (T = 70 crosses a chunk boundary). */
class StepTest {
    private static final double TOL = 1e-5;
    private static final int B = 2, T = 70, H = 3;

    @Test
    void gsaStepsEqualChunkForward() {
        int K = 7, V = 9, M = 5;
        SplittableRandom rng = new SplittableRandom(3);
        Tensor q = OpsTestSupport.randn(rng, B, T, H, K), k = OpsTestSupport.randn(rng, B, T, H, K);
        Tensor v = OpsTestSupport.randn(rng, B, T, H, V);
        Tensor g = OpsTestSupport.logDecay(rng, Strength.WEAK, B, T, H, M), s = OpsTestSupport.oneMinusExp(g);
        Tensor hk0 = OpsTestSupport.randn(rng, B, H, K, M), hv0 = OpsTestSupport.randn(rng, B, H, M, V);
        double scale = 0.4;
        GatedSlotAttention.Result chunk = GatedSlotAttention.forward(q, k, v, s, g, scale, hk0, hv0);

        Tensor hk = hk0.copy(), hv = hv0.copy(), o = Tensor.zeros(B, T, H, V), oStep = Tensor.zeros(B, H, V);
        Tensor qt = Tensor.zeros(B, H, K), kt = Tensor.zeros(B, H, K), vt = Tensor.zeros(B, H, V);
        Tensor st = Tensor.zeros(B, H, M), gt = Tensor.zeros(B, H, M);
        for (int t = 0; t < T; t++) {
            token(q, t, qt);
            token(k, t, kt);
            token(v, t, vt);
            token(s, t, st);
            token(g, t, gt);
            GatedSlotAttention.step(qt, kt, vt, st, gt, scale, hk, hv, oStep);
            untoken(oStep, t, o);
        }
        System.out.println("GSA " + T + " steps vs chunk forward");
        OpsTestSupport.check("o", o, chunk.o(), TOL);
        OpsTestSupport.check("hkT", hk, chunk.hkT(), TOL);
        OpsTestSupport.check("hvT", hv, chunk.hvT(), TOL);
    }

    @ParameterizedTest
    @EnumSource(Decay.class)
    void primitiveStepsEqualChunkForward(Decay decay) {
        int dk = 6, dv = 11;
        SplittableRandom rng = new SplittableRandom(4 + decay.ordinal());
        Tensor q = OpsTestSupport.randn(rng, B, T, H, dk), k = OpsTestSupport.randn(rng, B, T, H, dk);
        Tensor v = OpsTestSupport.randn(rng, B, T, H, dv), s0 = OpsTestSupport.randn(rng, B, H, dk, dv);
        int dd = decay == Decay.VALUE ? dv : dk;
        Tensor g = OpsTestSupport.logDecay(rng, Strength.WEAK, B, T, H, dd);
        double[] logGamma = {Math.log(0.97), Math.log(0.9), Math.log(0.5)};
        Tensor gt = Tensor.zeros(B, H, dd);
        Gate sequenceGate = decay == Decay.SCALAR ? Gate.scalar(logGamma) : new Gate(decay, g, null);
        Gate stepGate = decay == Decay.SCALAR ? Gate.scalar(logGamma) : new Gate(decay, gt, null);
        GatedLinearAttention.Result chunk = GatedLinearAttention.forward(sequenceGate, q, k, v, s0);

        Tensor state = s0.copy(), o = Tensor.zeros(B, T, H, dv), oStep = Tensor.zeros(B, H, dv);
        Tensor qt = Tensor.zeros(B, H, dk), kt = Tensor.zeros(B, H, dk), vt = Tensor.zeros(B, H, dv);
        for (int t = 0; t < T; t++) {
            token(q, t, qt);
            token(k, t, kt);
            token(v, t, vt);
            token(g, t, gt);
            GatedLinearAttention.step(stepGate, qt, kt, vt, state, oStep);
            untoken(oStep, t, o);
        }
        System.out.println(decay + " " + T + " steps vs chunk forward");
        OpsTestSupport.check("o", o, chunk.o(), TOL);
        OpsTestSupport.check("sT", state, chunk.sT(), TOL);
    }

    /** dst [B,H,D] = src[:, t] of src [B,T,H,D]. */
    private static void token(Tensor src, int t, Tensor dst) {
        int T = src.dim(1), rowLen = src.dim(2) * src.dim(3);
        for (int bi = 0; bi < src.dim(0); bi++) System.arraycopy(src.f, (bi * T + t) * rowLen, dst.f, bi * rowLen, rowLen);
    }

    /** dst[:, t] = src [B,H,D]. */
    private static void untoken(Tensor src, int t, Tensor dst) {
        int T = dst.dim(1), rowLen = dst.dim(2) * dst.dim(3);
        for (int bi = 0; bi < dst.dim(0); bi++) System.arraycopy(src.f, bi * rowLen, dst.f, (bi * T + t) * rowLen, rowLen);
    }
}
