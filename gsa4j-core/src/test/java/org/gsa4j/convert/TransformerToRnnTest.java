package org.gsa4j.convert;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.Gsa4jException;
import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.config.LlamaConfig;
import org.gsa4j.convert.TransformerToRnn.Options;
import org.gsa4j.convert.TransformerToRnn.Target;
import org.gsa4j.io.HfModelDir;
import org.gsa4j.io.SafeTensors;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.models.ReferenceCases;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Llama → GSA/GLA/RetNet conversion: shapes, carried-over weights, a working model, refusals, streaming. */
class TransformerToRnnTest {
    @TempDir
    Path tmp;

    private static Options options(Target target, int slots, String featureMap, long maxShard) {
        return new Options(target, slots, featureMap, 11, maxShard);
    }

    /** Every Llama/Mistral case of the reference folder, converted to each target: one test per case and target. */
    @TestFactory
    List<DynamicTest> everyReferenceTransformerConverts() throws IOException {
        List<Path> sources = ReferenceCases.transformerCases();
        assertFalse(sources.isEmpty(), "no llama/mistral case under " + ReferenceCases.root().resolve("models"));
        System.out.println("T2R: " + sources.size() + " reference transformer cases " + sources.stream().map(p -> p.getFileName().toString()).toList());
        List<DynamicTest> tests = new ArrayList<>();
        for (Path src : sources) {
            String name = src.getFileName().toString();
            tests.add(DynamicTest.dynamicTest(name + " -> gsa", () -> toGsaKeepsTheTransformerWeightsAndTrains(src)));
            tests.add(DynamicTest.dynamicTest(name + " -> gla, retnet", () -> toGlaAndRetNetLoadAndTrain(src)));
        }
        return tests;
    }

    private void toGsaKeepsTheTransformerWeightsAndTrains(Path source) throws Exception {
        Path out = tmp.resolve(source.getFileName() + "-gsa");
        TransformerToRnn.convert(source, out, options(Target.GSA, 16, "swish", 0));
        CausalLM gsa = ModelLoader.load(out);
        assertEquals("gsa", gsa.config.modelType());
        LlamaConfig llama = (LlamaConfig) ModelLoader.load(source).config;
        int last = llama.numLayers() - 1;
        assertArrayEquals(new int[] {llama.numKeyValueHeads() * 16, llama.hiddenSize()},
                gsa.params().get("model.layers.0.attn.f_proj.weight").shape, "f_proj: kv heads × slots");
        try (HfModelDir src = HfModelDir.open(source)) {
            assertArrayEquals(src.f32("model.layers." + last + ".self_attn.k_proj.weight").f,
                    gsa.params().get("model.layers." + last + ".attn.k_proj.weight").f);
            assertArrayEquals(src.f32("model.embed_tokens.weight").f, gsa.params().get("model.embeddings.weight").f);
            assertArrayEquals(src.f32("model.layers.0.post_attention_layernorm.weight").f, gsa.params().get("model.layers.0.mlp_norm.weight").f);
        }
        assertDecreasingLoss(gsa);
    }

    private void toGlaAndRetNetLoadAndTrain(Path source) throws Exception {
        for (Target target : new Target[] {Target.GLA, Target.RETNET}) {
            Path out = tmp.resolve(source.getFileName() + "-" + target.name());
            TransformerToRnn.convert(source, out, options(target, 0, "relu", 0));
            CausalLM model = ModelLoader.load(out);
            assertEquals(target.name().toLowerCase(java.util.Locale.ROOT), model.config.modelType());
            try (HfModelDir src = HfModelDir.open(source)) {
                assertArrayEquals(src.f32("model.layers.0.self_attn.q_proj.weight").f, model.params().get("model.layers.0.attn.q_proj.weight").f);
            }
            assertDecreasingLoss(model);
        }
    }

    /** A few plain gradient steps on one batch must lower the loss: the converted model is trainable end to end. */
    static void assertDecreasingLoss(CausalLM model) {
        int[] ids = new int[2 * 32];
        SplittableRandom rng = new SplittableRandom(3);
        for (int i = 0; i < ids.length; i++) ids[i] = rng.nextInt(model.config.vocabSize());
        double first = Double.NaN, last = Double.NaN;
        for (int step = 0; step < 8; step++) {
            Tape tape = Tape.recording();
            Map<String, Var> p = model.bind(tape);
            Var loss = model.loss(tape, p, ids, 2, 32);
            tape.backward(loss);
            double l = loss.value.get(0);
            assertTrue(Double.isFinite(l), "loss " + l);
            if (step == 0) first = l;
            last = l;
            for (var e : p.entrySet()) {
                Tensor g = e.getValue().grad();
                if (g == null) continue;
                float[] w = model.params().get(e.getKey()).f;
                for (int i = 0; i < w.length; i++) w[i] -= 0.05f * g.f[i];
            }
        }
        System.out.printf("%s after conversion: loss %.4f -> %.4f in 8 steps%n", model.config.modelType(), first, last);
        assertTrue(last < first - 0.1, "loss did not decrease: " + first + " -> " + last);
    }

