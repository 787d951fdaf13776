package org.gsa4j.layers;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.config.ConfigReader;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.DecodeState;
import org.gsa4j.models.ModelRegistry;
import org.gsa4j.ops.CrossEntropy;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Baseline configurations the reference vectors do not cover (GQA, short convolutions, clamped
 * gates, no output gate, several HGRN2 lower bounds, qkv biases, q/k norms, sliding windows,
 * head_dim ≠ hidden/heads, tied embeddings, hybrid attention layers), on random weights with a wide spread:
 * <ol>
 * <li>float32 (chunk form, blocked attention) against float64 (plain recurrence, loop attention):
 *     logits and every parameter gradient;</li>
 * <li>float64 gradients against central finite differences, a few entries of every parameter;</li>
 * <li>decoding (a prefill, a second multi-token segment from the state, then single tokens) against
 *     the full forward's logits at the same positions; and a batch of two sequences in lock-step.</li>
 * </ol>
 */
class BaselineVariantsTest {
    private static final int VOCAB = 40, T = 70;

    private static final String COMMON = "\"vocab_size\": " + VOCAB + ", \"hidden_size\": 32, \"num_hidden_layers\": 2, \"intermediate_size\": 48";

    private static final Map<String, String> CASES = new LinkedHashMap<>();

    static {
        CASES.put("gla_gqa_conv_clamp", "{\"model_type\": \"gla\", " + COMMON + ", \"num_heads\": 4, \"num_kv_heads\": 2,"
                + " \"use_short_conv\": true, \"clamp_min\": -0.06, \"feature_map\": \"swish\"}");
        CASES.put("gla_nogate_silu", "{\"model_type\": \"gla\", " + COMMON + ", \"num_heads\": 2, \"use_output_gate\": false,"
                + " \"hidden_act\": \"silu\", \"expand_v\": 2}");
        CASES.put("retnet_gqa", "{\"model_type\": \"retnet\", " + COMMON + ", \"num_heads\": 4, \"num_kv_heads\": 2, \"norm_eps\": 1e-5}");
        CASES.put("retnet_nogate_relu", "{\"model_type\": \"retnet\", " + COMMON + ", \"num_heads\": 2, \"use_output_gate\": false,"
                + " \"feature_map\": \"relu\", \"elementwise_affine\": false}");
        CASES.put("hgrn2_conv_3layers", "{\"model_type\": \"hgrn2\", \"vocab_size\": " + VOCAB + ", \"hidden_size\": 32,"
                + " \"num_hidden_layers\": 3, \"intermediate_size\": 48, \"expand_ratio\": 8, \"use_short_conv\": true}");
        CASES.put("hgrn2_noaffine_nolb", "{\"model_type\": \"hgrn2\", " + COMMON + ", \"num_heads\": 2, \"expand_ratio\": null,"
                + " \"elementwise_affine\": false, \"use_lower_bound\": false}");
        CASES.put("transformer_bias_qknorm_window", "{\"model_type\": \"transformer\", " + COMMON + ", \"num_heads\": 4,"
                + " \"num_kv_heads\": 2, \"qkv_bias\": true, \"qk_norm\": true, \"window_size\": 16, \"rope_theta\": 500.0}");
        CASES.put("mistral_window_headdim_tied", "{\"model_type\": \"mistral\", \"vocab_size\": " + VOCAB + ", \"hidden_size\": 32,"
                + " \"num_hidden_layers\": 2, \"intermediate_size\": 40, \"num_attention_heads\": 4, \"num_key_value_heads\": 1,"
                + " \"head_dim\": 12, \"sliding_window\": 16, \"rope_theta\": 1000.0, \"rms_norm_eps\": 1e-5, \"tie_word_embeddings\": true}");
        CASES.put("gsa_hybrid", "{\"model_type\": \"gsa\", " + COMMON + ", \"num_heads\": 2, \"num_slots\": 8,"
                + " \"attn\": {\"layers\": [1], \"num_heads\": 4, \"num_kv_heads\": 2}}");
        CASES.put("gla_hybrid_list", "{\"model_type\": \"gla\", \"vocab_size\": " + VOCAB + ", \"hidden_size\": 32,"
                + " \"num_hidden_layers\": 3, \"intermediate_size\": 48, \"num_heads\": 2, \"attn\": [{\"layers\": [0],"
                + " \"num_heads\": 2, \"window_size\": 16, \"qkv_bias\": true}, {\"layers\": [2], \"num_heads\": 4, \"rope_theta\": 100.0}]}");
        CASES.put("hgrn2_hybrid", "{\"model_type\": \"hgrn2\", \"vocab_size\": " + VOCAB + ", \"hidden_size\": 32,"
                + " \"num_hidden_layers\": 3, \"intermediate_size\": 48, \"expand_ratio\": 16, \"attn\": {\"layers\": [1], \"num_heads\": 2}}");
        CASES.put("llama_old_rope_theta", "{\"model_type\": \"llama\", \"vocab_size\": " + VOCAB + ", \"hidden_size\": 32,"
                + " \"num_hidden_layers\": 2, \"intermediate_size\": 40, \"num_attention_heads\": 2, \"rope_theta\": 50.0}");
    }

