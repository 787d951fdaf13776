package org.gsa4j.cuda.models;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import org.gsa4j.Gsa4jException;
import org.gsa4j.config.GsaConfig;
import org.gsa4j.config.ModelConfig;
import org.gsa4j.config.ModelSize;
import org.gsa4j.layers.ParamSpec;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelRegistry;
import org.gsa4j.models.Naming;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * The GPU model (the skeleton's {@link BlockNames} and GSA's mixer's {@link GsaParamNames}) reads exactly the
 * parameters the CPU engine declares, under the same names, for every GSA reference case and for the config fields
 * those cases leave out; another architecture's config given to GSA's mixer is refused with the config.json field
 * named. Runs without a GPU.
 */
class GsaParamNamesTest {

    @TestFactory
    List<DynamicTest> everyReferenceCaseMapsOntoTheCpuParameters() throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (Path dir : ReferenceModels.cases("gsa")) {
            tests.add(DynamicTest.dynamicTest(dir.getFileName().toString(), () -> {
                ModelConfig config = ModelRegistry.fromJson(new ObjectMapper().readTree(dir.resolve("config.json").toFile()));
                checkNames(GsaParamNames.supported(config));
            }));
        }
        return tests;
    }

    @Test
    void fieldsTheReferenceCasesLeaveOutMapToo() {
        ObjectNode json = ModelRegistry.preset("gsa", new ModelSize(50, 48, 3, 4, 6, 64)).toJson();
        json.put("num_kv_heads", 2).put("use_short_conv", true).put("conv_size", 3).put("feature_map", "t2r")
                .put("elementwise_affine", false).put("tie_word_embeddings", true).put("expand_k", 0.5);
        GsaConfig c = GsaParamNames.supported(ModelRegistry.fromJson(json));
        checkNames(c);
        BlockNames block = BlockNames.of(c, Naming.FLA);
        assertNull(block.lmHead(), "tied: no lm_head");
        assertEquals(block.embeddings(), block.head(), "tied: the head is the embedding");
        GsaParamNames names = GsaParamNames.of(c);
        assertNull(names.layers().get(0).gNorm(), "no g_norm without elementwise_affine");
        assertTrue(names.layers().get(2).qConv().endsWith("layers.2.attn.q_conv1d.weight"), names.layers().get(2).qConv());
    }

    private static void checkNames(GsaConfig c) {
        List<String> cpu = CausalLM.paramSpecs(ModelRegistry.build(c)).stream().map(ParamSpec::name).toList();
        List<String> gpu = new ArrayList<>(BlockNames.of(c, Naming.FLA).all());
        gpu.addAll(GsaParamNames.of(c).all());
        assertEquals(gpu.size(), new HashSet<>(gpu).size(), "every name once: " + gpu);
        assertEquals(new HashSet<>(cpu), new HashSet<>(gpu), "the GPU model reads what the CPU model declares");
    }

    @Test
    void otherArchitecturesAreRefusedNamingTheField() {
        ModelConfig gla = ModelRegistry.preset("gla", new ModelSize(50, 32, 2, 2, 8, 64));
        Gsa4jException e = assertThrows(Gsa4jException.class, () -> GsaParamNames.supported(gla));
        assertTrue(e.getMessage().contains("'model_type'") && e.getMessage().contains("'gla'"), e.getMessage());
    }
}
