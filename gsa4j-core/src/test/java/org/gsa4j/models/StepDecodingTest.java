package org.gsa4j.models;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.autograd.Tape;
import org.gsa4j.io.SafeTensors;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The single-token steppers of every architecture (GSA, GLA, RetNet, HGRN2, softmax attention and
 * hybrids): the reference library's per-step decoding logits through {@link CausalLM#step}, the step
 * against the tape path (forward with T = 1 from the same state) on random models of awkward sizes,
 * and copied states.
 */
class StepDecodingTest {
    private static final int VOCAB = 45;

    /**
     * Odd head dimensions (where rotary allows), GQA groups of 2 and 3, sliding windows shorter than
     * the 40 decoded tokens, biases, q/k norms, short convolutions, clamps, lower bounds, hybrids.
     */
    static final Map<String, String> MODELS = new LinkedHashMap<>();

    static {
        String common = "\"vocab_size\": " + VOCAB + ", \"num_hidden_layers\": 2, \"intermediate_size\": 50";
        MODELS.put("llama_gqa3_hd10", "{\"model_type\": \"llama\", " + common + ", \"hidden_size\": 36, \"num_attention_heads\": 6,"
                + " \"num_key_value_heads\": 2, \"head_dim\": 10, \"rope_theta\": 500.0}");
        MODELS.put("mistral_window5_mqa", "{\"model_type\": \"mistral\", " + common + ", \"hidden_size\": 32, \"num_attention_heads\": 4,"
                + " \"num_key_value_heads\": 1, \"head_dim\": 14, \"sliding_window\": 5, \"tie_word_embeddings\": true}");
        MODELS.put("transformer_bias_qknorm_window7", "{\"model_type\": \"transformer\", " + common + ", \"hidden_size\": 36,"
                + " \"num_heads\": 6, \"num_kv_heads\": 3, \"qkv_bias\": true, \"qk_norm\": true, \"window_size\": 7}");
        MODELS.put("gla_gqa3_odd_conv_clamp", "{\"model_type\": \"gla\", " + common + ", \"hidden_size\": 42, \"num_heads\": 3,"
                + " \"num_kv_heads\": 1, \"use_short_conv\": true, \"conv_size\": 3, \"clamp_min\": -0.05, \"feature_map\": \"swish\"}");
        MODELS.put("gla_nogate_relu_odd", "{\"model_type\": \"gla\", " + common + ", \"hidden_size\": 30, \"num_heads\": 3,"
                + " \"use_output_gate\": false, \"feature_map\": \"relu\", \"hidden_act\": \"silu\", \"expand_v\": 1.5}");
        MODELS.put("retnet_gqa_odd_v", "{\"model_type\": \"retnet\", " + common + ", \"hidden_size\": 40, \"num_heads\": 4,"
                + " \"num_kv_heads\": 2, \"expand_v\": 1.5, \"feature_map\": \"silu\"}");
        MODELS.put("retnet_nogate_noaffine", "{\"model_type\": \"retnet\", " + common + ", \"hidden_size\": 36, \"num_heads\": 3,"
                + " \"use_output_gate\": false, \"elementwise_affine\": false}");
        MODELS.put("hgrn2_conv_3layers_ratio9", "{\"model_type\": \"hgrn2\", \"vocab_size\": " + VOCAB + ", \"hidden_size\": 36,"
                + " \"num_hidden_layers\": 3, \"intermediate_size\": 50, \"expand_ratio\": 9, \"use_short_conv\": true}");
        MODELS.put("hgrn2_noaffine_nolb", "{\"model_type\": \"hgrn2\", " + common + ", \"hidden_size\": 36, \"num_heads\": 4,"
                + " \"expand_ratio\": null, \"elementwise_affine\": false, \"use_lower_bound\": false}");
        // head dims past one vector with a remainder (the allocation checks run these)
        MODELS.put("llama_gqa_hd20", "{\"model_type\": \"llama\", " + common + ", \"hidden_size\": 64, \"num_attention_heads\": 4,"
                + " \"num_key_value_heads\": 2, \"head_dim\": 20}");
        MODELS.put("gla_gqa_conv_dk18", "{\"model_type\": \"gla\", " + common + ", \"hidden_size\": 72, \"num_heads\": 2,"
                + " \"num_kv_heads\": 1, \"use_short_conv\": true, \"clamp_min\": -0.05}");
        MODELS.put("gsa_hybrid_attn", "{\"model_type\": \"gsa\", " + common + ", \"hidden_size\": 32, \"num_heads\": 2, \"num_slots\": 7,"
                + " \"attn\": {\"layers\": [1], \"num_heads\": 4, \"num_kv_heads\": 2, \"window_size\": 6}}");
        MODELS.put("gla_hybrid_attn_bias", "{\"model_type\": \"gla\", \"vocab_size\": " + VOCAB + ", \"hidden_size\": 32,"
                + " \"num_hidden_layers\": 3, \"intermediate_size\": 50, \"num_heads\": 2, \"attn\": [{\"layers\": [0],"
                + " \"num_heads\": 2, \"window_size\": 9, \"qkv_bias\": true}, {\"layers\": [2], \"num_heads\": 4, \"rope_theta\": 100.0}]}");
    }

