package org.gsa4j.models;

import com.fasterxml.jackson.databind.JsonNode;
import org.gsa4j.layers.AttentionConfig;
import org.gsa4j.layers.FeatureMaps;
import org.gsa4j.layers.GlaConfig;
import org.gsa4j.layers.GsaConfig;
import org.gsa4j.layers.Hgrn2Config;

import java.util.Set;

/** Reads and validates each architecture's layer configuration from config.json. */
public final class MixerConfigs {
    private MixerConfigs() {}

    /** SPEC §1.1, §3.1. */
    public static GsaConfig gsa(ConfigReader c) {
        int d = c.positiveInt("hidden_size", 2048);
        int heads = c.positiveInt("num_heads", 4);
        int kvHeads = c.isSet("num_kv_heads") ? c.positiveInt("num_kv_heads", null) : heads;
        if (heads % kvHeads != 0) throw c.error("num_kv_heads", kvHeads + " does not divide num_heads " + heads);
        double expandK = c.doubleValue("expand_k", 1.0), expandV = c.doubleValue("expand_v", 1.0);
        int keyDim = (int) (d * expandK), valueDim = (int) (d * expandV);
        if (keyDim <= 0 || keyDim % heads != 0) throw c.error("num_heads", heads + " heads do not divide key_dim " + keyDim + " (hidden_size·expand_k)");
        if (valueDim <= 0 || valueDim % heads != 0) throw c.error("num_heads", heads + " heads do not divide value_dim " + valueDim + " (hidden_size·expand_v)");
        int slots = c.isSet("num_slots") ? c.positiveInt("num_slots", null) : 64;
        String fm = c.string("feature_map", "swish");
        if (!fm.equals("swish") && !fm.equals("relu") && !fm.equals("t2r")) {
            throw c.error("feature_map", "must be swish, relu or t2r, found '" + fm + "'");
        }
        boolean affine = c.boolValue("elementwise_affine", true);
        if (affine && valueDim != d) {
            throw c.error("elementwise_affine", "g_norm's weight has hidden_size entries, so it needs expand_v = 1 (value_dim " + valueDim + " != " + d + ")");
        }
        double tau = c.doubleValue("gate_logit_normalizer", 8.0);
        if (!(tau > 0)) throw c.error("gate_logit_normalizer", "must be positive, found " + tau);
        boolean conv = c.boolValue("use_short_conv", false);
        int convSize = c.positiveInt("conv_size", 4);
        return new GsaConfig(d, heads, kvHeads, slots, keyDim, valueDim, conv, convSize, fm, tau, affine);
    }

    /** attn_mode values: every kernel of the reference computes the same function. */
    private static final Set<String> LINEAR_MODES = Set.of("chunk", "fused_recurrent", "fused_chunk");

    private static void checkMode(ConfigReader c) {
        String mode = c.string("attn_mode", "chunk");
        if (!LINEAR_MODES.contains(mode)) throw c.error("attn_mode", "must be one of " + LINEAR_MODES + ", found '" + mode + "'");
    }

    private static int kvHeads(ConfigReader c, String field, int heads) {
        int kv = c.isSet(field) ? c.positiveInt(field, null) : heads;
        if (heads % kv != 0) throw c.error(field, kv + " does not divide the " + heads + " query heads");
        return kv;
    }

    private static int scaledDim(ConfigReader c, String field, int d, double expand, int heads) {
        int dim = (int) (d * expand);
        if (dim <= 0) throw c.error(field, "hidden_size·" + field + " = " + dim + " must be positive");
        if (dim % heads != 0) throw c.error("num_heads", heads + " heads do not divide " + dim + " (hidden_size·" + field + ")");
        return dim;
    }

    private static String featureMap(ConfigReader c) {
        String fm = c.isSet("feature_map") ? c.string("feature_map", null) : null;
        if (fm != null && !FeatureMaps.SUPPORTED.contains(fm)) {
            throw c.error("feature_map", "must be null or one of " + FeatureMaps.SUPPORTED + ", found '" + fm + "'");
        }
        return fm;
    }

