package org.gsa4j.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.List;
import java.util.Map;

import static org.gsa4j.config.ConfigException.require;

/**
 * The reference library's softmax-attention baseline ({@code model_type} {@code transformer};
 * docs/MATH.md#causal-softmax-attention): head_dim = hidden_size / num_heads (even, for the rotary
 * embedding), grouped kv heads, optional q/k/v biases and per-head q/k norms, optional sliding
 * window ({@code window_size} null for none). Reference library defaults.
 */
public record TransformerConfig(LmConfig lm, int numHeads, int numKvHeads, boolean qkvBias, boolean qkNorm, Integer windowSize,
                                double ropeTheta, Map<String, JsonNode> extra) implements ModelConfig {

    public static final String MODEL_TYPE = "transformer";

    public TransformerConfig {
        require(numHeads > 0 && lm.hiddenSize() % numHeads == 0, "num_heads", numHeads + " heads do not divide hidden_size " + lm.hiddenSize());
        require(numKvHeads > 0 && numHeads % numKvHeads == 0, "num_kv_heads", numKvHeads + " does not divide the " + numHeads + " query heads");
        int hd = lm.hiddenSize() / numHeads;
        require(hd % 2 == 0, "num_heads", "gives head dimension " + hd + ", which must be even for the rotary embedding");
        require(windowSize == null || windowSize > 0, "window_size", "must be positive, found " + windowSize);
        require(ropeTheta > 0, "rope_theta", "must be positive, found " + ropeTheta);
        extra = Fields.copy(extra);
    }

    @Override
    public String modelType() {
        return MODEL_TYPE;
    }

    /** Every layer's attention. */
    public AttentionConfig attention() {
        return new AttentionConfig(lm.hiddenSize(), numHeads, numKvHeads, lm.hiddenSize() / numHeads, ropeTheta,
                windowSize == null ? 0 : windowSize, qkvBias, qkNorm);
    }

    private static final List<String> FIELDS = Fields.concat(LmConfig.FLA_FIELDS, List.of("num_heads", "num_kv_heads",
            "qkv_bias", "qk_norm", "window_size", "rope_theta"));

    public static TransformerConfig fromJson(ConfigReader c) {
        LmConfig lm = LmConfig.readFla(c, 4);
        int heads = c.positiveInt("num_heads", 32);
        return c.build(() -> new TransformerConfig(lm, heads, c.numKvHeads(heads),
                c.boolValue("qkv_bias", false), c.boolValue("qk_norm", false), c.optionalPositiveInt("window_size"),
                c.doubleValue("rope_theta", 10000.0), c.unknownFields(FIELDS)));
    }

    @Override
    public ObjectNode toJson() {
        ObjectNode o = Fields.startFla(MODEL_TYPE, lm, numHeads);
        o.put("num_kv_heads", numKvHeads);
        o.put("qkv_bias", qkvBias);
        o.put("qk_norm", qkNorm);
        Fields.put(o, "window_size", windowSize);
        o.put("rope_theta", ropeTheta);
        return Fields.finish(o, extra);
    }

    /** A fresh model of the given size for training: full causal attention, RoPE base 10000. */
    public static TransformerConfig preset(ModelSize size) {
        return new TransformerConfig(LmConfig.preset(size, "swish"), size.numHeads(), size.numHeads(), false, false, null, 10000.0,
                Map.of("max_position_embeddings", Fields.JSON.getNodeFactory().numberNode(2048)));
    }
}
