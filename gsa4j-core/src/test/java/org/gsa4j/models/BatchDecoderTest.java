package org.gsa4j.models;

import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * Batched decoding of independent states: a sequence's logits are bit for bit those of decoding it
 * alone one token at a time, whatever it is batched with, however its text is cut into passes, and
 * across a snapshot taken between passes. (The steady-state pass allocates nothing: BatchDecoderAllocationTest.)
 */
class BatchDecoderTest {
    private static final int LENGTH = 24;

    @TestFactory
    List<DynamicTest> batchedSequencesMatchSoloDecodingBitForBit() throws Exception {
        List<DynamicTest> tests = new ArrayList<>();
        for (var e : DecodeModels.all().entrySet()) tests.add(DynamicTest.dynamicTest(e.getKey(), () -> batched(e.getKey(), e.getValue())));
        return tests;
    }

    /** Logits after each token of {@code ids}, decoding alone through {@link CausalLM#step}. */
    private static float[][] solo(CausalLM model, int[] ids) {
        DecodeState s = model.newState(1);
        float[][] out = new float[ids.length][];
        for (int i = 0; i < ids.length; i++) out[i] = model.step(new int[] {ids[i]}, s).f.clone();
        return out;
    }

    /**
     * Four sequences of 24 tokens: A in chunks of 5, B one token per pass, C joins late with its
     * first 13 tokens at once, D leaves after 10 tokens and is saved, restored and rejoins. Every
     * pass's logits per sequence against solo decoding at the same token, exactly.
     */
    private static void batched(String name, Supplier<CausalLM> make) {
        CausalLM model = make.get();
        SplittableRandom rng = new SplittableRandom(name.hashCode());
        int vocab = model.config.vocabSize();
        int[][] ids = new int[4][];
        float[][][] want = new float[4][][];
        for (int q = 0; q < 4; q++) {
            ids[q] = rng.ints(LENGTH, 0, vocab).toArray();
            want[q] = solo(model, ids[q]);
        }
        BatchDecoder batch = new BatchDecoder(model, 32);
        DecodeState[] states = new DecodeState[4];
        int[] done = new int[4];
        for (int q = 0; q < 4; q++) states[q] = model.newState(1);
        int compared = 0;
        for (int pass = 0; Arrays.stream(done).anyMatch(d -> d < LENGTH); pass++) {
            List<Integer> order = new ArrayList<>();
            int[] took = new int[4];
            for (int q : new int[] {2, 0, 3, 1}) {   // not in index order: rows of a pass in any order
                if (done[q] == LENGTH) continue;
                int n = switch (q) {
                    case 0 -> Math.min(5, LENGTH - done[q]);
                    case 1 -> 1;
                    case 2 -> pass < 4 ? 0 : done[q] == 0 ? 13 : 1;
                    default -> pass >= 10 && pass < 13 ? 0 : 1;   // D is away for three passes
                };
                if (n == 0) continue;
                batch.add(states[q], ids[q], done[q], n);
                took[q] = n;
                order.add(q);
            }
            if (pass == 10) states[3] = model.restore(states[3].snapshot());   // D comes back from a snapshot
            Tensor logits = batch.run();
            for (int i = 0; i < order.size(); i++) {
                int q = order.get(i);
                done[q] += took[q];
                float[] got = Arrays.copyOfRange(logits.f, i * vocab, (i + 1) * vocab);
                assertArrayEquals(want[q][done[q] - 1], got, name + ": sequence " + q + " after " + done[q] + " tokens (pass " + pass + ")");
                compared++;
            }
        }
        for (int q = 0; q < 4; q++) assertEquals(LENGTH, states[q].position(), name);
        System.out.printf("[batch decoder] %s: %d per-sequence logits identical to solo decoding%n", name, compared);
    }

    @Test
    void misuseIsRefused() throws Exception {
        CausalLM model = StepDecodingTest.model("gla_gqa3_odd_conv_clamp"), other = StepDecodingTest.model("gla_gqa3_odd_conv_clamp");
        BatchDecoder batch = new BatchDecoder(model, 4);
        DecodeState s = model.newState(1);
        batch.add(s, 1);
        assertThrows(IllegalArgumentException.class, () -> batch.add(s, 2), "the same state twice in a pass");
        assertThrows(IllegalArgumentException.class, () -> batch.add(other.newState(1), 1), "another model's state");
        assertThrows(IllegalArgumentException.class, () -> batch.add(model.newState(2), 1), "a lock-step batch");
        assertThrows(IllegalArgumentException.class, () -> batch.add(model.newState(1), new int[] {1, 2, 3, 4}, 0, 4), "over capacity");
        assertThrows(IllegalArgumentException.class, () -> batch.add(model.newState(1), 999), "outside the vocabulary");
        assertEquals(1, batch.sequences());
        batch.run();
        assertEquals(1, s.position());
        assertThrows(IllegalStateException.class, batch::run, "an empty pass");
    }

    /** The largest logit of row i. */
    static int argmax(Tensor logits, int i) {
        int vocab = logits.dim(1), best = 0;
        for (int j = 1; j < vocab; j++) if (logits.f[i * vocab + j] > logits.f[i * vocab + best]) best = j;
        return best;
    }
}
