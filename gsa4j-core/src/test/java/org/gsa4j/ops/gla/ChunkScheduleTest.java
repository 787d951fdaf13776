package org.gsa4j.ops.gla;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.gsa4j.ops.gla.GatedLinearAttention.Gate;
import org.gsa4j.ops.gsa.GatedSlotAttention;
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
            Tensor q = randn(rng, B, t, H, K), k = randn(rng, B, t, H, K);
            Tensor v = randn(rng, B, t, H, V);
            Tensor g = logDecay(rng, 8, 0, B, t, H, M), s = oneMinusExp(g);
            Tensor hk0 = randn(rng, B, H, K, M), hv0 = randn(rng, B, H, M, V);
            Tensor dO = randn(rng, B, t, H, V);
            Tensor dhk = randn(rng, B, H, K, M), dhv = randn(rng, B, H, M, V);
            sameEverywhere("GSA T=" + t, () -> {
                GatedSlotAttention.Result r = GatedSlotAttention.forward(q, k, v, s, g, 0.3, hk0, hv0);
                GatedSlotAttention.Grads d = GatedSlotAttention.backward(r, dO, dhk, dhv);
                return List.of(r.o(), r.hkT(), r.hvT(), d.dq(), d.dk(), d.dv(), d.ds(), d.dg(), d.dhk0(), d.dhv0());
            });
        }
    }

    @Test
    void everyDecayOfThePrimitiveIsTheSameBitsForEveryCut() {
        int B = 1, H = 2, T = 130, dk = 9, dv = 17;
        SplittableRandom rng = new SplittableRandom(7);
        Tensor q = randn(rng, B, T, H, dk), k = randn(rng, B, T, H, dk);
        Tensor v = randn(rng, B, T, H, dv), dO = randn(rng, B, T, H, dv);
        Tensor s0 = randn(rng, B, H, dk, dv), dST = randn(rng, B, H, dk, dv);
        Gate[] gates = {
                Gate.key(logDecay(rng, 1, 3, B, T, H, dk)),
                Gate.value(logDecay(rng, 8, 0, B, T, H, dv)),
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

    /**
     * The cut by construction, for every thread count up to 64: whole heads only where the heads
     * give every thread four tasks; otherwise the scan has four tasks per thread (or one per state
     * row of every head, where there are fewer) and each chunk job one task per chunk of every
     * head, so four per thread wherever B·H·⌈T/64⌉ ≥ 4·threads: at 64 threads for the bench's
     * B=1, H=4, T=8192 (512 chunk tasks) and H=1, T=16384, not for H=1, T=8192 (128: four per
     * thread up to 32 threads).
     */
    @Test
    void everyJobHasFourTasksPerThreadWhereTheShapeHasThePieces() {
        int[][] shapes = {{1, 8192, 128}, {1, 8192, 64}, {4, 8192, 128}, {1, 16384, 128}, {4, 512, 128}, {1, 512, 64},
                {128, 2048, 128}, {256, 512, 64}};  // B·H, T, dk
        int perThread = GatedLinearAttention.TASKS_PER_THREAD;
        assertEquals(4, perThread);
        for (int[] shape : shapes) {
            int heads = shape[0], T = shape[1], dk = shape[2], chunks = (T + ChunkHead.C - 1) / ChunkHead.C;
            for (int threads = 1; threads <= 64; threads++) {
                GatedLinearAttention.Schedule s = GatedLinearAttention.Schedule.of(heads, T, dk, threads);
                String what = heads + " heads, T=" + T + ", dk=" + dk + ", " + threads + " threads: " + s;
                if (threads == 1) {
                    assertTrue(s.wholeHeads(), what);
                } else if (s.wholeHeads()) {
                    assertTrue(heads >= perThread * threads, what);
                } else {
                    assertTrue(s.scanTasks() >= Math.min(perThread * threads, heads * dk), what);
                    assertEquals(heads * chunks, s.chunkTasks(), what);
                    if (heads * chunks >= perThread * threads) assertTrue(s.chunkTasks() >= perThread * threads, what);
                }
            }
        }
        assertTrue(GatedLinearAttention.Schedule.of(4, 8192, 128, 64).chunkTasks() >= 4 * 64);
        assertTrue(GatedLinearAttention.Schedule.of(1, 8192, 128, 32).chunkTasks() >= 4 * 32);
    }

    /** q scaled while each chunk loads it gives the bits of a copy of q scaled first, forward and backward. */
    @Test
    void scalingQWhileLoadingIsScalingACopy() {
        int B = 1, H = 2, T = 130, dk = 9, dv = 17;
        float scale = 0.37f;
        SplittableRandom rng = new SplittableRandom(11);
        Tensor q = randn(rng, B, T, H, dk), k = randn(rng, B, T, H, dk), v = randn(rng, B, T, H, dv), dO = randn(rng, B, T, H, dv);
        Gate gate = Gate.value(logDecay(rng, 8, 0, B, T, H, dv));
        Tensor scaled = Tensor.zeros(q.shape);
        for (int i = 0; i < q.f.length; i++) scaled.f[i] = scale * q.f[i];
        for (int threads : new int[] {1, 2, 64}) {
            Parallel.useThreads(threads);
            GatedLinearAttention.Result a = GatedLinearAttention.forward(gate, q, scale, k, v, null);
            GatedLinearAttention.Result b = GatedLinearAttention.forward(gate, scaled, k, v, null);
            GatedLinearAttention.Grads da = GatedLinearAttention.backward(a.saved(), dO, null);
            GatedLinearAttention.Grads db = GatedLinearAttention.backward(b.saved(), dO, null);
            List<Tensor> x = List.of(a.o(), a.sT(), da.dq(), da.dk(), da.dv(), da.dg()), y = List.of(b.o(), b.sT(), db.dq(), db.dk(), db.dv(), db.dg());
            for (int i = 0; i < x.size(); i++) {
                for (int j = 0; j < x.get(i).size(); j++) {
                    assertEquals(Float.floatToRawIntBits(y.get(i).f[j]), Float.floatToRawIntBits(x.get(i).f[j]),
                            "output " + i + " element " + j + " with " + threads + " threads");
                }
            }
        }
    }

    static Tensor randn(SplittableRandom rng, int... shape) {
        return Tensor.randn(rng, 1.0, shape);
    }

    /** g = −softplus(shift − x)/div for x ~ N(0, 1): GSA's gates (div 8, shift 0) or strong decay (div 1, shift 3 → ≈ −3 per step). */
    static Tensor logDecay(SplittableRandom rng, double div, double shift, int... shape) {
        Tensor g = Tensor.zeros(shape);
        for (int i = 0; i < g.f.length; i++) {
            double x = shift - Tensor.gaussian(rng);
            g.f[i] = (float) -((x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x))) / div);
        }
        return g;
    }

    static Tensor oneMinusExp(Tensor g) {
        Tensor s = Tensor.zeros(g.shape);
        for (int i = 0; i < g.f.length; i++) s.f[i] = (float) -Math.expm1(g.f[i]);
        return s;
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