    /** A model of the named configuration with every parameter random (biases, norms and lower bounds too). */
    static CausalLM model(String name) throws IOException {
        ObjectNode json = (ObjectNode) new ObjectMapper().readTree(MODELS.get(name));
        CausalLM model = ModelLoader.create(json, name.hashCode());
        SplittableRandom rng = new SplittableRandom(name.hashCode());
        for (Map.Entry<String, Tensor> e : model.params().entrySet()) {
            Tensor t = e.getValue();
            int fanIn = t.dim(-1);
            boolean vector = t.rank() == 1 || e.getKey().equals("model.lower_bounds");
            for (int i = 0; i < t.size(); i++) {
                double g = Tensor.gaussian(rng);
                t.set(i, e.getKey().contains("embed") ? g : vector ? (e.getKey().endsWith("bias") || e.getKey().contains("lower") ? 0.3 * g : 1 + 0.2 * g)
                        : g / Math.sqrt(fanIn));
            }
        }
        return model;
    }

    private static final int PREFILL = 9, TOKENS = 40;

    /** Two different sequences for a batch of two, row-major [2, TOKENS]. */
    private static int[] sequences(String name) {
        SplittableRandom rng = new SplittableRandom(~name.hashCode());
        int[] ids = new int[2 * TOKENS];
        for (int i = 0; i < ids.length; i++) ids[i] = rng.nextInt(VOCAB);
        return ids;
    }

    private static int[] column(int[] ids, int from, int len) {
        int[] out = new int[2 * len];
        for (int b = 0; b < 2; b++) System.arraycopy(ids, b * TOKENS + from, out, b * len, len);
        return out;
    }

    @TestFactory
    List<DynamicTest> stepEqualsTheTapePathForEveryArchitecture() {
        List<DynamicTest> tests = new ArrayList<>();
        for (String name : MODELS.keySet()) tests.add(DynamicTest.dynamicTest(name, () -> stepAgainstTape(name)));
        return tests;
    }

    /** Batch 2: a prefill through the tape, then each token by the step and by forward with T = 1 from twin states. */
    private static void stepAgainstTape(String name) throws IOException {
        CausalLM model = model(name);
        int[] ids = sequences(name);
        DecodeState viaStep = model.newState(2), viaTape = model.newState(2);
        Tensor a = model.feed(column(ids, 0, PREFILL), 2, PREFILL, viaStep);
        Tensor b = model.feed(column(ids, 0, PREFILL), 2, PREFILL, viaTape);
        assertTrue(model.canStep(viaStep), name + " has no single-token step");
        double worst = 0;
        for (int t = PREFILL; t < TOKENS; t++) {
            int[] next = column(ids, t, 1);
            a = model.step(next, viaStep);
            b = tapeFeed(model, next, viaTape);
            worst = Math.max(worst, Tensor.relErr(a, b));
        }
        assertEquals(viaTape.position(), viaStep.position());
        System.out.printf("[%s] step vs tape path, batch 2, %d steps: max rel err %.2e, state %d bytes%n",
                name, TOKENS - PREFILL, worst, viaStep.bytes());
        assertTrue(worst <= 2e-6, name + ": rel err " + worst);
    }

