package org.gsa4j.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.Gsa4jException;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

class HfModelDirTest {

    static final Path MODELS = SafeTensorsTest.MODELS;

    @TempDir
    Path tmp;

    static Gsa4jException fails(org.junit.jupiter.api.function.Executable ex, String... fragments) {
        Gsa4jException e = assertThrows(Gsa4jException.class, ex);
        for (String f : fragments) assertTrue(e.getMessage().contains(f), "message must contain '" + f + "': " + e.getMessage());
        return e;
    }

    static Map<String, Tensor> weights(long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        Map<String, Tensor> w = new LinkedHashMap<>();
        w.put("model.embeddings.weight", Tensor.randn(rng, 1, 16, 8));
        w.put("model.layers.0.attn.q_proj.weight", Tensor.randn(rng, 1, 8, 8));
        w.put("model.layers.0.attn.g_norm.weight", Tensor.randn(rng, 1, 8));
        w.put("model.layers.0.mlp.gate_proj.weight", Tensor.randn(rng, 1, 32, 8));
        w.put("model.norm.weight", Tensor.randn(rng, 1, 8));
        w.put("lm_head.weight", Tensor.randn(rng, 1, 16, 8));
        return w;
    }

    ObjectNode config() {
        ObjectNode c = HfModelDir.JSON.createObjectNode();
        c.put("model_type", "gsa").put("hidden_size", 8).put("norm_eps", 1e-6).put("tie_word_embeddings", false);
        c.putNull("num_kv_heads");
        c.putObject("attn").put("num_heads", 2).putArray("layers").add(1).add(3);
        return c;
    }

    Path dirWithConfig(String configText) throws IOException {
        Path d = Files.createDirectories(tmp.resolve("m"));
        Files.writeString(d.resolve("config.json"), configText);
        return d;
    }

    // ---------------------------------------------------------------- reference dirs

    @Test void opensEveryReferenceModelDir() throws IOException {
        List<Path> dirs;
        try (Stream<Path> s = Files.list(MODELS)) {
            dirs = s.filter(Files::isDirectory).sorted().toList();
        }
        for (Path d : dirs) {
            try (HfModelDir m = HfModelDir.open(d)) {
                assertFalse(m.sharded());
                assertNotNull(m.modelType(), d.toString());
                int vocab = m.configJson().get("vocab_size").asInt();
                int d0 = m.configJson().get("hidden_size").asInt();
                String emb = m.has("model.embeddings.weight") ? "model.embeddings.weight" : "model.embed_tokens.weight";
                assertEquals(vocab * d0, m.expect(emb, vocab, d0).size(), d.toString());
                for (String n : m.tensorNames()) assertArrayEquals(m.shape(n), m.f32(n).shape);
            }
        }
        try (HfModelDir m = HfModelDir.open(MODELS.resolve("gsa_bf16"))) {
            assertEquals(SafeTensors.DType.BF16, m.dtype("lm_head.weight"));
            assertEquals("gsa", m.modelType());
        }
    }

    /** transformers' config.json text is reproduced byte for byte (sorted keys, indent 2, Python float repr). */
    @Test void pyJsonReproducesReferenceConfigs() throws IOException {
        try (Stream<Path> s = Files.list(MODELS)) {
            for (Path d : s.filter(Files::isDirectory).sorted().toList()) {
                if (d.getFileName().toString().equals("gsa_legacy_layout")) continue; // hand-edited: unsorted, no final newline
                String text = Files.readString(d.resolve("config.json"));
                assertEquals(text, PyJson.dumps(HfModelDir.readJson(d.resolve("config.json"))), d.toString());
            }
        }
    }

    @Test void pythonFloatRepr() {
        assertEquals("1e-06", PyJson.floatRepr(1e-6));
        assertEquals("0.0001", PyJson.floatRepr(1e-4));
        assertEquals("1e-05", PyJson.floatRepr(1e-5));
        assertEquals("0.02", PyJson.floatRepr(0.02));
        assertEquals("10000.0", PyJson.floatRepr(10000.0));
        assertEquals("1e+16", PyJson.floatRepr(1e16));
        assertEquals("1000000000000000.0", PyJson.floatRepr(1e15));
        assertEquals("-2.5", PyJson.floatRepr(-2.5));
        assertEquals("1.2345e-07", PyJson.floatRepr(1.2345e-7));
        assertEquals("0.1", PyJson.floatRepr(0.1));
        assertEquals("-0.0", PyJson.floatRepr(-0.0));
        assertEquals("\"\\u00e9\\n\"\n", PyJson.dumps(HfModelDir.JSON.getNodeFactory().textNode("é\n")));
    }

