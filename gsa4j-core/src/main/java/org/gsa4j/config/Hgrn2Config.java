package org.gsa4j.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.List;
import java.util.Map;

import static org.gsa4j.config.ConfigException.require;

/**
 * An HGRN2 model ({@code model_type} {@code hgrn2}; docs/MATH.md#hgrn2-layer): {@code numHeads} heads
 * of {@code expandRatio} forget channels (forget_dim = numHeads·expandRatio) and
 * {@code hiddenSize / numHeads} input channels each; the layer-wise lower bound of the forget gate
 * when {@code use_lower_bound}. In config.json {@code expand_ratio}, when given, fixes the heads
 * (num_heads = hidden_size / expand_ratio). Reference library defaults.
 */
public record Hgrn2Config(LmConfig lm, int numHeads, int expandRatio, boolean useShortConv, int convSize,
                          boolean elementwiseAffine, boolean useLowerBound, String attnMode, HybridAttention attn,
                          Map<String, JsonNode> extra) implements ModelConfig {

    public static final String MODEL_TYPE = "hgrn2";

    public Hgrn2Config {
        require(numHeads > 0 && lm.hiddenSize() % numHeads == 0, "num_heads", numHeads + " heads do not divide hidden_size " + lm.hiddenSize());
        require(expandRatio > 0, "expand_ratio", "must be positive, found " + expandRatio);
        require(convSize > 0, "conv_size", "must be positive, found " + convSize);
        Fields.checkAttnMode(attnMode);
        attn.check(lm.hiddenSize(), lm.numLayers());
        extra = Fields.copy(extra);
    }

    @Override
    public String modelType() {
        return MODEL_TYPE;
    }

    public int forgetDim() {
        return numHeads * expandRatio;
    }

    public int headFDim() {
        return expandRatio;
    }

    public int headIDim() {
        return lm.hiddenSize() / numHeads;
    }

    private static final List<String> FIELDS = Fields.concat(LmConfig.FLA_FIELDS, List.of("num_heads", "expand_ratio",
            "use_short_conv", "conv_size", "elementwise_affine", "use_lower_bound", "attn_mode", "attn"));

    public static Hgrn2Config fromJson(ConfigReader c) {
        LmConfig lm = LmConfig.readFla(c, 4);
        int d = lm.hiddenSize();
        int heads, ratio;
        if (c.isSet("expand_ratio") || !c.isSet("num_heads")) {
            ratio = c.positiveInt("expand_ratio", 128);
            heads = d / ratio;
            if (heads == 0) throw c.error("expand_ratio", ratio + " exceeds hidden_size " + d);
            if (d % heads != 0) throw c.error("expand_ratio", "gives " + heads + " heads, which do not divide hidden_size " + d);
        } else {
            heads = c.positiveInt("num_heads", null);
            if (d % heads != 0) throw c.error("num_heads", heads + " heads do not divide hidden_size " + d);
            ratio = d / heads;
        }
        return c.build(() -> new Hgrn2Config(lm, heads, ratio, c.boolValue("use_short_conv", false), c.positiveInt("conv_size", 4),
                c.boolValue("elementwise_affine", true), c.boolValue("use_lower_bound", true), c.string("attn_mode", "chunk"),
                HybridAttention.read(c), c.unknownFields(FIELDS)));
    }

    @Override
    public ObjectNode toJson() {
        ObjectNode o = Fields.startFla(MODEL_TYPE, lm, numHeads);
        o.put("expand_ratio", expandRatio);
        o.put("use_short_conv", useShortConv);
        o.put("conv_size", convSize);
        o.put("elementwise_affine", elementwiseAffine);
        o.put("use_lower_bound", useLowerBound);
        return Fields.finishFla(o, attnMode, attn, extra);
    }

    /** A fresh model of the given size for training: heads of hidden_size / num_heads forget channels, lower bounds on. */
    public static Hgrn2Config preset(ModelSize size) {
        return new Hgrn2Config(LmConfig.preset(size, "swish"), size.numHeads(), size.hiddenSize() / size.numHeads(), false, 4,
                true, true, "chunk", HybridAttention.NONE, Map.of());
    }
}
