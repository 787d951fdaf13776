package org.gsa4j.ops;

import static org.gsa4j.ops.OpsTestSupport.check;
import static org.gsa4j.ops.OpsTestSupport.f64;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.gsa4j.ops.gla.GatedLinearAttention.Decay;
import org.gsa4j.ops.gla.GatedLinearAttention;
import org.gsa4j.ops.gla.GatedLinearAttention.Gate;
import org.gsa4j.ops.OpsTestSupport.Strength;
import org.gsa4j.ops.gsa.GatedSlotAttention;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The float32 chunk algorithm against the float64 recurrence on the same (float32-representable)
 * random inputs, docs/MATH.md#how-it-is-tested: T ∈ {1, 63, 64, 65, 200} (one row; one short chunk; exactly one chunk;
 * a one-row last chunk; several chunks and a tail), odd and larger head dims, weak and strong
 * decay (b ≈ −190 at row 64), with and without initial states and final-state cotangents.
 */
class ChunkVsRecurrenceTest {
    private static final double TOL = 1e-4;
    /** GSA's own conditioning at strong decay (docs/MATH.md#float32-stable-sub-blocks): dq, dk cancel in da = p ⊙ (dp − ⟨p, dp⟩). */
    private static final double TOL_GSA_STRONG_DQ_DK = 2e-4;
    /**
     * At g ≈ −7 per step (α ≈ 1e-3, far beyond what GSA's logsigmoid(f)/8 gates produce) s = 1 − α is
     * the same for all slots to ~1e-3, p is nearly uniform and da, dq = scale·hk·da cancel twice: any
     * float32 evaluation loses ~6 digits there (a plain float32 recurrence with BPTT: dq 6e-2 relative;
     * chunk: 3e-2 to 1.3e-1). Only finiteness and a loose bound are checked for dq, dk, dhk0.
     */
    private static final double TOL_GSA_EXTREME_DQ_DK = 0.5;

    /** dims = {K, V, M} (GSA) or {Dk, Dv, -} (primitive). */
    static List<Arguments> cases() {
        List<Arguments> cases = new ArrayList<>();
        int[][] dims = {{7, 9, 5}, {32, 48, 16}};
        for (int t : new int[] {1, 63, 64, 65, 200}) {
            for (int[] d : dims) {
                for (Strength strength : new Strength[] {Strength.WEAK, Strength.STRONG}) {
                    for (boolean states : new boolean[] {false, true}) cases.add(Arguments.of(t, d, strength, states));
                }
            }
        }
        // a long sequence, and decay strong enough that even a diagonal sub-block leaves float32's range
        cases.add(Arguments.of(1000, dims[0], Strength.STRONG, true));
        cases.add(Arguments.of(130, dims[0], Strength.EXTREME, true));
        cases.add(Arguments.of(130, dims[1], Strength.EXTREME, false));
        return cases;
    }

    @ParameterizedTest(name = "T={0} dims={1} {2} states={3}")
    @MethodSource("cases")
    void gsa(int T, int[] dims, Strength strength, boolean states) {
        int K = dims[0], V = dims[1], M = dims[2], B = K < 16 ? 2 : 1, H = K < 16 ? 2 : 1;
        SplittableRandom rng = new SplittableRandom(31L * T + K + strength.ordinal() * 7 + (states ? 1 : 0));
        Tensor q = OpsTestSupport.randn(rng, B, T, H, K), k = OpsTestSupport.randn(rng, B, T, H, K);
        Tensor v = OpsTestSupport.randn(rng, B, T, H, V);
        Tensor g = OpsTestSupport.logDecay(rng, strength, B, T, H, M), s = OpsTestSupport.oneMinusExp(g);
        Tensor hk0 = states ? OpsTestSupport.randn(rng, B, H, K, M) : null;
        Tensor hv0 = states ? OpsTestSupport.randn(rng, B, H, M, V) : null;
        Tensor dO = OpsTestSupport.randn(rng, B, T, H, V);
        Tensor dhkT = states ? OpsTestSupport.randn(rng, B, H, K, M) : null;
        Tensor dhvT = states ? OpsTestSupport.randn(rng, B, H, M, V) : null;
        double scale = 1.0 / Math.sqrt(K);

        GatedSlotAttention.Result chunk = GatedSlotAttention.forward(q, k, v, s, g, scale, hk0, hv0);
        GatedSlotAttention.Grads chunkGrads = GatedSlotAttention.backward(chunk, dO, dhkT, dhvT);
        GatedSlotAttention.Result exact = GatedSlotAttention.forward(f64(q), f64(k), f64(v), f64(s), f64(g),
                scale, f64(hk0), f64(hv0));
        GatedSlotAttention.Grads exactGrads = GatedSlotAttention.backward(exact, f64(dO), f64(dhkT), f64(dhvT));

        double tolQK = switch (strength) {
            case WEAK -> TOL;
            case STRONG -> TOL_GSA_STRONG_DQ_DK;
            case EXTREME -> TOL_GSA_EXTREME_DQ_DK;
        };
        System.out.printf("GSA T=%d K=%d V=%d M=%d %s states=%b%n", T, K, V, M, strength, states);
        check("o", chunk.o(), exact.o(), TOL);
        check("hkT", chunk.hkT(), exact.hkT(), TOL);
        check("hvT", chunk.hvT(), exact.hvT(), TOL);
        check("dq", chunkGrads.dq(), exactGrads.dq(), tolQK);
        check("dk", chunkGrads.dk(), exactGrads.dk(), tolQK);
        check("dv", chunkGrads.dv(), exactGrads.dv(), TOL);
        check("ds", chunkGrads.ds(), exactGrads.ds(), TOL);
        check("dg", chunkGrads.dg(), exactGrads.dg(), TOL);
        check("dhk0", chunkGrads.dhk0(), exactGrads.dhk0(), tolQK);
        check("dhv0", chunkGrads.dhv0(), exactGrads.dhv0(), TOL);
    }