    // ---------------------------------------------------------------- config errors

    @Test void missingConfig() throws IOException {
        Path d = Files.createDirectories(tmp.resolve("empty"));
        fails(() -> HfModelDir.open(d), "config.json", "missing");
        fails(() -> HfModelDir.open(tmp.resolve("nope")), "nope", "not a directory");
    }

    @Test void invalidConfigJson() throws IOException {
        Path d = dirWithConfig("{\"hidden_size\": 64,");
        fails(() -> HfModelDir.open(d), "config.json", "invalid JSON");
        Files.writeString(d.resolve("config.json"), "[1]");
        fails(() -> HfModelDir.open(d), "config.json", "JSON object");
        Files.writeString(d.resolve("config.json"), "{\"a\":1,\"a\":2}");
        fails(() -> HfModelDir.open(d), "config.json", "invalid JSON");
    }

    // ---------------------------------------------------------------- weights errors

    @Test void noWeights() throws IOException {
        Path d = dirWithConfig("{}");
        fails(() -> HfModelDir.open(d), "model.safetensors", "model.safetensors.index.json");
        Files.write(d.resolve("pytorch_model.bin"), new byte[4]);
        fails(() -> HfModelDir.open(d), "pickle");
    }

    @Test void missingTensorAndShapeMismatch() {
        Path d = tmp.resolve("m");
        HfModelDir.save(d, config(), weights(1), SafeTensors.DType.F32);
        try (HfModelDir m = HfModelDir.open(d)) {
            fails(() -> m.expect("model.layers.9.attn.q_proj.weight", 8, 8), "model.safetensors", "missing tensor model.layers.9.attn.q_proj.weight");
            fails(() -> m.f32("nope"), "model.safetensors", "missing tensor nope");
            fails(() -> m.expect("model.layers.0.attn.q_proj.weight", 8, 4), "model.safetensors",
                    "model.layers.0.attn.q_proj.weight", "[8, 8]", "[8, 4]");
            assertEquals(64, m.expect("model.layers.0.attn.q_proj.weight", 8, 8).size());
        }
    }

