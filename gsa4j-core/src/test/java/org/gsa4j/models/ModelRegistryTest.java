package org.gsa4j.models;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.Gsa4jException;
import org.gsa4j.config.ConfigException;
import org.gsa4j.config.ConfigReader;
import org.gsa4j.config.GsaConfig;
import org.gsa4j.config.HybridAttention;
import org.gsa4j.config.LmConfig;
import org.gsa4j.config.ModelConfig;
import org.gsa4j.config.ModelSize;
import org.gsa4j.layers.ParamSpec;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The typed configs and the one registry: round trips, unknown fields, presets, validation by field. */
class ModelRegistryTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static ModelConfig read(Path file) throws IOException {
        return ModelRegistry.fromJson(new ConfigReader(file, JSON.readTree(file.toFile())));
    }

    /** Every reference config reads, writes every field back, keeps what it does not model, and reads back equal. */
    @Test
    void everyReferenceConfigRoundTrips() throws IOException {
        List<Path> cases = ReferenceCases.modelCases();
        for (Path dir : cases) {
            Path file = dir.resolve("config.json");
            JsonNode original = JSON.readTree(file.toFile());
            ModelConfig config = read(file);
            ObjectNode written = config.toJson();
            assertEquals(original.get("model_type"), written.get("model_type"), dir.toString());
            ModelConfig again = ModelRegistry.fromJson(new ConfigReader(file, written));
            assertEquals(config, again, dir + ": a config read back from its JSON must be equal");
            assertEquals(written, again.toJson(), dir.toString());
            // every field of the original is in the output: modelled ones (possibly normalised), unknown ones as they were
            original.properties().forEach(e -> {
                assertTrue(written.has(e.getKey()), dir + " lost " + e.getKey());
                if (config.extra().containsKey(e.getKey())) assertEquals(e.getValue(), written.get(e.getKey()), dir + ": " + e.getKey());
            });
            // the same model: the same parameters
            assertEquals(names(ModelRegistry.build(config)), names(ModelRegistry.build(again)), dir.toString());
        }
        System.out.println("round trip: " + cases.size() + " reference configs");
        assertFalse(cases.isEmpty());
    }

    private static List<String> names(ModelRegistry.Architecture arch) {
        List<String> out = new ArrayList<>();
        for (ParamSpec s : CausalLM.paramSpecs(arch)) out.add(s.name() + java.util.Arrays.toString(s.shape()));
        return out;
    }

    @Test
    void unknownFieldsAreKeptAndNeverShadowAModelledOne() {
        ObjectNode json = ModelRegistry.preset("gsa", new ModelSize(32, 16, 1, 2, 4, 0)).toJson();
        json.put("torch_dtype", "bfloat16");
        json.putArray("architectures").add("GSAForCausalLM");
        ModelConfig c = ModelRegistry.fromJson(json);
        assertEquals(List.of("torch_dtype", "architectures"), List.copyOf(c.extra().keySet()));
        assertEquals(json, c.toJson());
    }

    @Test
    void everyModelTypeHasAPresetThatBuilds() {
        List<String> types = ModelRegistry.modelTypes();
        assertEquals(List.of("gsa", "gla", "retnet", "hgrn2", "transformer", "llama", "mistral"), types);
        for (String type : types) {
            ModelConfig c = ModelRegistry.preset(type, new ModelSize(50, 32, 2, 2, 8, 0));
            assertEquals(type, c.modelType());
            assertEquals(64 * 2, c.intermediateSize(), type + ": 4·d·2/3 rounded up to 64");
            assertEquals(c, ModelRegistry.fromJson(c.toJson()), type);
            assertEquals(2, ModelRegistry.build(c).mixers().length, type);
        }
        Gsa4jException e = assertThrows(Gsa4jException.class, () -> ModelRegistry.preset("mamba", new ModelSize(50, 32, 2, 2, 8, 0)));
        assertTrue(e.getMessage().contains("mamba") && e.getMessage().contains("hgrn2"), e.getMessage());
    }

    /** A record made in Java is validated like one read from a file: the error names the config.json field. */
    @Test
    void invariantsNameTheField() {
        LmConfig lm = new LmConfig(32, 16, 1, 48, "swish", 1e-6, false, 0.02);
        ConfigException e = assertThrows(ConfigException.class, () ->
                new GsaConfig(lm, 3, 3, 4, 1, 1, false, 4, "swish", 8, true, HybridAttention.NONE, Map.of()));
        assertEquals("num_heads", e.field());
        e = assertThrows(ConfigException.class, () ->
                new GsaConfig(lm, 2, 2, 0, 1, 1, false, 4, "swish", 8, true, HybridAttention.NONE, Map.of()));
        assertEquals("num_slots", e.field());
        e = assertThrows(ConfigException.class, () -> new LmConfig(32, 16, 1, 48, "gelu", 1e-6, false, 0.02));
        assertEquals("hidden_act", e.field());
        e = assertThrows(ConfigException.class, () -> new ModelSize(32, 16, 1, 3, 4, 0));
        assertEquals("num_heads", e.field());
        // read from a file, the same invariant names the file too
        ObjectNode json = ModelRegistry.preset("gsa", new ModelSize(32, 16, 1, 2, 4, 0)).toJson();
        json.put("num_slots", 0);
        Gsa4jException fromFile = assertThrows(Gsa4jException.class,
                () -> ModelRegistry.fromJson(new ConfigReader(Path.of("/m/config.json"), json)));
        assertTrue(fromFile.getMessage().startsWith("/m/config.json: field 'num_slots'"), fromFile.getMessage());
    }
}
