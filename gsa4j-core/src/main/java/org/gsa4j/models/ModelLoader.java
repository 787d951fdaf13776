package org.gsa4j.models;

import com.fasterxml.jackson.databind.JsonNode;
import org.gsa4j.Gsa4jException;
import org.gsa4j.config.ConfigReader;
import org.gsa4j.config.ModelConfig;
import org.gsa4j.io.HfModelDir;
import org.gsa4j.io.LegacyLayout;
import org.gsa4j.io.SafeTensors;
import org.gsa4j.layers.ParamSpec;
import org.gsa4j.tensor.Tensor;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Builds a model from a Hugging Face directory: config.json, then the weights, checked against it. */
public final class ModelLoader {
    private ModelLoader() {}

    /** A model with fresh weights (initialised as the reference library does) for a config.json object, e.g. to train from scratch. */
    public static CausalLM create(JsonNode json, long seed) {
        ConfigReader reader = new ConfigReader(Path.of("config.json"), json);
        Limits.checkLayerCount(reader, Limits.MAX_LAYERS, "at most " + Limits.MAX_LAYERS + " layers are supported");
        return create(ModelRegistry.fromJson(reader), seed);
    }

    /** A model with fresh weights for a config. */
    public static CausalLM create(ModelConfig config, long seed) {
        if (config.numLayers() > Limits.MAX_LAYERS) {
            throw Gsa4jException.at(Path.of("config.json"), "num_hidden_layers", config.numLayers() + " layers cannot be right: at most "
                    + Limits.MAX_LAYERS + " layers are supported");
        }
        ModelRegistry.Architecture arch = ModelRegistry.build(config);
        List<ParamSpec> specs = CausalLM.paramSpecs(arch);
        long bytes = 0;
        for (ParamSpec s : specs) bytes += 4L * Limits.numel(s.shape());
        Limits.checkFits(Path.of("config.json"), bytes, "a new model's float32 weights");
        return new CausalLM(arch, CausalLM.initParams(specs, config.initializerRange(), seed));
    }

    /**
     * Writes config.json and model.safetensors (atomically) in the Hugging Face layout the reference
     * library reads; tied lm_head weights are omitted, as transformers does.
     */
    public static void save(CausalLM model, Path dir, SafeTensors.DType dtype) {
        HfModelDir.save(dir, model.config.toJson(), model.params(), dtype);
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
            ConfigReader reader = new ConfigReader(hf.configFile(), json);
            // Before anything is sized from the config or read from the weights:
            Limits.checkLayerCount(reader, hf.tensorNames().size(), hf.weightsFile() + " holds only "
                    + hf.tensorNames().size() + " tensors");
            Limits.checkFits(hf.weightsFile(), Limits.float32Bytes(hf), "the weights as float32");
            ModelRegistry.Architecture arch = ModelRegistry.build(ModelRegistry.fromJson(reader));
            List<ParamSpec> specs = CausalLM.paramSpecs(arch);
            Map<String, Tensor> stored;
            if (format == WeightFormat.BF16 && !LegacyLayout.isLegacy(hf.tensorNames())) {
                stored = new LinkedHashMap<>();
                for (String n : hf.tensorNames()) stored.put(n, hf.shape(n).length == 2 ? hf.bf16(n) : hf.f32(n));
            } else {
                stored = LegacyLayout.toCurrent(hf);
            }
            Map<String, Tensor> params = checkParams(hf.weightsFile(), stored, specs, arch.config().modelType());
            return new CausalLM(arch, format == WeightFormat.BF16 ? toBf16Matrices(params) : params);
        }
    }

    /** The same model with its matrices held as BF16 (rounded to nearest even), for inference. */
    public static CausalLM withWeights(CausalLM model, WeightFormat format) {
        Map<String, Tensor> params = format == WeightFormat.BF16 ? toBf16Matrices(model.params()) : new LinkedHashMap<>(model.params());
        if (format == WeightFormat.F32) params.replaceAll((n, t) -> t.toF32());
        return new CausalLM(model.architecture(), params);
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