    /**
     * The output norm's weight name: the reference fuses norm and swish gate (and names the module
     * {@code g_norm_swish_gate}) when the gate function is 'swish', fuse_norm is on and there is a gate.
     */
    private static String gateNormName(ConfigReader c, boolean outputGate) {
        boolean fused = c.string("hidden_act", "swish").equals("swish") && c.boolValue("fuse_norm", true) && outputGate;
        return fused ? "g_norm_swish_gate.weight" : "g_norm.weight";
    }

    /** SPEC §4.1 (GLA). */
    public static GlaConfig gla(ConfigReader c) {
        checkMode(c);
        int d = c.positiveInt("hidden_size", 2048);
        int heads = c.positiveInt("num_heads", 4);
        int kv = kvHeads(c, "num_kv_heads", heads);
        int keyDim = scaledDim(c, "expand_k", d, c.doubleValue("expand_k", 0.5), heads);
        int valueDim = scaledDim(c, "expand_v", d, c.doubleValue("expand_v", 1.0), heads);
        boolean gate = c.boolValue("use_output_gate", true);
        Double clampMin = c.isSet("clamp_min") ? c.doubleValue("clamp_min", null) : null;
        if (clampMin != null && clampMin > 0) throw c.error("clamp_min", "a log-decay bound must be <= 0, found " + clampMin);
        return new GlaConfig(d, heads, kv, keyDim, valueDim, c.boolValue("use_short_conv", false), c.positiveInt("conv_size", 4),
                featureMap(c), gate, gateNormName(c, gate), c.boolValue("elementwise_affine", true),
                c.doubleValue("norm_eps", 1e-6), clampMin);
    }

    /** SPEC §4.2 (RetNet): GLA's layout without the forget gate; the model passes no short convolution. */
    public static GlaConfig retnet(ConfigReader c) {
        checkMode(c);
        int d = c.positiveInt("hidden_size", 2048);
        int heads = c.positiveInt("num_heads", 8);
        int kv = kvHeads(c, "num_kv_heads", heads);
        int keyDim = scaledDim(c, "expand_k", d, c.doubleValue("expand_k", 1.0), heads);
        int valueDim = scaledDim(c, "expand_v", d, c.doubleValue("expand_v", 2.0), heads);
        int headK = keyDim / heads;
        if (headK > 256) throw c.error("expand_k", "head_k_dim " + headK + " exceeds the reference's limit of 256");
        if (headK % 2 != 0) throw c.error("expand_k", "head_k_dim " + headK + " must be even for the rotary embedding");
        boolean gate = c.boolValue("use_output_gate", true);
        return new GlaConfig(d, heads, kv, keyDim, valueDim, false, 4, featureMap(c), gate, gateNormName(c, gate),
                c.boolValue("elementwise_affine", true), c.doubleValue("norm_eps", 1e-6), null);
    }

    /** SPEC §4.3 (HGRN2): expand_ratio, when given, fixes the heads (num_heads = hidden_size / expand_ratio). */
    public static Hgrn2Config hgrn2(ConfigReader c) {
        checkMode(c);
        int d = c.positiveInt("hidden_size", 2048);
        int heads, ratio;
        if (c.isSet("expand_ratio") || !c.isSet("num_heads")) {
            ratio = c.positiveInt("expand_ratio", 128);
            heads = d / ratio;
            if (heads == 0) throw c.error("expand_ratio", ratio + " exceeds hidden_size " + d);
        } else {
            heads = c.positiveInt("num_heads", null);
            if (d % heads != 0) throw c.error("num_heads", heads + " heads do not divide hidden_size " + d);
            ratio = d / heads;
        }
        if (d % heads != 0) throw c.error("expand_ratio", "gives " + heads + " heads, which do not divide hidden_size " + d);
        return new Hgrn2Config(d, heads, ratio, c.boolValue("use_short_conv", false), c.positiveInt("conv_size", 4),
                c.boolValue("elementwise_affine", true), c.boolValue("use_lower_bound", true), c.positiveInt("num_hidden_layers", 24));
    }

