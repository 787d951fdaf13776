package org.gsa4j.models;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.autograd.GradCheck;
import org.gsa4j.autograd.Var;
import org.gsa4j.config.ConfigReader;
import org.gsa4j.io.HfModelDir;
import org.gsa4j.io.SafeTensors;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The whole GSA language model: float64 finite differences, and save/load round trips. */
class GsaModelGradTest {

    static ObjectNode tinyConfig() {
        ObjectNode c = new ObjectMapper().createObjectNode();
        c.put("model_type", "gsa");
        c.put("vocab_size", 11);
        c.put("hidden_size", 8);
        c.put("num_hidden_layers", 2);
        c.put("num_heads", 2);
        c.put("num_kv_heads", 1);
        c.put("num_slots", 3);
        c.put("use_short_conv", true);
        c.put("conv_size", 3);
        c.put("intermediate_size", 12);
        c.put("feature_map", "swish");
        c.put("gate_logit_normalizer", 2);
        return c;
    }

    @Test
    void everyParameterGradientMatchesFiniteDifferencesInFloat64() {
        CausalLM f32 = ModelLoader.create(tinyConfig(), 3);
        // Larger weights than the 0.02 initialisation so that every nonlinearity matters.
        Map<String, Tensor> params = new LinkedHashMap<>();
        java.util.SplittableRandom rng = new java.util.SplittableRandom(5);
        for (var e : f32.params().entrySet()) {
            Tensor t = e.getValue().toF64().copy();
            for (int i = 0; i < t.size(); i++) t.d[i] = t.d[i] * 10 + (e.getKey().endsWith("norm.weight") ? 0 : 0.3 * Tensor.gaussian(rng));
            params.put(e.getKey(), t);
        }
        var arch = ModelRegistry.build(ModelRegistry.fromJson(new ConfigReader(Path.of("config.json"), tinyConfig())));
        CausalLM model = new CausalLM(arch, params);
        int[] ids = {1, 4, 9, 0, 3, 3, 7, 10, 2, 5};
        List<String> names = new ArrayList<>(params.keySet());
        double[] errs = GradCheck.relativeErrors(new ArrayList<>(params.values()), (tape, leaves) -> {
            Map<String, Var> vars = new LinkedHashMap<>();
            for (int i = 0; i < names.size(); i++) vars.put(names.get(i), leaves.get(i));
            return model.loss(tape, vars, ids, 2, 5);
        }, 1e-6);
        double worst = 0;
        for (int i = 0; i < errs.length; i++) {
            worst = Math.max(worst, errs[i]);
            System.out.printf("  %-45s %.2e%n", names.get(i), errs[i]);
            assertTrue(errs[i] < 1e-6, names.get(i) + " rel err " + errs[i]);
        }
        System.out.printf("GSA model float64 finite differences: %d parameters, max rel err %.2e%n", errs.length, worst);
    }

    @Test
    void savedModelLoadsBackIdenticallyAlsoSharded(@TempDir Path tmp) {
        CausalLM model = ModelLoader.load(ReferenceCases.fixture("gsa"));
        ModelLoader.save(model, tmp.resolve("f32"), SafeTensors.DType.F32);
        CausalLM again = ModelLoader.load(tmp.resolve("f32"));
        int[] ids = {5, 17, 200, 3, 99};
        Tensor a = model.feed(ids, 1, ids.length, model.newState(1));
        Tensor b = again.feed(ids, 1, ids.length, again.newState(1));
        assertEquals(0.0, Tensor.relErr(b, a), "float32 save/load must be exact");
        assertEquals(model.config.toJson(), again.config.toJson());

        HfModelDir.save(tmp.resolve("sharded"), model.config.toJson(), model.params(), n -> SafeTensors.DType.F32, 40_000);
        assertTrue(java.nio.file.Files.exists(tmp.resolve("sharded/model.safetensors.index.json")));
        CausalLM sharded = ModelLoader.load(tmp.resolve("sharded"));
        assertEquals(0.0, Tensor.relErr(sharded.feed(ids, 1, ids.length, sharded.newState(1)), a), "sharded load must be exact");

        ModelLoader.save(model, tmp.resolve("bf16"), SafeTensors.DType.BF16);
        CausalLM half = ModelLoader.load(tmp.resolve("bf16"));
        double err = Tensor.relErr(half.feed(ids, 1, ids.length, half.newState(1)), a);
        System.out.printf("BF16 save/load: last-position logits rel err %.2e%n", err);
        assertTrue(err < 2e-2, "bf16 round trip rel err " + err);
    }
}
