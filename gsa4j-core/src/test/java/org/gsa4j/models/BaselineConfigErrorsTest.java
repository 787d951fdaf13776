package org.gsa4j.models;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.Gsa4jException;
import org.gsa4j.config.ConfigReader;
import org.gsa4j.io.SafeTensors;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Bad configs of the baseline architectures give an error naming config.json and the field at fault. */
class BaselineConfigErrorsTest {
    @TempDir
    Path tmp;
    private int copies;

    private Path copyOfReference(String name) throws IOException {
        Path src = ReferenceCases.fixture(name);
        Path dir = Files.createDirectories(tmp.resolve(name + "-" + copies++));
        Files.copy(src.resolve("config.json"), dir.resolve("config.json"));
        Files.copy(src.resolve("model.safetensors"), dir.resolve("model.safetensors"));
        return dir;
    }

    private static void editConfig(Path dir, Consumer<ObjectNode> edit) throws IOException {
        ObjectMapper om = new ObjectMapper();
        ObjectNode cfg = (ObjectNode) om.readTree(dir.resolve("config.json").toFile());
        edit.accept(cfg);
        om.writeValue(dir.resolve("config.json").toFile(), cfg);
    }

    private static void assertError(Path dir, String... fragments) {
        Gsa4jException e = assertThrows(Gsa4jException.class, () -> ModelLoader.load(dir));
        System.out.println("error as expected: " + e.getMessage());
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "message '" + e.getMessage() + "' lacks '" + f + "'");
    }

    /** A config-only error: config.json and the quoted field must be named. */
    private void assertConfigError(String reference, Consumer<ObjectNode> edit, String field, String... more) throws IOException {
        Path dir = copyOfReference(reference);
        editConfig(dir, edit);
        String[] all = new String[more.length + 2];
        all[0] = "config.json";
        all[1] = "field '" + field + "'";
        System.arraycopy(more, 0, all, 2, more.length);
        assertError(dir, all);
    }

    @Test
    void llamaScaledRopeIsRefused() throws IOException {
        assertConfigError("llama", c -> ((ObjectNode) c.get("rope_parameters")).put("rope_type", "linear"),
                "rope_parameters.rope_type", "linear");
        assertConfigError("llama", c -> c.putObject("rope_scaling").put("type", "dynamic").put("factor", 2.0),
                "rope_scaling.rope_type", "dynamic");
    }

    @Test
    void llamaOlderTopLevelRopeThetaIsRead() throws IOException {
        Path dir = copyOfReference("llama");
        editConfig(dir, c -> {
            c.remove("rope_parameters");
            c.put("rope_theta", -1.0);
        });
        assertError(dir, "config.json", "field 'rope_theta'", "positive");
    }

    @Test
    void llamaBiasesAreRefused() throws IOException {
        assertConfigError("llama", c -> c.put("attention_bias", true), "attention_bias");
        assertConfigError("llama", c -> c.put("mlp_bias", true), "mlp_bias");
    }

    @Test
    void llamaHeadsMustDivide() throws IOException {
        assertConfigError("llama", c -> {
            c.remove("head_dim");
            c.put("num_attention_heads", 3);
            c.put("num_key_value_heads", 1);
        }, "num_attention_heads", "hidden_size 64");
        assertConfigError("llama", c -> c.put("num_key_value_heads", 3), "num_key_value_heads");
        assertConfigError("llama", c -> c.put("head_dim", 15), "head_dim", "even");
        assertConfigError("llama", c -> c.put("hidden_act", "gelu"), "hidden_act");
    }

    @Test
    void mistralWindowIsValidated() throws IOException {
        assertConfigError("llama", c -> {
            c.put("model_type", "mistral");
            c.put("sliding_window", -4);
        }, "sliding_window");
    }

    @Test
    void mistralDefaultsFollowTransformers() throws IOException {
        // no num_key_value_heads: transformers' Mistral default is 8 kv heads, which 4 query heads cannot take
        assertConfigError("llama", c -> {
            c.put("model_type", "mistral");
            c.remove("num_key_value_heads");
        }, "num_key_value_heads", "8 does not divide");
    }

    @Test
    void mistralLoadsLlamaWeights() throws IOException {
        Path dir = copyOfReference("llama");
        editConfig(dir, c -> {
            c.put("model_type", "mistral");
            c.put("sliding_window", 8);
        });
        CausalLM lm = ModelLoader.load(dir);
        assertEquals("mistral", lm.config.modelType());
    }

    @Test
    void glaFieldsAreValidated() throws IOException {
        assertConfigError("gla", c -> c.put("num_heads", 3), "num_heads", "32");
        assertConfigError("gla", c -> c.put("num_kv_heads", 3), "num_kv_heads");
        assertConfigError("gla", c -> c.put("feature_map", "elu"), "feature_map", "elu");
        assertConfigError("gla", c -> c.put("attn_mode", "parallel"), "attn_mode");
        assertConfigError("gla", c -> c.put("clamp_min", 0.5), "clamp_min");
        assertConfigError("gla", c -> c.put("expand_k", 0.0), "expand_k");
    }

    @Test
    void retnetFieldsAreValidated() throws IOException {
        assertConfigError("retnet", c -> c.put("num_heads", 3), "num_heads");
        assertConfigError("retnet", c -> c.put("num_kv_heads", 3), "num_kv_heads");
        assertConfigError("retnet", c -> c.put("expand_k", 9.0), "expand_k", "256");
    }

    @Test
    void hgrn2FieldsAreValidated() throws IOException {
        assertConfigError("hgrn2", c -> c.put("expand_ratio", 128), "expand_ratio", "hidden_size 64");
        assertConfigError("hgrn2", c -> c.put("expand_ratio", 20), "expand_ratio", "3 heads, which do not divide");
        assertConfigError("hgrn2", c -> {
            c.remove("expand_ratio");
            c.put("num_heads", 3);
        }, "num_heads", "hidden_size 64");
    }

    @Test
    void hgrn2LowerBoundsAreRequiredOnlyWhenUsed() throws IOException {
        Path dir = copyOfReference("hgrn2");
        Map<String, Tensor> w = new LinkedHashMap<>();
        try (SafeTensors st = SafeTensors.open(dir.resolve("model.safetensors"))) {
            for (String n : st.names()) w.put(n, st.f32(n));
        }
        w.remove("model.lower_bounds");
        SafeTensors.write(dir.resolve("model.safetensors"), w, SafeTensors.DType.F32);
        assertError(dir, "model.safetensors", "model.lower_bounds", "missing");
        editConfig(dir, c -> c.put("use_lower_bound", false));
        assertEquals("hgrn2", ModelLoader.load(dir).config.modelType());
    }

    /** A config on its own (no weights needed to refuse it), read through the architecture registry. */
    private static void assertArchitectureError(ObjectNode cfg, String... fragments) {
        Path file = Path.of("some-model", "config.json");
        Gsa4jException e = assertThrows(Gsa4jException.class, () -> ModelRegistry.build(ModelRegistry.fromJson(new ConfigReader(file, cfg))));
        System.out.println("error as expected: " + e.getMessage());
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "message '" + e.getMessage() + "' lacks '" + f + "'");
    }

    @Test
    void transformerHeadsMustDivideHiddenSize() {
        ObjectNode cfg = new ObjectMapper().createObjectNode();
        cfg.put("model_type", "transformer").put("hidden_size", 64).put("num_heads", 3).put("num_hidden_layers", 1).put("vocab_size", 32);
        assertArchitectureError(cfg, "config.json", "field 'num_heads'", "hidden_size 64");
        cfg.put("num_heads", 4).put("num_kv_heads", 3);
        assertArchitectureError(cfg, "config.json", "field 'num_kv_heads'");
        cfg.put("num_kv_heads", 2).put("window_size", 0);
        assertArchitectureError(cfg, "config.json", "field 'window_size'");
    }

    @Test
    void hybridAttentionIsValidated() throws IOException {
        assertConfigError("gla", c -> c.putObject("attn").putArray("layers").add(1), "attn.num_heads", "required");
        assertConfigError("gla", c -> {
            ObjectNode a = c.putObject("attn");
            a.put("num_heads", 4);
            a.putArray("layers").add(0).add(2);
        }, "attn.layers[1]", "[0, 2)");
        assertConfigError("gsa", c -> {
            var list = c.putArray("attn");
            list.addObject().put("num_heads", 4).putArray("layers").add(0);
            list.addObject().put("num_heads", 2).putArray("layers").add(0);
        }, "attn[1].layers[0]", "twice");
        assertConfigError("hgrn2", c -> {
            ObjectNode a = c.putObject("attn");
            a.put("num_heads", 3);
            a.putArray("layers").add(1);
        }, "attn.num_heads", "hidden_size 64");
    }

    @Test
    void unknownModelTypeListsTheSupportedOnes() throws IOException {
        assertConfigError("gla", c -> c.put("model_type", "mamba2"), "model_type", "mamba2", "retnet", "llama");
    }
}
