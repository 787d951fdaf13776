package org.gsa4j.models;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.Gsa4jException;
import org.gsa4j.autograd.Tape;
import org.gsa4j.io.SafeTensors;
import org.gsa4j.models.ModelLoader.WeightFormat;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The allocation-free single-token step: against the tape path, BF16-held weights, allocation. */
class DecodeStepTest {

    /** GQA, short convolutions, t2r: every branch of the GSA step; sizes that leave vector tails. */
    static ObjectNode config(String featureMap, boolean conv) {
        return config(featureMap, conv, 5);
    }

    static ObjectNode config(String featureMap, boolean conv, int slots) {
        ObjectNode c = new ObjectMapper().createObjectNode();
        c.put("model_type", "gsa");
        c.put("vocab_size", 97);
        c.put("hidden_size", 40);
        c.put("num_hidden_layers", 2);
        c.put("num_heads", 4);
        c.put("num_kv_heads", 2);
        c.put("num_slots", slots);
        c.put("use_short_conv", conv);
        c.put("conv_size", 3);
        c.put("intermediate_size", 52);
        c.put("feature_map", featureMap);
        c.put("initializer_range", 0.2);
        return c;
    }

    private static final int[] PROMPT = {3, 14, 15, 92, 65, 35, 89, 79, 32, 38, 46, 26, 43, 33, 83, 27, 95, 2, 88, 41};

    @Test
    void stepEqualsTheTapePathOneTokenAtATime() {
        for (String fm : new String[] {"swish", "relu", "t2r"}) {
            CausalLM model = ModelLoader.create(config(fm, fm.equals("swish")), 5);
            DecodeState viaStep = model.newState(1), viaTape = model.newState(1);
            model.feed(java.util.Arrays.copyOf(PROMPT, 7), 1, 7, viaStep);
            tapeFeed(model, java.util.Arrays.copyOf(PROMPT, 7), 7, viaTape);
            for (int i = 7; i < PROMPT.length; i++) {
                Tensor a = model.step(new int[] {PROMPT[i]}, viaStep);
                Tensor b = tapeFeed(model, new int[] {PROMPT[i]}, 1, viaTape);
                double err = Tensor.relErr(a, b);
                assertTrue(err <= 1e-6, fm + " step " + i + ": rel err " + err);
            }
            assertEquals(viaTape.position(), viaStep.position());
        }
    }

    @Test
    void aCopiedStateContinuesIndependentlyAndIdentically() {
        CausalLM model = ModelLoader.create(config("swish", true), 9);
        DecodeState a = model.newState(1);
        model.feed(java.util.Arrays.copyOf(PROMPT, 9), 1, 9, a);
        DecodeState b = a.copy();
        assertEquals(a.position(), b.position());
        float[] first = model.step(new int[] {5}, a).f.clone();
        model.step(new int[] {6}, a); // a moves on; b must not
        assertArrayEquals(first, model.step(new int[] {5}, b).f);
    }

    /** The shared forward on an inference tape (the path feed takes for T &gt; 1). */
    private static Tensor tapeFeed(CausalLM model, int[] ids, int t, DecodeState state) {
        Tape tape = Tape.inference();
        Tensor all = model.logits(tape, model.bind(tape), ids, 1, t, state).value;
        int v = model.config.vocabSize();
        return Tensor.of(java.util.Arrays.copyOfRange(all.f, (t - 1) * v, t * v), 1, v);
    }

    /**
     * BF16-held weights decode as their values widened to F32: the matrix products are bit-for-bit
     * equal (MatVecTest); the whole model is compared at 1e-6 because the operator's vector exp
     * may round differently in the last place before and after JIT compilation.
     */
    @Test
    void bf16WeightsDecodeAsTheirValuesWidenedToF32() {
        CausalLM model = ModelLoader.create(config("swish", true), 6);
        CausalLM bf16 = ModelLoader.withWeights(model, WeightFormat.BF16);
        CausalLM wide = ModelLoader.withWeights(bf16, WeightFormat.F32);
        assertTrue(bf16.params().get("model.embeddings.weight").isBf16());
        assertTrue(!wide.params().get("model.embeddings.weight").isBf16());
        DecodeState a = bf16.newState(2), b = wide.newState(2);
        double worst = Tensor.relErr(bf16.feed(PROMPT, 2, 10, a), wide.feed(PROMPT, 2, 10, b));
        for (int i = 0; i < 10; i++) {
            int[] ids = {PROMPT[i], PROMPT[19 - i]};
            worst = Math.max(worst, Tensor.relErr(bf16.step(ids, a), wide.step(ids, b)));
        }
        System.out.printf("[decode step] BF16 vs widened F32: max rel err %.1e%n", worst);
        assertTrue(worst <= 1e-6, "rel err " + worst);
    }

