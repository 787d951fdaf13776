package org.gsa4j.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.List;
import java.util.Map;

import static org.gsa4j.config.ConfigException.require;

/**
 * A RetNet model ({@code model_type} {@code retnet}; docs/MATH.md#retnet-layer): GLA's layout with a
 * fixed decay per head instead of the forget gate, rotary positions on q and k, no short
 * convolution (the reference model passes none), head_k_dim even and at most 256. Reference library
 * defaults (note the MLP ratio 2).
 */
public record RetNetConfig(LmConfig lm, int numHeads, int numKvHeads, double expandK, double expandV, String featureMap,
                           boolean useOutputGate, boolean fuseNorm, boolean elementwiseAffine, String attnMode,
                           HybridAttention attn, Map<String, JsonNode> extra) implements ModelConfig, MultiHeadConfig, GatedOutputConfig {

    public static final String MODEL_TYPE = "retnet";

    public RetNetConfig {
        HeadShape shape = HeadShape.of(lm.hiddenSize(), numHeads, numKvHeads, expandK, expandV);
        require(shape.headKDim() <= 256, "expand_k", "head_k_dim " + shape.headKDim() + " exceeds the reference's limit of 256");
        require(shape.headKDim() % 2 == 0, "expand_k", "head_k_dim " + shape.headKDim() + " must be even for the rotary embedding");
        Fields.checkFeatureMap(featureMap);
        Fields.checkAttnMode(attnMode);
        attn.check(lm.hiddenSize(), lm.numLayers());
        extra = Fields.copy(extra);
    }

    @Override
    public String modelType() {
        return MODEL_TYPE;
    }

    private static final List<String> FIELDS = Fields.concat(LmConfig.FLA_FIELDS, List.of("num_heads", "num_kv_heads",
            "expand_k", "expand_v", "feature_map", "use_output_gate", "fuse_norm", "elementwise_affine", "attn_mode", "attn"));

    public static RetNetConfig fromJson(ConfigReader c) {
        LmConfig lm = LmConfig.readFla(c, 2);
        int heads = c.positiveInt("num_heads", 8);
        return c.build(() -> new RetNetConfig(lm, heads, c.numKvHeads(heads),
                c.doubleValue("expand_k", 1.0), c.doubleValue("expand_v", 2.0), c.optionalString("feature_map"),
                c.boolValue("use_output_gate", true), c.boolValue("fuse_norm", true), c.boolValue("elementwise_affine", true),
                c.string("attn_mode", "chunk"), HybridAttention.read(c), c.unknownFields(FIELDS)));
    }

    @Override
    public ObjectNode toJson() {
        ObjectNode o = Fields.startFla(MODEL_TYPE, lm, numHeads);
        Fields.putHeadShape(o, this);
        Fields.put(o, "feature_map", featureMap);
        Fields.putOutputNorm(o, this, elementwiseAffine);
        return Fields.finishFla(o, attnMode, attn, extra);
    }

    /** A fresh model of the given size for training: expand_k 1, expand_v 2, the reference's output gate. */
    public static RetNetConfig preset(ModelSize size) {
        return new RetNetConfig(LmConfig.preset(size, "swish"), size.numHeads(), size.numHeads(), 1.0, 2.0, null, true, true, true,
                "chunk", HybridAttention.NONE, Map.of());
    }
}
