package org.gsa4j.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.gsa4j.ops.GatedLinearAttention.Gate;
import org.gsa4j.ops.OpsTestSupport.Strength;
import org.gsa4j.tensor.Parallel;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The chunk operator gives the same bits whichever way its work is cut: one task per (batch, head)
 * or the three chunk-parallel jobs, for 1, 2, 3, 8 and 64 threads (above the machine's threads only
 * the cut changes), forward and backward, on awkward lengths (one row, one short chunk, one chunk
 * plus one row, several chunks and a tail).
 */
class ChunkScheduleTest {
    private static final int[] THREADS = {1, 2, 3, 8, 64};

    @AfterEach
    void restore() {
        GatedLinearAttention.forceWholeHeads = null;
        Parallel.useThreads(Parallel.machineThreads());
    }

    @Test
    void gsaForwardAndBackwardAreTheSameBitsForEveryCut() {
        for (int t : new int[] {1, 63, 65, 200}) {
            int B = 2, H = 3, K = 16, V = 24, M = 8;
            SplittableRandom rng = new SplittableRandom(100 + t);
            Tensor q = OpsTestSupport.randn(rng, B, t, H, K), k = OpsTestSupport.randn(rng, B, t, H, K);
            Tensor v = OpsTestSupport.randn(rng, B, t, H, V);
            Tensor g = OpsTestSupport.logDecay(rng, Strength.WEAK, B, t, H, M), s = OpsTestSupport.oneMinusExp(g);
            Tensor hk0 = OpsTestSupport.randn(rng, B, H, K, M), hv0 = OpsTestSupport.randn(rng, B, H, M, V);
            Tensor dO = OpsTestSupport.randn(rng, B, t, H, V);
            Tensor dhk = OpsTestSupport.randn(rng, B, H, K, M), dhv = OpsTestSupport.randn(rng, B, H, M, V);
            sameEverywhere("GSA T=" + t, () -> {
                GatedSlotAttentionOp.Result r = GatedSlotAttentionOp.forward(q, k, v, s, g, 0.3, hk0, hv0);
                GatedSlotAttentionOp.Grads d = GatedSlotAttentionOp.backward(r, dO, dhk, dhv);
                return List.of(r.o(), r.hkT(), r.hvT(), d.dq(), d.dk(), d.dv(), d.ds(), d.dg(), d.dhk0(), d.dhv0());
            });
        }
    }

    @Test
    void everyDecayOfThePrimitiveIsTheSameBitsForEveryCut() {
        int B = 1, H = 2, T = 130, dk = 9, dv = 17;
        SplittableRandom rng = new SplittableRandom(7);
        Tensor q = OpsTestSupport.randn(rng, B, T, H, dk), k = OpsTestSupport.randn(rng, B, T, H, dk);
        Tensor v = OpsTestSupport.randn(rng, B, T, H, dv), dO = OpsTestSupport.randn(rng, B, T, H, dv);
        Tensor s0 = OpsTestSupport.randn(rng, B, H, dk, dv), dST = OpsTestSupport.randn(rng, B, H, dk, dv);
        Gate[] gates = {
                Gate.key(OpsTestSupport.logDecay(rng, Strength.STRONG, B, T, H, dk)),
                Gate.value(OpsTestSupport.logDecay(rng, Strength.WEAK, B, T, H, dv)),
                Gate.scalar(new double[] {Math.log(0.9), Math.log(0.99)})};
        for (Gate gate : gates) {
            sameEverywhere(gate.decay().toString(), () -> {
                GatedLinearAttention.Result r = GatedLinearAttention.forward(gate, q, k, v, s0);
                GatedLinearAttention.Grads d = GatedLinearAttention.backward(r.saved(), dO, dST);
                List<Tensor> out = new ArrayList<>(List.of(r.o(), r.sT(), d.dq(), d.dk(), d.dv(), d.ds0()));
                if (d.dg() != null) out.add(d.dg());
                return out;
            });
        }
    }

    /** Runs {@code run} under every cut and thread count; every output must match the first run bit for bit. */
    private static void sameEverywhere(String what, java.util.function.Supplier<List<Tensor>> run) {
        List<Tensor> first = null;
        for (Boolean wholeHeads : new Boolean[] {Boolean.TRUE, Boolean.FALSE}) {
            for (int threads : THREADS) {
                GatedLinearAttention.forceWholeHeads = wholeHeads;
                Parallel.useThreads(threads);
                List<Tensor> got = run.get();
                if (first == null) {
                    first = got;
                    continue;
                }
                for (int i = 0; i < got.size(); i++) {
                    Tensor a = first.get(i), b = got.get(i);
                    assertNotNull(b);
                    for (int j = 0; j < a.size(); j++) {
                        assertEquals(Float.floatToRawIntBits(a.f[j]), Float.floatToRawIntBits(b.f[j]),
                                what + ": output " + i + " element " + j + " with " + threads + " threads, whole heads " + wholeHeads);
                    }
                }
            }
        }
    }
}
