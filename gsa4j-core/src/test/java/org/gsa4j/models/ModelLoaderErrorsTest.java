package org.gsa4j.models;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.Gsa4jException;
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

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Bad checkpoints and configs give an error naming the file and the field, never something else. */
class ModelLoaderErrorsTest {
    @TempDir
    Path tmp;

    private Path copyOfReference(String name) throws IOException {
        Path src = ReferenceCases.fixture(name);
        Path dir = Files.createDirectories(tmp.resolve(name));
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

    private static void editWeights(Path dir, Consumer<Map<String, Tensor>> edit) {
        Map<String, Tensor> w = new LinkedHashMap<>();
        try (SafeTensors st = SafeTensors.open(dir.resolve("model.safetensors"))) {
            for (String n : st.names()) w.put(n, st.f32(n));
        }
        edit.accept(w);
        SafeTensors.write(dir.resolve("model.safetensors"), w, SafeTensors.DType.F32);
    }

    private static void assertError(Path dir, String... fragments) {
        Gsa4jException e = assertThrows(Gsa4jException.class, () -> ModelLoader.load(dir));
        System.out.println("error as expected: " + e.getMessage());
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "message '" + e.getMessage() + "' lacks '" + f + "'");
    }

    @Test
    void missingTensorIsNamed() throws IOException {
        Path dir = copyOfReference("gsa");
        editWeights(dir, w -> w.remove("model.layers.1.attn.f_proj.weight"));
        assertError(dir, "model.safetensors", "model.layers.1.attn.f_proj.weight", "missing");
    }

    @Test
    void misnamedTensorIsReportedAsUnexpected() throws IOException {
        Path dir = copyOfReference("gsa");
        editWeights(dir, w -> w.put("model.layers.0.attn.q_projection.weight", w.remove("model.layers.0.attn.q_proj.weight")));
        assertError(dir, "model.safetensors", "model.layers.0.attn.q_proj.weight");
    }

    @Test
    void unexpectedTensorIsNamed() throws IOException {
        Path dir = copyOfReference("gsa");
        editWeights(dir, w -> w.put("model.layers.0.attn.bonus.weight", Tensor.zeros(2, 2)));
        assertError(dir, "model.safetensors", "model.layers.0.attn.bonus.weight", "unexpected");
    }

    @Test
    void wrongShapeNamesBothShapes() throws IOException {
        Path dir = copyOfReference("gsa");
        editWeights(dir, w -> w.put("model.layers.0.attn.k_proj.weight", Tensor.zeros(64, 32)));
        assertError(dir, "model.safetensors", "model.layers.0.attn.k_proj.weight", "[64, 32]", "[64, 64]");
    }

    @Test
    void unknownModelTypeIsRefusedByName() throws IOException {
        Path dir = copyOfReference("gsa");
        editConfig(dir, c -> c.put("model_type", "mamba9"));
        assertError(dir, "config.json", "model_type", "mamba9");
    }

    @Test
    void headsMustDivideHiddenSize() throws IOException {
        Path dir = copyOfReference("gsa");
        editConfig(dir, c -> c.put("num_heads", 3));
        assertError(dir, "config.json", "num_heads");
    }

    @Test
    void kvHeadsMustDivideHeads() throws IOException {
        Path dir = copyOfReference("gsa_gqa_conv");
        editConfig(dir, c -> c.put("num_kv_heads", 3));
        assertError(dir, "config.json", "num_kv_heads");
    }

    @Test
    void wrongFieldTypeIsNamed() throws IOException {
        Path dir = copyOfReference("gsa");
        editConfig(dir, c -> c.put("hidden_size", "sixty-four"));
        assertError(dir, "config.json", "hidden_size");
    }

    @Test
    void unknownFeatureMapIsNamed() throws IOException {
        Path dir = copyOfReference("gsa");
        editConfig(dir, c -> c.put("feature_map", "elu"));
        assertError(dir, "config.json", "feature_map", "elu");
    }

    @Test
    void missingConfigAndInvalidJson() throws IOException {
        Path dir = copyOfReference("gsa");
        Files.delete(dir.resolve("config.json"));
        assertError(dir, "config.json");
        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"gsa\",");
        assertError(dir, "config.json", "JSON");
    }

    @Test
    void missingWeightsFileIsNamed() throws IOException {
        Path dir = copyOfReference("gsa");
        Files.delete(dir.resolve("model.safetensors"));
        assertError(dir, "model.safetensors");
    }
}