    @Test
    void bf16CheckpointsLoadAsBf16AndTrainingOnThemIsRefused(@TempDir Path dir) {
        CausalLM model = ModelLoader.create(config("swish", false), 7);
        ModelLoader.save(model, dir, SafeTensors.DType.BF16);
        CausalLM held = ModelLoader.load(dir, WeightFormat.BF16), widened = ModelLoader.load(dir);
        CausalLM rounded = ModelLoader.withWeights(model, WeightFormat.BF16);
        for (Map.Entry<String, Tensor> e : rounded.params().entrySet()) {
            Tensor t = held.params().get(e.getKey());
            assertEquals(e.getValue().isBf16(), t.isBf16(), e.getKey());
            assertArrayEquals(e.getValue().toF32().f, t.toF32().f, e.getKey());
            assertArrayEquals(widened.params().get(e.getKey()).f, t.toF32().f, e.getKey());
        }
        Tape tape = Tape.recording();
        Gsa4jException err = assertThrows(Gsa4jException.class, () -> held.loss(tape, held.bind(tape), PROMPT, 1, PROMPT.length));
        assertTrue(err.getMessage().contains("inference only"), err.getMessage());
    }

    /**
     * The steady-state step allocates nothing on the calling thread: bytes allocated by this thread
     * per token over rounds of 500 steps, until the JIT has compiled the step (interpreted Vector-API
     * code boxes its vectors: about 150 KB per token in the first round here, 0 from the fourth or
     * fifth). Passes when a round stays within 64 bytes per token (room for a rare deoptimisation),
     * for F32 and BF16 weights; fails if 100 rounds (50 000 steps) never get there.
     */
    @Test
    void steadyStateStepAllocatesNothing() {
        // 5 slots leave the slot gate to its scalar tail; 21 slots × 2 kv heads run its vector loops
        // too (whose inlined exp once boxed every vector in the compiled step)
        for (int slots : new int[] {5, 21}) {
            CausalLM model = ModelLoader.create(config("swish", true, slots), 8);
            for (CausalLM m : new CausalLM[] {model, ModelLoader.withWeights(model, WeightFormat.BF16)}) {
                assertAllocationFree(m, (m.params().get("model.embeddings.weight").isBf16() ? "GSA, BF16 weights" : "GSA, F32 weights") + ", " + slots + " slots");
            }
        }
    }

    /**
     * The same for the other steppers: GLA (GQA, short convolutions, clamped gate, head_k_dim 18) and
     * Llama (GQA, head_dim 20), whose KV cache is sized up front for the whole run (growing it
     * allocates). Head dims past one vector with a remainder, so that every vector loop runs.
     */
    @Test
    void llamaAndGlaStepsAllocateNothing() throws Exception {
        assertAllocationFree(StepDecodingTest.model("gla_gqa_conv_dk18"), "GLA");
        assertAllocationFree(StepDecodingTest.model("llama_gqa_hd20"), "Llama");
    }

    private static void assertAllocationFree(CausalLM m, String what) {
        var threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        int steps = 500, rounds = 100;
        DecodeState state = m.newState(1);
        state.reserve(PROMPT.length + steps * rounds);
        m.feed(java.util.Arrays.stream(PROMPT).map(t -> t % m.config.vocabSize()).toArray(), 1, PROMPT.length, state);
        int[] id = {1};
        long perToken = Long.MAX_VALUE;
        int round = 0;
        for (; round < rounds && perToken > 64; round++) {
            long before = threads.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < steps; i++) id[0] = argmax(m.step(id, state).f);
            perToken = (threads.getCurrentThreadAllocatedBytes() - before) / steps;
        }
        System.out.printf("[decode step] %s: %d bytes allocated per token (round %d of %d steps, context %d)%n",
                what, perToken, round, steps, state.position());
        assertTrue(perToken <= 64, what + ": " + perToken + " bytes allocated per token after " + round * steps + " steps");
    }

    private static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
        return best;
    }
}