    @TestFactory
    List<DynamicTest> variants() {
        List<DynamicTest> tests = new ArrayList<>();
        for (var e : CASES.entrySet()) tests.add(DynamicTest.dynamicTest(e.getKey(), () -> check(e.getKey(), e.getValue())));
        return tests;
    }

    private static void check(String name, String json) throws Exception {
        ConfigReader c = new ConfigReader(Path.of(name, "config.json"), new ObjectMapper().readTree(json));
        ModelRegistry.Architecture arch = ModelRegistry.build(ModelRegistry.fromJson(c));
        List<ParamSpec> specs = CausalLM.paramSpecs(arch);
        SplittableRandom rng = new SplittableRandom(name.hashCode());
        Map<String, Tensor> p32 = new LinkedHashMap<>();
        for (ParamSpec s : specs) {
            Tensor t = Tensor.zeros(s.shape());
            int fanIn = s.shape()[s.shape().length - 1];
            for (int i = 0; i < t.size(); i++) {
                double g = Tensor.gaussian(rng);
                t.set(i, switch (s.init()) {
                    case ONES -> 1 + 0.2 * g;
                    case ZEROS -> 0.3 * g;
                    case NORMAL -> s.name().contains("embed") ? g : g / Math.sqrt(fanIn);
                });
            }
            p32.put(s.name(), t);
        }
        Map<String, Tensor> p64 = new LinkedHashMap<>();
        for (var e : p32.entrySet()) p64.put(e.getKey(), e.getValue().toF64());
        CausalLM m32 = new CausalLM(arch, p32);
        CausalLM m64 = new CausalLM(arch, p64);
        int[] ids = new int[T];
        for (int i = 0; i < T; i++) ids[i] = rng.nextInt(VOCAB);
        int[] labels = CausalLM.shiftedLabels(ids, 1, T);

        // 1. float32 against float64
        Tape t32 = Tape.recording(), t64 = Tape.recording();
        Map<String, Var> v32 = m32.bind(t32), v64 = m64.bind(t64);
        Var logits32 = m32.logits(t32, v32, ids, 1, T, null);
        Var logits64 = m64.logits(t64, v64, ids, 1, T, null);
        t32.backward(CrossEntropy.apply(t32, logits32, labels, CausalLM.IGNORE_INDEX));
        t64.backward(CrossEntropy.apply(t64, logits64, labels, CausalLM.IGNORE_INDEX));
        double logitsErr = Tensor.relErr(logits32.value, logits64.value);
        double worstGrad = 0;
        String worstName = "";
        for (String n : p32.keySet()) {
            Tensor g32 = v32.get(n).grad(), g64 = v64.get(n).grad();
            assertTrue(g32 != null && g64 != null, name + ": no gradient for " + n);
            double err = Tensor.relErr(g32, g64);
            if (err > worstGrad) { worstGrad = err; worstName = n; }
        }
        System.out.printf("[%s] float32 vs float64: logits rel err %.2e, %d gradients max rel err %.2e (%s)%n",
                name, logitsErr, p32.size(), worstGrad, worstName);
        assertTrue(logitsErr <= 1e-5, name + ": logits " + logitsErr);
        assertTrue(worstGrad <= 1e-4, name + ": gradient of " + worstName + " " + worstGrad);

        // 2. float64 gradients against finite differences (3 entries of every parameter)
        double worstFd = 0;
        String worstFdName = "";
        double h = 1e-6;
        for (String n : p64.keySet()) {
            Tensor w = p64.get(n), grad = v64.get(n).grad();
            for (int r = 0; r < 3; r++) {
                int i = rng.nextInt(w.size());
                double orig = w.d[i];
                w.d[i] = orig + h;
                double up = loss64(m64, ids);
                w.d[i] = orig - h;
                double down = loss64(m64, ids);
                w.d[i] = orig;
                double numeric = (up - down) / (2 * h), analytic = grad.d[i];
                double err = Math.abs(numeric - analytic) / Math.max(1e-3, Math.abs(numeric));
                if (err > worstFd) { worstFd = err; worstFdName = n + "[" + i + "]"; }
            }
        }
        System.out.printf("[%s] float64 gradients vs finite differences: max rel err %.2e (%s)%n", name, worstFd, worstFdName);
        assertTrue(worstFd <= 1e-5, name + ": finite differences at " + worstFdName + " " + worstFd);

        // 3. decoding from the state: prefill 30, a segment of 7 from the state, then single tokens
        DecodeState state = m32.newState(1);
        int pos = 0;
        double worstStep = 0;
        while (pos < T) {
            int len = pos == 0 ? 30 : pos == 30 ? 7 : 1;
            Tensor last = m32.feed(Arrays.copyOfRange(ids, pos, pos + len), 1, len, state);
            pos += len;
            Tensor want = Tensor.of(Arrays.copyOfRange(logits32.value.f, (pos - 1) * VOCAB, pos * VOCAB), VOCAB);
            worstStep = Math.max(worstStep, Tensor.relErr(last, want));
        }
        System.out.printf("[%s] decoding vs full forward: max rel err %.2e, state %d bytes after %d tokens%n",
                name, worstStep, state.bytes(), T);
        assertTrue(worstStep <= 1e-5, name + ": decoding " + worstStep);

        // 4. a batch of two different sequences decoded in lock-step: prefill 25, then single tokens to 40
        int n = 40;
        int[] two = new int[2 * n];
        for (int i = 0; i < n; i++) {
            two[i] = ids[i];
            two[n + i] = ids[T - 1 - i];
        }
        Tensor full = m32.logits(Tape.inference(), m32.bind(Tape.inference()), two, 2, n, null).value;
        DecodeState batch = m32.newState(2);
        double worstBatch = 0;
        for (int p = 0; p < n; ) {
            int len = p == 0 ? 25 : 1;
            int[] seg = new int[2 * len];
            for (int b = 0; b < 2; b++) System.arraycopy(two, b * n + p, seg, b * len, len);
            Tensor last = m32.feed(seg, 2, len, batch);
            p += len;
            for (int b = 0; b < 2; b++) {
                Tensor got = Tensor.of(Arrays.copyOfRange(last.f, b * VOCAB, (b + 1) * VOCAB), VOCAB);
                Tensor want = Tensor.of(Arrays.copyOfRange(full.f, (b * n + p - 1) * VOCAB, (b * n + p) * VOCAB), VOCAB);
                worstBatch = Math.max(worstBatch, Tensor.relErr(got, want));
            }
        }
        System.out.printf("[%s] batch-2 decoding vs full forward: max rel err %.2e%n", name, worstBatch);
        assertTrue(worstBatch <= 1e-5, name + ": batch decoding " + worstBatch);
    }

    private static double loss64(CausalLM m, int[] ids) {
        Tape tape = Tape.inference();
        return m.loss(tape, m.bind(tape), ids, 1, ids.length).value.get(0);
    }
}
