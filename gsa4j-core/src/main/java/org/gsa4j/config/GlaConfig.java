package org.gsa4j.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.List;
import java.util.Map;

import static org.gsa4j.config.ConfigException.require;

/**
 * A Gated Linear Attention model ({@code model_type} {@code gla}; docs/MATH.md#gla-layer): the
 * low-rank forget gate on the key axis (optionally clamped from below by {@code clamp_min} ≤ 0),
 * an optional feature map on q and k ({@code feature_map} null for none), optional short
 * convolutions, and the per-head output norm times {@code swish(g_proj x)} when
 * {@code use_output_gate}. Reference library defaults.
 */
public record GlaConfig(LmConfig lm, int numHeads, int numKvHeads, double expandK, double expandV, boolean useShortConv,
                        int convSize, String featureMap, boolean useOutputGate, boolean fuseNorm, boolean elementwiseAffine,
                        Double clampMin, String attnMode, HybridAttention attn, Map<String, JsonNode> extra) implements ModelConfig, MultiHeadConfig, GatedOutputConfig {

    public static final String MODEL_TYPE = "gla";

    public GlaConfig {
        HeadShape.of(lm.hiddenSize(), numHeads, numKvHeads, expandK, expandV);
        require(convSize > 0, "conv_size", "must be positive, found " + convSize);
        Fields.checkFeatureMap(featureMap);
        require(clampMin == null || clampMin <= 0, "clamp_min", "a log-decay bound must be <= 0, found " + clampMin);
        Fields.checkAttnMode(attnMode);
        attn.check(lm.hiddenSize(), lm.numLayers());
        extra = Fields.copy(extra);
    }

    @Override
    public String modelType() {
        return MODEL_TYPE;
    }

    private static final List<String> FIELDS = Fields.concat(LmConfig.FLA_FIELDS, List.of("num_heads", "num_kv_heads",
            "expand_k", "expand_v", "use_short_conv", "conv_size", "feature_map", "use_output_gate", "fuse_norm",
            "elementwise_affine", "clamp_min", "attn_mode", "attn"));

    public static GlaConfig fromJson(ConfigReader c) {
        LmConfig lm = LmConfig.readFla(c, 4);
        int heads = c.positiveInt("num_heads", 4);
        return c.build(() -> new GlaConfig(lm, heads, c.numKvHeads(heads),
                c.doubleValue("expand_k", 0.5), c.doubleValue("expand_v", 1.0), c.boolValue("use_short_conv", false),
                c.positiveInt("conv_size", 4), c.optionalString("feature_map"), c.boolValue("use_output_gate", true),
                c.boolValue("fuse_norm", true), c.boolValue("elementwise_affine", true), c.optionalDouble("clamp_min"),
                c.string("attn_mode", "chunk"), HybridAttention.read(c), c.unknownFields(FIELDS)));
    }

    @Override
    public ObjectNode toJson() {
        ObjectNode o = Fields.startFla(MODEL_TYPE, lm, numHeads);
        Fields.putHeadShape(o, this);
        o.put("use_short_conv", useShortConv);
        o.put("conv_size", convSize);
        Fields.put(o, "feature_map", featureMap);
        Fields.putOutputNorm(o, this, elementwiseAffine);
        Fields.put(o, "clamp_min", clampMin);
        return Fields.finishFla(o, attnMode, attn, extra);
    }

    /** A fresh model of the given size for training: expand_k 0.5, no feature map, no short convolution. */
    public static GlaConfig preset(ModelSize size) {
        return new GlaConfig(LmConfig.preset(size, "swish"), size.numHeads(), size.numHeads(), 0.5, 1.0, false, 4, null,
                true, true, true, null, "chunk", HybridAttention.NONE, Map.of());
    }
}