    static List<Arguments> primitiveCases() {
        List<Arguments> cases = new ArrayList<>();
        for (Decay decay : Decay.values()) {
            for (Arguments a : cases()) {
                Object[] x = a.get();
                cases.add(Arguments.of(decay, x[0], x[1], x[2], x[3]));
            }
        }
        return cases;
    }

    @ParameterizedTest(name = "{0} T={1} dims={2} {3} states={4}")
    @MethodSource("primitiveCases")
    void primitive(Decay decay, int T, int[] dims, Strength strength, boolean states) {
        int dk = dims[0], dv = dims[1], B = dk < 16 ? 2 : 1, H = dk < 16 ? 2 : 1;
        SplittableRandom rng = new SplittableRandom(17L * T + dk + decay.ordinal() * 5 + strength.ordinal() * 3 + (states ? 1 : 0));
        Tensor q = OpsTestSupport.randn(rng, B, T, H, dk), k = OpsTestSupport.randn(rng, B, T, H, dk);
        Tensor v = OpsTestSupport.randn(rng, B, T, H, dv);
        Tensor s0 = states ? OpsTestSupport.randn(rng, B, H, dk, dv) : null;
        Tensor dO = OpsTestSupport.randn(rng, B, T, H, dv), dST = states ? OpsTestSupport.randn(rng, B, H, dk, dv) : null;
        Gate gate32, gate64;
        switch (decay) {
            case KEY -> {
                Tensor g = OpsTestSupport.logDecay(rng, strength, B, T, H, dk);
                gate32 = Gate.key(g);
                gate64 = Gate.key(g.toF64());
            }
            case VALUE -> {
                Tensor g = OpsTestSupport.logDecay(rng, strength, B, T, H, dv);
                gate32 = Gate.value(g);
                gate64 = Gate.value(g.toF64());
            }
            default -> {
                double[] logGamma = new double[H];
                for (int h = 0; h < H; h++) {
                    logGamma[h] = switch (strength) {
                        case WEAK -> Math.log(1 - Math.pow(2, -5 - h));   // RetNet's γ_h
                        case STRONG -> -3 - h;
                        case EXTREME -> -7 - h;
                    };
                }
                gate32 = Gate.scalar(logGamma);
                gate64 = gate32;
            }
        }
        GatedLinearAttention.Result chunk = GatedLinearAttention.forward(gate32, q, k, v, s0);
        GatedLinearAttention.Grads chunkGrads = GatedLinearAttention.backward(chunk.saved(), dO, dST);
        GatedLinearAttention.Result exact = GatedLinearAttention.forward(gate64, f64(q), f64(k), f64(v), f64(s0));
        GatedLinearAttention.Grads exactGrads = GatedLinearAttention.backward(exact.saved(), f64(dO), f64(dST));

        System.out.printf("%s T=%d Dk=%d Dv=%d %s states=%b%n", decay, T, dk, dv, strength, states);
        check("o", chunk.o(), exact.o(), TOL);
        check("sT", chunk.sT(), exact.sT(), TOL);
        check("dq", chunkGrads.dq(), exactGrads.dq(), TOL);
        check("dk", chunkGrads.dk(), exactGrads.dk(), TOL);
        check("dv", chunkGrads.dv(), exactGrads.dv(), TOL);
        check("ds0", chunkGrads.ds0(), exactGrads.ds0(), TOL);
        if (decay != Decay.SCALAR) check("dg", chunkGrads.dg(), exactGrads.dg(), TOL);
    }
}
