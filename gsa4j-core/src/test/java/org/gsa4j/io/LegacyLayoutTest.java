package org.gsa4j.io;

import org.gsa4j.Gsa4jException;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

class LegacyLayoutTest {
    static final Path MODELS = SafeTensorsTest.MODELS;

    /** The legacy-layout reference checkpoint converts to exactly the weights of the gsa reference. */
    @Test void legacyReferenceConvertsToCurrentExactly() {
        try (HfModelDir legacy = HfModelDir.open(MODELS.resolve("gsa_legacy_layout"));
             HfModelDir current = HfModelDir.open(MODELS.resolve("gsa"))) {
            assertTrue(LegacyLayout.isLegacy(legacy.tensorNames()));
            assertFalse(LegacyLayout.isLegacy(current.tensorNames()));
            assertTrue(legacy.configJson().path("norm_first").asBoolean(false));
            Map<String, Tensor> conv = LegacyLayout.toCurrent(legacy);
            assertEquals(current.tensorNames(), conv.keySet());
            for (String n : current.tensorNames()) assertArrayEquals(current.f32(n).f, conv.get(n).f, n);
            // a current checkpoint passes through unchanged
            assertEquals(current.tensorNames(), LegacyLayout.toCurrent(current).keySet());
        }
    }

    /** Gradients in the legacy expected file are renamed and fused the same way. */
    @Test void legacyGradientsConvertToo() {
        try (SafeTensors legacy = SafeTensors.open(MODELS.resolve("gsa_legacy_layout/expected.safetensors"));
             SafeTensors current = SafeTensors.open(MODELS.resolve("gsa/expected.safetensors"))) {
            Map<String, Tensor> in = new LinkedHashMap<>();
            for (String n : legacy.names()) if (n.startsWith("grad.")) in.put(n, legacy.f32(n));
            Map<String, Tensor> conv = LegacyLayout.toCurrent(legacy.file(), in);
            for (String n : current.names()) {
                if (!n.startsWith("grad.")) continue;
                assertTrue(conv.containsKey(n), n);
                assertArrayEquals(current.f32(n).f, conv.get(n).f, n);
            }
        }
    }

    @Test void oddFusedGateRefused() {
        Map<String, Tensor> m = Map.of("model.layers.0.mlp.gate_proj.weight", Tensor.zeros(3, 2));
        Gsa4jException e = assertThrows(Gsa4jException.class, () -> LegacyLayout.toCurrent(Path.of("x.safetensors"), m));
        assertTrue(e.getMessage().contains("x.safetensors") && e.getMessage().contains("gate_proj"), e.getMessage());
    }

    @Test void mixedLayoutsRefused() {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("model.layers.0.attn.norm.weight", Tensor.zeros(2));
        m.put("model.layers.0.attn_norm.weight", Tensor.zeros(2));
        Gsa4jException e = assertThrows(Gsa4jException.class, () -> LegacyLayout.toCurrent(Path.of("x.safetensors"), m));
        assertTrue(e.getMessage().contains("attn_norm"), e.getMessage());
    }
}