    @Test
    void shardedBf16SourceConvertsStreamingIntoShards() throws IOException {
        Path src = tmp.resolve("llama-sharded");
        Map<String, Tensor> w = syntheticLlama(6, 32, 4, 2, 48, 50);
        HfModelDir.save(src, llamaConfig(6, 32, 4, 2, 48, 50), w, n -> SafeTensors.DType.BF16, 6_000);
        assertTrue(Files.exists(src.resolve("model.safetensors.index.json")));
        Path out = tmp.resolve("gsa-sharded");
        TransformerToRnn.convert(src, out, options(Target.GSA, 8, "swish", 6_000));
        try (Stream<Path> files = Files.list(out)) {
            long shards = files.filter(f -> f.getFileName().toString().matches("model-\\d{5}-of-\\d{5}\\.safetensors")).count();
            assertTrue(shards > 3, "expected a sharded output, found " + shards + " shards");
        }
        CausalLM gsa = ModelLoader.load(out);
        try (HfModelDir s = HfModelDir.open(src)) {
            for (int l = 0; l < 6; l++) {
                assertArrayEquals(s.f32("model.layers." + l + ".self_attn.q_proj.weight").f,
                        gsa.params().get("model.layers." + l + ".attn.q_proj.weight").f);
                assertArrayEquals(s.f32("model.layers." + l + ".mlp.down_proj.weight").f,
                        gsa.params().get("model.layers." + l + ".mlp.down_proj.weight").f);
            }
        }
        try (HfModelDir o = HfModelDir.open(out)) {
            assertEquals(SafeTensors.DType.BF16, o.dtype("model.layers.0.attn.f_proj.weight"), "new parameters take the source dtype");
        }
    }

    @Test
    void unsupportedSourcesAreRefusedByField() throws Exception {
        assertRefused(c -> c.put("attention_bias", true), null, "attention_bias");
        assertRefused(c -> c.putObject("rope_parameters").put("rope_type", "yarn").put("rope_theta", 1e4), null, "yarn");
        assertRefused(c -> c.put("model_type", "gpt2"), null, "model_type");
        assertRefused(c -> c.put("hidden_act", "gelu"), null, "hidden_act");
        assertRefused(null, w -> w.put("model.layers.0.self_attn.q_norm.weight", Tensor.zeros(8)), "q_norm");
    }

    private void assertRefused(Consumer<ObjectNode> editConfig, Consumer<Map<String, Tensor>> editWeights, String fragment) {
        Path src = tmp.resolve("bad-" + fragment.replaceAll("\\W", ""));
        ObjectNode cfg = llamaConfig(1, 16, 2, 2, 24, 20);
        Map<String, Tensor> w = syntheticLlama(1, 16, 2, 2, 24, 20);
        if (editConfig != null) editConfig.accept(cfg);
        if (editWeights != null) editWeights.accept(w);
        HfModelDir.save(src, cfg, w, SafeTensors.DType.F32);
        Gsa4jException e = assertThrows(Gsa4jException.class,
                () -> TransformerToRnn.convert(src, tmp.resolve("out-" + fragment.replaceAll("\\W", "")), options(Target.GSA, 4, "swish", 0)));
        System.out.println("refused as expected: " + e.getMessage());
        assertTrue(e.getMessage().contains(fragment), e.getMessage());
    }

    static ObjectNode llamaConfig(int layers, int d, int heads, int kvHeads, int inter, int vocab) {
        ObjectNode c = new ObjectMapper().createObjectNode();
        c.put("model_type", "llama");
        c.put("hidden_size", d);
        c.put("num_hidden_layers", layers);
        c.put("num_attention_heads", heads);
        c.put("num_key_value_heads", kvHeads);
        c.put("intermediate_size", inter);
        c.put("vocab_size", vocab);
        c.put("rms_norm_eps", 1e-5);
        c.put("hidden_act", "silu");
        c.put("tie_word_embeddings", false);
        return c;
    }

    static Map<String, Tensor> syntheticLlama(int layers, int d, int heads, int kvHeads, int inter, int vocab) {
        SplittableRandom rng = new SplittableRandom(1);
        int hd = d / heads;
        Map<String, Tensor> w = new LinkedHashMap<>();
        w.put("model.embed_tokens.weight", Tensor.randn(rng, 0.5, vocab, d));
        for (int l = 0; l < layers; l++) {
            String p = "model.layers." + l + ".";
            w.put(p + "input_layernorm.weight", Tensor.randn(rng, 0.1, d));
            w.put(p + "self_attn.q_proj.weight", Tensor.randn(rng, 0.2, heads * hd, d));
            w.put(p + "self_attn.k_proj.weight", Tensor.randn(rng, 0.2, kvHeads * hd, d));
            w.put(p + "self_attn.v_proj.weight", Tensor.randn(rng, 0.2, kvHeads * hd, d));
            w.put(p + "self_attn.o_proj.weight", Tensor.randn(rng, 0.2, d, heads * hd));
            w.put(p + "post_attention_layernorm.weight", Tensor.randn(rng, 0.1, d));
            w.put(p + "mlp.gate_proj.weight", Tensor.randn(rng, 0.2, inter, d));
            w.put(p + "mlp.up_proj.weight", Tensor.randn(rng, 0.2, inter, d));
            w.put(p + "mlp.down_proj.weight", Tensor.randn(rng, 0.2, d, inter));
        }
        w.put("model.norm.weight", Tensor.randn(rng, 0.1, d));
        w.put("lm_head.weight", Tensor.randn(rng, 0.2, vocab, d));
        return w;
    }
}