    /** forward on an inference tape with T = 1 (the path feed took before the layers had steps). */
    static Tensor tapeFeed(CausalLM model, int[] ids, DecodeState state) {
        Tape tape = Tape.inference();
        return model.logits(tape, model.bind(tape), ids, ids.length, 1, state).value;
    }

    @TestFactory
    List<DynamicTest> copiedStatesContinueIndependentlyAndIdentically() {
        List<DynamicTest> tests = new ArrayList<>();
        for (String name : MODELS.keySet()) {
            tests.add(DynamicTest.dynamicTest(name, () -> {
                CausalLM model = model(name);
                int[] ids = sequences(name);
                DecodeState a = model.newState(2);
                model.feed(column(ids, 0, PREFILL), 2, PREFILL, a);
                for (int t = PREFILL; t < 12; t++) model.step(column(ids, t, 1), a);
                DecodeState b = a.copy();
                assertEquals(a.position(), b.position());
                assertEquals(a.bytes(), b.bytes());
                float[] first = model.step(column(ids, 20, 1), a).f.clone();
                model.step(column(ids, 21, 1), a); // a moves on; b must not
                assertArrayEquals(first, model.step(column(ids, 20, 1), b).f, name);
            }));
        }
        return tests;
    }

    /**
     * Every reference case whose layers all have a step: the prompt through the chunk form, then one
     * {@link CausalLM#step} per token; the logits after the prompt and after each token against the
     * reference library's, and the greedy tokens.
     */
    @TestFactory
    List<DynamicTest> referenceCasesDecodeThroughTheStep() throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (Path dir : ReferenceCases.modelCases()) tests.add(DynamicTest.dynamicTest(dir.getFileName().toString(), () -> reference(dir)));
        return tests;
    }

    private static void reference(Path dir) {
        String name = dir.getFileName().toString();
        CausalLM model = ModelLoader.load(dir);
        DecodeState state = model.newState(1);
        Assumptions.assumeTrue(model.canStep(state), name + ": some layer has no single-token step");
        try (SafeTensors expected = SafeTensors.open(dir.resolve("expected.safetensors"))) {
            int[] prompt = ints(expected.i64("generate.prompt"));
            int[] want = ints(expected.i64("generate.tokens"));
            Tensor stepLogits = expected.f32("generate.step_logits");
            int vocab = model.config.vocabSize();
            Tensor last = model.feed(prompt, 1, prompt.length, state);
            state.reserve(prompt.length + want.length);
            int[] got = new int[want.length];
            double worst = 0;
            for (int i = 0; i <= want.length; i++) {
                Tensor row = Tensor.of(Arrays.copyOfRange(stepLogits.f, i * vocab, (i + 1) * vocab), 1, vocab);
                worst = Math.max(worst, Tensor.relErr(last, row));
                if (i == want.length) break;
                got[i] = ModelConformanceTest.argmax(last.f);
                last = model.step(new int[] {got[i]}, state);
            }
            System.out.printf("[%s] CausalLM.step: greedy tokens %s, per-step logits max rel err %.2e%n",
                    name, Arrays.equals(got, want) ? "identical" : "DIFFER", worst);
            assertArrayEquals(want, got, name + ": greedy tokens");
            assertTrue(worst <= 1e-5, name + ": per-step logits rel err " + worst);
        }
    }

    private static int[] ints(long[] v) {
        int[] out = new int[v.length];
        for (int i = 0; i < v.length; i++) out[i] = (int) v[i];
        return out;
    }
}
