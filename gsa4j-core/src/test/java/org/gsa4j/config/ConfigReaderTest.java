package org.gsa4j.config;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.gsa4j.Gsa4jException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Wrongly typed config fields are errors naming config.json and the field; defaults apply to absent or null ones. */
class ConfigReaderTest {

    private static ConfigReader reader(String json) throws Exception {
        return new ConfigReader(Path.of("/models/m/config.json"), new ObjectMapper().readTree(json));
    }

    private static void fails(Executable e, String... fragments) {
        Gsa4jException ex = assertThrows(Gsa4jException.class, e);
        for (String f : fragments) assertTrue(ex.getMessage().contains(f), ex.getMessage() + " lacks " + f);
    }

    @Test
    void wrongTypesNameFileAndField() throws Exception {
        ConfigReader c = reader("{\"hidden_size\":\"64\",\"norm_eps\":true,\"use_short_conv\":1,\"feature_map\":3,"
                + "\"num_heads\":2.5,\"vocab_size\":99999999999,\"num_slots\":-4}");
        fails(() -> c.intValue("hidden_size", 1), "config.json", "'hidden_size'", "integer");
        fails(() -> c.doubleValue("norm_eps", 1.0), "config.json", "'norm_eps'", "number");
        fails(() -> c.boolValue("use_short_conv", false), "config.json", "'use_short_conv'", "true or false");
        fails(() -> c.string("feature_map", ""), "config.json", "'feature_map'", "string");
        fails(() -> c.intValue("num_heads", 1), "config.json", "'num_heads'", "integer");
        fails(() -> c.intValue("vocab_size", 1), "config.json", "'vocab_size'", "integer");
        fails(() -> c.positiveInt("num_slots", 64), "config.json", "'num_slots'", "positive");
        fails(() -> c.intValue("absent_required", null), "config.json", "'absent_required'", "required");
        fails(() -> reader("[1, 2]"), "config.json", "JSON object");
    }

    @Test
    void defaultsAndIntegralFloats() throws Exception {
        ConfigReader c = reader("{\"gate_logit_normalizer\": 8.0, \"num_kv_heads\": null}");
        assertEquals(8, c.intValue("gate_logit_normalizer", 0));
        assertEquals(7, c.intValue("absent", 7));
        assertEquals(4, c.intValue("num_kv_heads", 4));
        assertTrue(!c.isSet("num_kv_heads"));
    }
}