    @Test void corruptWeightsFileNamesIt() throws IOException {
        Path d = tmp.resolve("m");
        HfModelDir.save(d, config(), weights(1), SafeTensors.DType.F32);
        Files.write(d.resolve("model.safetensors"), new byte[]{(byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF, 1, 2, 3, 4, 5, 6});
        fails(() -> HfModelDir.open(d), "model.safetensors", "header length");
    }

    Path shardedDir(String index) throws IOException {
        Path d = dirWithConfig("{\"model_type\":\"gsa\"}");
        SafeTensors.write(d.resolve("a.safetensors"), Map.of("x", Tensor.zeros(2)), SafeTensors.DType.F32);
        Files.writeString(d.resolve(HfModelDir.INDEX), index);
        return d;
    }

    @Test void indexShardEscapesRefused() throws IOException {
        Path outside = tmp.resolve("evil.safetensors");
        SafeTensors.write(outside, Map.of("x", Tensor.zeros(2)), SafeTensors.DType.F32);
        for (String shard : List.of("../evil.safetensors", "sub/../../evil.safetensors", "..\\\\evil.safetensors",
                outside.toAbsolutePath().toString(), "/etc/passwd", "C:\\\\x.safetensors")) {
            Path d = shardedDir("{\"weight_map\":{\"x\":\"" + shard + "\"}}");
            fails(() -> HfModelDir.open(d), HfModelDir.INDEX, "weight_map.x");
        }
    }

    @Test void indexMalformed() throws IOException {
        fails(() -> HfModelDir.open(shardedDir("{\"metadata\":{}}")), HfModelDir.INDEX, "weight_map", "missing");
        fails(() -> HfModelDir.open(shardedDir("{\"weight_map\":[]}")), HfModelDir.INDEX, "weight_map");
        fails(() -> HfModelDir.open(shardedDir("{\"weight_map\":{\"x\":5}}")), HfModelDir.INDEX, "weight_map.x", "string");
        fails(() -> HfModelDir.open(shardedDir("{\"weight_map\":")), HfModelDir.INDEX, "invalid JSON");
        fails(() -> HfModelDir.open(shardedDir("{\"weight_map\":{\"x\":\"a.safetensors\",\"x\":\"a.safetensors\"}}")), HfModelDir.INDEX);
    }

    @Test void indexMissingShardOrTensor() throws IOException {
        fails(() -> HfModelDir.open(shardedDir("{\"weight_map\":{\"x\":\"gone.safetensors\"}}")), HfModelDir.INDEX, "weight_map.x", "gone.safetensors", "does not exist");
        fails(() -> HfModelDir.open(shardedDir("{\"weight_map\":{\"x\":\"a.safetensors\",\"y\":\"a.safetensors\"}}")),
                HfModelDir.INDEX, "weight_map.y", "a.safetensors", "does not contain");
        try (HfModelDir m = HfModelDir.open(shardedDir("{\"weight_map\":{\"x\":\"a.safetensors\"}}"))) {
            assertTrue(m.sharded());
            assertEquals(Set.of("x"), m.tensorNames());
            fails(() -> m.f32("y"), HfModelDir.INDEX, "missing tensor y");
        }
    }

    // ---------------------------------------------------------------- saving

    @Test void saveAndReopenF32Exact() throws IOException {
        Path d = tmp.resolve("m");
        Map<String, Tensor> w = weights(2);
        HfModelDir.save(d, config(), w, SafeTensors.DType.F32);
        String cfg = Files.readString(d.resolve("config.json"));
        assertTrue(cfg.startsWith("{\n  \"attn\": {\n    \"layers\": [\n      1,\n      3\n    ],"), cfg);
        assertTrue(cfg.contains("\"norm_eps\": 1e-06,") && cfg.endsWith("}\n"), cfg);
        try (HfModelDir m = HfModelDir.open(d)) {
            assertEquals(w.keySet(), m.tensorNames());
            for (var e : w.entrySet()) assertArrayEquals(e.getValue().f, m.expect(e.getKey(), e.getValue().shape).f);
            assertEquals(config(), m.configJson());
        }
    }

    @Test void saveMapConfigBf16() {
        Path d = tmp.resolve("m");
        Map<String, Tensor> w = weights(3);
        HfModelDir.save(d, Map.of("model_type", "gsa", "hidden_size", 8), w, SafeTensors.DType.BF16);
        try (HfModelDir m = HfModelDir.open(d)) {
            assertEquals(8, m.configJson().get("hidden_size").asInt());
            for (var e : w.entrySet()) {
                assertEquals(SafeTensors.DType.BF16, m.dtype(e.getKey()));
                assertTrue(Tensor.relErr(m.f32(e.getKey()), e.getValue()) < 4e-3, e.getKey());
            }
        }
    }

    @Test void shardedSaveAndReadRoundTrip() throws IOException {
        Path d = tmp.resolve("m");
        Map<String, Tensor> w = weights(4);
        // mixed dtype: g_norm stays F32 in a BF16 checkpoint
        java.util.function.Function<String, SafeTensors.DType> dt =
                n -> n.endsWith("g_norm.weight") ? SafeTensors.DType.F32 : SafeTensors.DType.BF16;
        HfModelDir.save(d, config(), w, dt, 300); // embeddings 256 B, q 128 B, g_norm 32 B, gate 512 B (own shard), ...
        assertFalse(Files.exists(d.resolve("model.safetensors")));
        JsonNode idx = HfModelDir.readJson(d.resolve(HfModelDir.INDEX));
        long total = 0;
        for (var e : w.entrySet()) total += SafeTensors.byteSize(e.getValue(), dt.apply(e.getKey()));
        assertEquals(total, idx.get("metadata").get("total_size").asLong());
        assertEquals("model-00001-of-00004.safetensors", idx.get("weight_map").get("model.embeddings.weight").asText());
        // as huggingface_hub does: an oversized tensor's shard is emitted before the shard being filled
        assertEquals("model-00002-of-00004.safetensors", idx.get("weight_map").get("model.layers.0.mlp.gate_proj.weight").asText());
        assertEquals("model-00003-of-00004.safetensors", idx.get("weight_map").get("model.layers.0.attn.q_proj.weight").asText());
        assertEquals("model-00004-of-00004.safetensors", idx.get("weight_map").get("lm_head.weight").asText());
        String text = Files.readString(d.resolve(HfModelDir.INDEX));
        assertTrue(text.startsWith("{\n  \"metadata\": {\n    \"total_size\": " + total + "\n  },\n  \"weight_map\": {\n    \"lm_head.weight\": "), text);
        try (HfModelDir m = HfModelDir.open(d)) {
            assertTrue(m.sharded());
            assertEquals(4, m.weightFiles().size());
            assertEquals(w.keySet(), m.tensorNames());
            assertEquals(SafeTensors.DType.F32, m.dtype("model.layers.0.attn.g_norm.weight"));
            assertArrayEquals(w.get("model.layers.0.attn.g_norm.weight").f, m.f32("model.layers.0.attn.g_norm.weight").f);
            for (var e : w.entrySet()) assertTrue(Tensor.relErr(m.expect(e.getKey(), e.getValue().shape), e.getValue()) < 4e-3);
            assertEquals(d.resolve("model-00002-of-00004.safetensors"), m.fileOf("model.layers.0.mlp.gate_proj.weight"));
        }
        // re-saving unsharded removes the index and shards; re-sharding removes the single file
        HfModelDir.save(d, config(), w, SafeTensors.DType.F32);
        try (Stream<Path> s = Files.list(d)) {
            assertEquals(Set.of("config.json", "model.safetensors"), Set.copyOf(s.map(p -> p.getFileName().toString()).toList()));
        }
        HfModelDir.save(d, config(), w, n -> SafeTensors.DType.F32, 1 << 20); // one shard → plain model.safetensors
        assertFalse(Files.exists(d.resolve(HfModelDir.INDEX)));
        HfModelDir.save(d, config(), w, n -> SafeTensors.DType.F32, 600);
        assertFalse(Files.exists(d.resolve("model.safetensors")));
        try (HfModelDir m = HfModelDir.open(d)) {
            for (var e : w.entrySet()) assertArrayEquals(e.getValue().f, m.f32(e.getKey()).f);
        }
    }

    /** huggingface_hub's own test_multiple_shards: sizes 6, 10, 30, 2, 2 with a limit of 10. */
    @Test void splitMatchesHuggingfaceHub() {
        Map<String, SafeTensors.Pending> w = new LinkedHashMap<>();
        int[] elems = {3, 5, 15, 1, 1}; // BF16: 6, 10, 30, 2, 2 bytes
        for (int i = 0; i < elems.length; i++) {
            Tensor t = Tensor.zeros(elems[i]);
            w.put("layer_" + (i + 1), new SafeTensors.Pending(SafeTensors.DType.BF16, t.shape, () -> t));
        }
        List<Map<String, SafeTensors.Pending>> shards = HfModelDir.split(w, 10);
        assertEquals(List.of(List.of("layer_1"), List.of("layer_3"), List.of("layer_2"), List.of("layer_4", "layer_5")),
                shards.stream().map(m -> List.copyOf(m.keySet())).toList());
    }

    @Test void emptyWeightsAreAValidSingleFile() {
        Path d = tmp.resolve("m");
        HfModelDir.save(d, config(), Map.of(), SafeTensors.DType.F32);
        try (HfModelDir m = HfModelDir.open(d)) {
            assertTrue(m.tensorNames().isEmpty());
        }
    }

    /** Hugging Face cache snapshots are symlinks into ../../blobs: a symlinked shard named inside the directory is fine. */
    @Test void symlinkedShardInsideDirIsAllowed() throws IOException {
        Path blobs = Files.createDirectories(tmp.resolve("blobs"));
        SafeTensors.write(blobs.resolve("abc123"), Map.of("x", Tensor.of(new float[]{7}, 1)), SafeTensors.DType.F32);
        Path d = dirWithConfig("{}");
        try {
            Files.createSymbolicLink(d.resolve("model-00001-of-00001.safetensors"), blobs.resolve("abc123"));
        } catch (UnsupportedOperationException | IOException e) {
            return; // no symlinks on this file system
        }
        Files.writeString(d.resolve(HfModelDir.INDEX), "{\"weight_map\":{\"x\":\"model-00001-of-00001.safetensors\"}}");
        try (HfModelDir m = HfModelDir.open(d)) {
            assertArrayEquals(new float[]{7}, m.f32("x").f);
        }
    }

    /** transformers looks for model.safetensors before the index; so do we. */
    @Test void singleFileWinsOverIndex() throws IOException {
        Path d = shardedDir("{\"weight_map\":{\"x\":\"a.safetensors\"}}");
        SafeTensors.write(d.resolve("model.safetensors"), Map.of("y", Tensor.zeros(1)), SafeTensors.DType.F32);
        try (HfModelDir m = HfModelDir.open(d)) {
            assertFalse(m.sharded());
            assertEquals(Set.of("y"), m.tensorNames());
        }
    }
}
