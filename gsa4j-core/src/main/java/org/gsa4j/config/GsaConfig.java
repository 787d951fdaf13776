package org.gsa4j.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.gsa4j.config.ConfigException.require;

/**
 * A GSA model ({@code model_type} {@code gsa}; docs/MATH.md#gsa-layer): {@code num_slots} memory
 * slots per head, the slot gate's temperature {@code gate_logit_normalizer} (τ), the feature map on
 * q and k (swish, relu, or t2r: a learned linear map then relu), optional short convolutions,
 * and {@code g_norm}'s weight when {@code elementwise_affine} (it has hidden_size entries, so it
 * needs expand_v = 1). Reference library defaults; the typo'd {@code exapnd_k} of its Python
 * signature is ignored, {@code expand_k}/{@code expand_v} are read.
 */
public record GsaConfig(LmConfig lm, int numHeads, int numKvHeads, int numSlots, double expandK, double expandV,
                        boolean useShortConv, int convSize, String featureMap, double gateLogitNormalizer,
                        boolean elementwiseAffine, HybridAttention attn, Map<String, JsonNode> extra) implements ModelConfig, MultiHeadConfig {

    public static final String MODEL_TYPE = "gsa";
    /** Feature maps GSA accepts on q and k. */
    public static final Set<String> FEATURE_MAPS = Set.of("swish", "relu", "t2r");

    public GsaConfig {
        HeadShape shape = HeadShape.of(lm.hiddenSize(), numHeads, numKvHeads, expandK, expandV);
        require(numSlots > 0, "num_slots", "must be positive, found " + numSlots);
        require(convSize > 0, "conv_size", "must be positive, found " + convSize);
        require(FEATURE_MAPS.contains(featureMap), "feature_map", "must be swish, relu or t2r, found '" + featureMap + "'");
        require(gateLogitNormalizer > 0, "gate_logit_normalizer", "must be positive, found " + gateLogitNormalizer);
        require(!elementwiseAffine || shape.valueDim() == lm.hiddenSize(), "elementwise_affine",
                "g_norm's weight has hidden_size entries, so it needs expand_v = 1 (value_dim " + shape.valueDim() + " != " + lm.hiddenSize() + ")");
        attn.check(lm.hiddenSize(), lm.numLayers());
        extra = Fields.copy(extra);
    }

    @Override
    public String modelType() {
        return MODEL_TYPE;
    }

    private static final List<String> FIELDS = Fields.concat(LmConfig.FLA_FIELDS, List.of("num_heads", "num_kv_heads",
            "num_slots", "expand_k", "expand_v", "use_short_conv", "conv_size", "feature_map", "gate_logit_normalizer",
            "elementwise_affine", "attn"));

    public static GsaConfig fromJson(ConfigReader c) {
        LmConfig lm = LmConfig.readFla(c, 4);
        int heads = c.positiveInt("num_heads", 4);
        return c.build(() -> new GsaConfig(lm, heads, c.numKvHeads(heads),
                c.positiveInt("num_slots", 64), c.doubleValue("expand_k", 1.0), c.doubleValue("expand_v", 1.0),
                c.boolValue("use_short_conv", false), c.positiveInt("conv_size", 4), c.string("feature_map", "swish"),
                c.doubleValue("gate_logit_normalizer", 8.0), c.boolValue("elementwise_affine", true), HybridAttention.read(c),
                c.unknownFields(FIELDS)));
    }

    @Override
    public ObjectNode toJson() {
        ObjectNode o = Fields.startFla(MODEL_TYPE, lm, numHeads);
        Fields.putHeadShape(o, this);
        o.put("num_slots", numSlots);
        o.put("use_short_conv", useShortConv);
        o.put("conv_size", convSize);
        o.put("feature_map", featureMap);
        o.put("gate_logit_normalizer", gateLogitNormalizer);
        o.put("elementwise_affine", elementwiseAffine);
        return Fields.finishFla(o, null, attn, extra);
    }

    /** A fresh model of the given size for training: swish feature map, τ = 8, no short convolution. */
    public static GsaConfig preset(ModelSize size) {
        return new GsaConfig(LmConfig.preset(size, "swish"), size.numHeads(), size.numHeads(), size.numSlots(), 1.0, 1.0,
                false, 4, "swish", 8, true, HybridAttention.NONE, Map.of());
    }
}
