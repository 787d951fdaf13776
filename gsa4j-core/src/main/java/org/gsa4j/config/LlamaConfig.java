package org.gsa4j.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.gsa4j.config.ConfigException.require;

/**
 * transformers' Llama and Mistral ({@code model_type} {@code llama}, {@code mistral};
 * docs/MATH.md#causal-softmax-attention): {@code head_dim} (default hidden_size /
 * num_attention_heads, even), grouped kv heads, plain RoPE, and for Mistral a sliding window
 * ({@code sliding_window}: absent means 4096, null none). transformers' defaults. The RoPE base is
 * read from {@code rope_parameters.rope_theta} (transformers 5) or the top-level {@code rope_theta}
 * and written back where it came from; scaled RoPE variants and biases are refused.
 */
public record LlamaConfig(String modelType, LmConfig lm, int numAttentionHeads, int numKeyValueHeads, int headDim,
                          double ropeTheta, Integer slidingWindow, Map<String, JsonNode> extra) implements ModelConfig {

    public static final String LLAMA = "llama", MISTRAL = "mistral";

    public LlamaConfig {
        require(modelType.equals(LLAMA) || modelType.equals(MISTRAL), "model_type", "must be llama or mistral, found '" + modelType + "'");
        require(numAttentionHeads > 0, "num_attention_heads", "must be positive, found " + numAttentionHeads);
        require(numKeyValueHeads > 0 && numAttentionHeads % numKeyValueHeads == 0, "num_key_value_heads",
                numKeyValueHeads + " does not divide the " + numAttentionHeads + " query heads");
        require(headDim > 0 && headDim % 2 == 0, "head_dim", "gives head dimension " + headDim + ", which must be even for the rotary embedding");
        require(ropeTheta > 0, "rope_theta", "must be positive, found " + ropeTheta);
        require(slidingWindow == null || (modelType.equals(MISTRAL) && slidingWindow > 0), "sliding_window",
                "must be positive (and Mistral's), found " + slidingWindow);
        extra = Fields.copy(extra);
    }

    /** Every layer's attention. */
    public AttentionConfig attention() {
        return new AttentionConfig(lm.hiddenSize(), numAttentionHeads, numKeyValueHeads, headDim, ropeTheta,
                slidingWindow == null ? 0 : slidingWindow, false, false);
    }

    private static final List<String> FIELDS = Fields.concat(LmConfig.LLAMA_FIELDS, List.of("num_attention_heads",
            "num_key_value_heads", "head_dim", "rope_theta", "sliding_window"));

    public static LlamaConfig fromJson(ConfigReader c) {
        String type = c.string("model_type", null);
        boolean mistral = type.equals(MISTRAL);
        LmConfig lm = LmConfig.readLlama(c, mistral ? 14336 : 11008);
        int d = lm.hiddenSize();
        int heads = c.positiveInt("num_attention_heads", 32);
        // transformers' defaults when the field is absent: Llama num_key_value_heads = num_attention_heads,
        // Mistral 8 (null means "as many as the query heads" in both)
        int kv = c.isSet("num_key_value_heads") ? c.positiveInt("num_key_value_heads", null)
                : mistral && !c.root().has("num_key_value_heads") ? 8 : heads;
        int hd;
        String headField;
        if (c.isSet("head_dim")) {
            hd = c.positiveInt("head_dim", null);
            headField = "head_dim";
        } else {
            if (d % heads != 0) throw c.error("num_attention_heads", heads + " heads do not divide hidden_size " + d + " (and head_dim is not set)");
            hd = d / heads;
            headField = "num_attention_heads";
        }
        if (hd % 2 != 0) throw c.error(headField, "gives head dimension " + hd + ", which must be even for the rotary embedding");
        if (c.boolValue("attention_bias", false)) throw c.error("attention_bias", "biases on the attention projections are not supported");
        if (c.boolValue("mlp_bias", false)) throw c.error("mlp_bias", "biases on the MLP projections are not supported");
        // Mistral: sliding_window defaults to 4096 when absent; null means full causal attention
        Integer window = mistral && (c.isSet("sliding_window") || !c.root().has("sliding_window")) ? c.positiveInt("sliding_window", 4096) : null;
        double theta = ropeTheta(c);
        return c.build(() -> new LlamaConfig(type, lm, heads, kv, hd, theta, window, c.unknownFields(FIELDS)));
    }

    /**
     * The RoPE base: {@code rope_parameters.rope_theta} (transformers 5) or the older top-level
     * {@code rope_theta}; only the default (unscaled) RoPE is supported.
     */
    private static double ropeTheta(ConfigReader c) {
        double theta = c.doubleValue("rope_theta", 10000.0);
        String field = "rope_theta";
        JsonNode params = c.root().get("rope_parameters");
        if (params != null && !params.isNull()) {
            ConfigReader p = c.child("rope_parameters", params);
            checkRopeType(p);
            if (p.isSet("rope_theta")) {
                theta = p.doubleValue("rope_theta", null);
                field = "rope_parameters.rope_theta";
            }
        }
        JsonNode scaling = c.root().get("rope_scaling");
        if (scaling != null && !scaling.isNull()) checkRopeType(c.child("rope_scaling", scaling));
        if (!(theta > 0)) throw c.error(field, "must be positive, found " + theta);
        return theta;
    }

    private static void checkRopeType(ConfigReader c) {
        JsonNode type = c.root().has("rope_type") ? c.root().get("rope_type") : c.root().get("type");
        String name = type == null || type.isNull() ? "default" : type.asText();
        if (!name.equals("default")) {
            throw c.error("rope_type", "only the default RoPE is supported, found '" + name + "' (scaled RoPE variants are not implemented)");
        }
    }

    @Override
    public ObjectNode toJson() {
        ObjectNode o = Fields.start(modelType);
        lm.writeLlama(o);
        o.put("num_attention_heads", numAttentionHeads);
        o.put("num_key_value_heads", numKeyValueHeads);
        o.put("head_dim", headDim);
        if (extra.get("rope_parameters") instanceof ObjectNode params && params.has("rope_theta")) {
            ObjectNode p = params.deepCopy();
            p.put("rope_theta", ropeTheta);
            o.set("rope_parameters", p);
        } else {
            o.put("rope_theta", ropeTheta);
        }
        if (modelType.equals(MISTRAL)) Fields.put(o, "sliding_window", slidingWindow);
        return Fields.finish(o, extra);
    }

    /** A fresh model of the given size for training: as many kv heads as query heads, RoPE base 10000, no biases. */
    public static LlamaConfig preset(String modelType, ModelSize size) {
        Map<String, JsonNode> extra = new LinkedHashMap<>();
        extra.put("max_position_embeddings", Fields.JSON.getNodeFactory().numberNode(2048));
        extra.put("attention_bias", Fields.JSON.getNodeFactory().booleanNode(false));
        extra.put("mlp_bias", Fields.JSON.getNodeFactory().booleanNode(false));
        return new LlamaConfig(modelType, LmConfig.preset(size, "silu"), size.numHeads(), size.numHeads(),
                size.hiddenSize() / size.numHeads(), 10000.0, modelType.equals(MISTRAL) ? 4096 : null, extra);
    }
}