    /** SPEC §4.4: the reference library's own {@code transformer} format. */
    public static AttentionConfig transformer(ConfigReader c) {
        int d = c.positiveInt("hidden_size", 2048);
        int heads = c.positiveInt("num_heads", 32);
        int kv = kvHeads(c, "num_kv_heads", heads);
        if (d % heads != 0) throw c.error("num_heads", heads + " heads do not divide hidden_size " + d);
        int hd = headDim(c, "num_heads", d / heads);
        int window = c.isSet("window_size") ? c.positiveInt("window_size", null) : 0;
        double theta = c.doubleValue("rope_theta", 10000.0);
        if (!(theta > 0)) throw c.error("rope_theta", "must be positive, found " + theta);
        return new AttentionConfig(d, heads, kv, hd, theta, window, c.boolValue("qkv_bias", false), c.boolValue("qk_norm", false));
    }

    private static int headDim(ConfigReader c, String field, int hd) {
        if (hd % 2 != 0) throw c.error(field, "gives head dimension " + hd + ", which must be even for the rotary embedding");
        return hd;
    }

    /** SPEC §4.5: transformers' {@code llama} and {@code mistral} (sliding_window) formats. */
    public static AttentionConfig llama(ConfigReader c, boolean mistral) {
        int d = c.positiveInt("hidden_size", 4096);
        int heads = c.positiveInt("num_attention_heads", 32);
        int kv = kvHeads(c, "num_key_value_heads", heads);
        int hd;
        if (c.isSet("head_dim")) {
            hd = headDim(c, "head_dim", c.positiveInt("head_dim", null));
        } else {
            if (d % heads != 0) throw c.error("num_attention_heads", heads + " heads do not divide hidden_size " + d + " (and head_dim is not set)");
            hd = headDim(c, "num_attention_heads", d / heads);
        }
        if (c.boolValue("attention_bias", false)) throw c.error("attention_bias", "biases on the attention projections are not supported");
        if (c.boolValue("mlp_bias", false)) throw c.error("mlp_bias", "biases on the MLP projections are not supported");
        int window = 0;
        if (mistral && c.isSet("sliding_window")) window = c.positiveInt("sliding_window", null);
        return new AttentionConfig(d, heads, kv, hd, ropeTheta(c), window, false, false);
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
            if (!params.isObject()) throw c.error("rope_parameters", "must be an object, found " + params);
            checkRopeType(c, "rope_parameters", params);
            JsonNode t = params.get("rope_theta");
            if (t != null && !t.isNull()) {
                if (!t.isNumber()) throw c.error("rope_parameters.rope_theta", "must be a number, found " + t);
                theta = t.asDouble();
                field = "rope_parameters.rope_theta";
            }
        }
        JsonNode scaling = c.root().get("rope_scaling");
        if (scaling != null && !scaling.isNull()) {
            if (!scaling.isObject()) throw c.error("rope_scaling", "must be an object, found " + scaling);
            checkRopeType(c, "rope_scaling", scaling);
        }
        if (!(theta > 0)) throw c.error(field, "must be positive, found " + theta);
        return theta;
    }

    private static void checkRopeType(ConfigReader c, String field, JsonNode node) {
        JsonNode type = node.has("rope_type") ? node.get("rope_type") : node.get("type");
        String name = type == null || type.isNull() ? "default" : type.asText();
        if (!name.equals("default")) {
            throw c.error(field + ".rope_type", "only the default RoPE is supported, found '" + name + "' (scaled RoPE variants are not implemented)");
        }
    }
}
