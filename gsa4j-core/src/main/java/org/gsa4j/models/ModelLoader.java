package org.gsa4j.models;

import com.fasterxml.jackson.databind.JsonNode;
import org.gsa4j.Gsa4jException;
import org.gsa4j.io.HfModelDir;
import org.gsa4j.io.LegacyLayout;
import org.gsa4j.io.SafeTensors;
import org.gsa4j.layers.AttentionConfig;
import org.gsa4j.layers.GsaLayer;
import org.gsa4j.layers.GlaConfig;
import org.gsa4j.layers.GlaLayer;
import org.gsa4j.layers.Hgrn2Config;
import org.gsa4j.layers.Hgrn2Layer;
import org.gsa4j.layers.RetNetLayer;
import org.gsa4j.layers.SoftmaxAttentionLayer;
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

    /** The model types {@link #architecture} knows. */
    public static final List<String> MODEL_TYPES = List.of("gsa", "gla", "retnet", "hgrn2", "transformer", "llama", "mistral");

    /** The architecture a config describes; unknown model types are refused by name. */
    public static Architecture architecture(ConfigReader c) {
        String type = c.string("model_type", null);
        switch (type) {
            case "gsa" -> {
                LmConfig lm = LmConfig.readFla(c, type, 4);
                var gsa = MixerConfigs.gsa(c);
                return fla(c, lm, i -> new GsaLayer(gsa));
            }
            case "gla" -> {
                LmConfig lm = LmConfig.readFla(c, type, 4);
                GlaConfig gla = MixerConfigs.gla(c);
                return fla(c, lm, i -> new GlaLayer(gla));
            }
            case "retnet" -> {
                LmConfig lm = LmConfig.readFla(c, type, 2);
                GlaConfig ret = MixerConfigs.retnet(c);
                return fla(c, lm, i -> new RetNetLayer(ret));
            }
            case "hgrn2" -> {
                LmConfig lm = LmConfig.readFla(c, type, 4);
                Hgrn2Config h = MixerConfigs.hgrn2(c);
                return fla(c, lm, i -> new Hgrn2Layer(h, i));
            }
            case "transformer" -> {
                LmConfig lm = LmConfig.readFla(c, type, 4);
                AttentionConfig a = MixerConfigs.transformer(c);
                TokenMixer[] mixers = new TokenMixer[lm.numLayers()];
                for (int i = 0; i < mixers.length; i++) mixers[i] = new SoftmaxAttentionLayer(a);
                return new Architecture(lm, Naming.FLA, mixers);
            }
            case "llama", "mistral" -> {
                boolean mistral = type.equals("mistral");
                LmConfig lm = LmConfig.readLlama(c, type, mistral ? 14336 : 11008);
                AttentionConfig a = MixerConfigs.llama(c, mistral);
                TokenMixer[] mixers = new TokenMixer[lm.numLayers()];
                for (int i = 0; i < mixers.length; i++) mixers[i] = new SoftmaxAttentionLayer(a);
                return new Architecture(lm, Naming.LLAMA, mixers);
            }
            default -> throw c.error("model_type", "unknown model_type '" + type + "' (supported: " + String.join(", ", MODEL_TYPES) + ")");
        }
    }

    /** An fla linear model: the architecture's layer, or softmax attention where the hybrid {@code attn} field says so. */
    private static Architecture fla(ConfigReader c, LmConfig lm, java.util.function.IntFunction<TokenMixer> layer) {
        Map<Integer, AttentionConfig> hybrid = MixerConfigs.hybridAttention(c, lm.hiddenSize(), lm.numLayers());
        TokenMixer[] mixers = new TokenMixer[lm.numLayers()];
        for (int i = 0; i < mixers.length; i++) {
            mixers[i] = hybrid.containsKey(i) ? new SoftmaxAttentionLayer(hybrid.get(i)) : layer.apply(i);
        }
        return new Architecture(lm, Naming.FLA, mixers);
    }

    /** A model with fresh weights (SPEC §3.3 initialisation) for a config, e.g. to train from scratch. */
    public static CausalLM create(JsonNode json, long seed) {
        ConfigReader reader = new ConfigReader(Path.of("config.json"), json);
        Limits.checkLayerCount(reader, Limits.MAX_LAYERS, "at most " + Limits.MAX_LAYERS + " layers are supported");
        Architecture arch = architecture(reader);
        double std = json.path("initializer_range").asDouble(0.02);
        List<ParamSpec> specs = CausalLM.paramSpecs(arch.lm(), arch.naming(), arch.mixers());
        long bytes = 0;
        for (ParamSpec s : specs) bytes += 4L * Limits.numel(s.shape());
        Limits.checkFits(reader.file(), bytes, "a new model's float32 weights");
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
            ConfigReader reader = new ConfigReader(hf.configFile(), json);
            // Before anything is sized from the config or read from the weights:
            Limits.checkLayerCount(reader, hf.tensorNames().size(), hf.weightsFile() + " holds only "
                    + hf.tensorNames().size() + " tensors");
            Limits.checkFits(hf.weightsFile(), Limits.float32Bytes(hf), "the weights as float32");
            Architecture arch = architecture(reader);
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
