package org.gsa4j.models;

import com.fasterxml.jackson.databind.JsonNode;
import org.gsa4j.Gsa4jException;
import org.gsa4j.io.HfModelDir;
import org.gsa4j.io.LegacyLayout;
import org.gsa4j.io.SafeTensors;
import org.gsa4j.layers.GatedSlotAttention;
import org.gsa4j.layers.ParamSpec;
import org.gsa4j.layers.TokenMixer;
import org.gsa4j.tensor.Tensor;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Builds a model from a Hugging Face directory: config.json, then the weights, checked against it. */
public final class ModelLoader {
    private ModelLoader() {}

    /** An architecture: its naming and one token mixer per layer, from the config. */
    public record Architecture(LmConfig lm, Naming naming, TokenMixer[] mixers) {}

    /** The architecture a config describes; unknown model types are refused by name. */
    public static Architecture architecture(ConfigReader c) {
        String type = c.string("model_type", null);
        switch (type) {
            case "gsa" -> {
                LmConfig lm = LmConfig.readFla(c, type, 4);
                var gsa = MixerConfigs.gsa(c);
                TokenMixer[] mixers = new TokenMixer[lm.numLayers()];
                for (int i = 0; i < mixers.length; i++) mixers[i] = new GatedSlotAttention(gsa);
                return new Architecture(lm, Naming.FLA, mixers);
            }
            default -> throw c.error("model_type", "unknown model_type '" + type + "' (supported: gsa)");
        }
    }

    /** A model with fresh weights (SPEC §3.3 initialisation) for a config, e.g. to train from scratch. */
    public static CausalLM create(JsonNode json, long seed) {
        Architecture arch = architecture(new ConfigReader(Path.of("config.json"), json));
        double std = json.path("initializer_range").asDouble(0.02);
        List<ParamSpec> specs = CausalLM.paramSpecs(arch.lm(), arch.naming(), arch.mixers());
        return new CausalLM(json, arch.lm(), arch.naming(), arch.mixers(), CausalLM.initParams(specs, std, seed));
    }

    /**
     * Writes config.json and model.safetensors (atomically) in the Hugging Face layout the reference
     * library reads; tied lm_head weights are omitted, as transformers does.
     */
    public static void save(CausalLM model, Path dir, SafeTensors.DType dtype) {
        HfModelDir.save(dir, model.configJson, model.params(), dtype);
    }

    /**
     * How weights are held in memory: F32 (training and inference), or BF16 for the matrices
     * (embeddings, projections, lm_head; half the bytes read per decoded token), inference only.
     */
    public enum WeightFormat { F32, BF16 }

    public static CausalLM load(Path dir) {
        return load(dir, WeightFormat.F32);
    }

    /**
     * Loads with weights held as {@code format}: BF16 copies matrices stored as BF16 straight
     * from the file and rounds other stored precisions; vectors and convolution kernels stay F32.
     */
    public static CausalLM load(Path dir, WeightFormat format) {
        try (HfModelDir hf = HfModelDir.open(dir)) {
            JsonNode json = hf.configJson();
            Architecture arch = architecture(new ConfigReader(hf.configFile(), json));
            List<ParamSpec> specs = CausalLM.paramSpecs(arch.lm(), arch.naming(), arch.mixers());
            Map<String, Tensor> stored;
            if (format == WeightFormat.BF16 && !LegacyLayout.isLegacy(hf.tensorNames())) {
                stored = new LinkedHashMap<>();
                for (String n : hf.tensorNames()) stored.put(n, hf.shape(n).length == 2 ? hf.bf16(n) : hf.f32(n));
            } else {
                stored = LegacyLayout.toCurrent(hf);
            }
            Map<String, Tensor> params = checkParams(hf.weightsFile(), stored, specs, arch.lm().modelType());
            return new CausalLM(json, arch.lm(), arch.naming(), arch.mixers(), format == WeightFormat.BF16 ? toBf16Matrices(params) : params);
        }
    }

    /** The same model with its matrices held as BF16 (rounded to nearest even), for inference. */
    public static CausalLM withWeights(CausalLM model, WeightFormat format) {
        Map<String, Tensor> params = format == WeightFormat.BF16 ? toBf16Matrices(model.params()) : new LinkedHashMap<>(model.params());
        if (format == WeightFormat.F32) params.replaceAll((n, t) -> t.toF32());
        return new CausalLM(model.configJson, model.config, model.naming, model.mixers(), params);
    }

    private static Map<String, Tensor> toBf16Matrices(Map<String, Tensor> params) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        params.forEach((n, t) -> out.put(n, t.rank() == 2 ? t.toBf16() : t));
        return out;
    }

    /** Every declared parameter must be stored with its shape, and nothing else may be. */
    static Map<String, Tensor> checkParams(Path file, Map<String, Tensor> stored, List<ParamSpec> specs, String modelType) {
        Map<String, Tensor> params = new LinkedHashMap<>();
        for (ParamSpec spec : specs) {
            Tensor t = stored.get(spec.name());
            if (t == null) throw Gsa4jException.at(file, spec.name(), "missing tensor (needed by config.json: " + modelType + ")");
            if (!Arrays.equals(t.shape, spec.shape())) {
                throw Gsa4jException.at(file, spec.name(), "shape " + Arrays.toString(t.shape)
                        + " does not match config.json, which needs " + Arrays.toString(spec.shape()));
            }
            params.put(spec.name(), t);
        }
        for (String n : stored.keySet()) {
            if (!params.containsKey(n) && !n.endsWith("rotary_emb.inv_freq")) {
                throw Gsa4jException.at(file, n, "unexpected tensor: config.json (" + modelType + ") has no such parameter");
            }
        }
        return params;
    }
}
