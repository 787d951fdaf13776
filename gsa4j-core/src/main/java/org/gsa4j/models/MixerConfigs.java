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
        return kvHeads(c, field, heads, heads);
    }

    /** kv heads from {@code field}, {@code fallback} when absent; they must divide the query heads. */
    private static int kvHeads(ConfigReader c, String field, int heads, int fallback) {
        int kv = c.isSet(field) ? c.positiveInt(field, null) : fallback;
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
        // transformers' defaults when the field is absent: Llama num_key_value_heads = num_attention_heads,
        // Mistral 8 (null means "as many as the query heads" in both)
        int kv = mistral && !c.root().has("num_key_value_heads")
                ? kvHeads(c, "num_key_value_heads", heads, 8) : kvHeads(c, "num_key_value_heads", heads);
        int hd;
        if (c.isSet("head_dim")) {
            hd = headDim(c, "head_dim", c.positiveInt("head_dim", null));
        } else {
            if (d % heads != 0) throw c.error("num_attention_heads", heads + " heads do not divide hidden_size " + d + " (and head_dim is not set)");
            hd = headDim(c, "num_attention_heads", d / heads);
        }
        if (c.boolValue("attention_bias", false)) throw c.error("attention_bias", "biases on the attention projections are not supported");
        if (c.boolValue("mlp_bias", false)) throw c.error("mlp_bias", "biases on the MLP projections are not supported");
        // Mistral: sliding_window defaults to 4096 when absent; null means full causal attention
        int window = 0;
        if (mistral && (c.isSet("sliding_window") || !c.root().has("sliding_window"))) window = c.positiveInt("sliding_window", 4096);
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

    /** An error about a field of a nested object, renamed "OUTER.FIELD". */
    private static org.gsa4j.Gsa4jException nested(ConfigReader c, String outer, org.gsa4j.Gsa4jException e) {
        String m = e.getMessage();
        int a = m.indexOf("field '"), b = a < 0 ? -1 : m.indexOf("': ", a);
        if (b < 0) return c.error(outer, m);
        return c.error(outer + "." + m.substring(a + 7, b), m.substring(b + 3));
    }

    /**
     * The hybrid attention layers of an fla model (SPEC §3.1 {@code attn}, {@code fla/models/hybrid.py}):
     * a dict or a list of dicts with {@code layers} (required), {@code num_heads} (required),
     * {@code num_kv_heads} (→ num_heads), {@code qkv_bias} (false), {@code window_size} (null) and
     * {@code rope_theta} (10000). Returns layer index → its attention configuration (no q/k norm,
     * head_dim = hidden_size / num_heads); empty when {@code attn} is null.
     */
    public static java.util.Map<Integer, AttentionConfig> hybridAttention(ConfigReader c, int hiddenSize, int numLayers) {
        java.util.Map<Integer, AttentionConfig> out = new java.util.TreeMap<>();
        JsonNode attn = c.root().get("attn");
        if (attn == null || attn.isNull()) return out;
        if (!attn.isObject() && !attn.isArray()) throw c.error("attn", "must be null, an object or a list of objects, found " + attn);
        java.util.List<JsonNode> specs = new java.util.ArrayList<>();
        if (attn.isObject()) specs.add(attn);
        else attn.forEach(specs::add);
        for (int s = 0; s < specs.size(); s++) {
            String at = attn.isArray() ? "attn[" + s + "]" : "attn";
            JsonNode spec = specs.get(s);
            if (!spec.isObject()) throw c.error(at, "must be an object, found " + spec);
            ConfigReader r = new ConfigReader(c.file(), spec);
            int heads;
            int kv;
            double theta;
            int window;
            boolean bias;
            try {
                heads = r.positiveInt("num_heads", null);
                kv = r.isSet("num_kv_heads") ? r.positiveInt("num_kv_heads", null) : heads;
                theta = r.doubleValue("rope_theta", 10000.0);
                window = r.isSet("window_size") ? r.positiveInt("window_size", null) : 0;
                bias = r.boolValue("qkv_bias", false);
            } catch (org.gsa4j.Gsa4jException e) {
                throw nested(c, at, e);
            }
            if (heads % kv != 0) throw c.error(at + ".num_kv_heads", kv + " does not divide the " + heads + " query heads");
            if (hiddenSize % heads != 0) throw c.error(at + ".num_heads", heads + " heads do not divide hidden_size " + hiddenSize);
            int hd = hiddenSize / heads;
            if (hd % 2 != 0) throw c.error(at + ".num_heads", "gives head dimension " + hd + ", which must be even for the rotary embedding");
            if (!(theta > 0)) throw c.error(at + ".rope_theta", "must be positive, found " + theta);
            JsonNode layers = spec.get("layers");
            if (layers == null || !layers.isArray()) throw c.error(at + ".layers", "is required: a list of layer indices");
            AttentionConfig cfg = new AttentionConfig(hiddenSize, heads, kv, hd, theta, window, bias, false);
            for (int i = 0; i < layers.size(); i++) {
                JsonNode l = layers.get(i);
                if (!l.canConvertToInt() || !l.isIntegralNumber() || l.asInt() < 0 || l.asInt() >= numLayers) {
                    throw c.error(at + ".layers[" + i + "]", "must be a layer index in [0, " + numLayers + "), found " + l);
                }
                if (out.put(l.asInt(), cfg) != null) throw c.error(at + ".layers[" + i + "]", "layer " + l.asInt() + " is listed twice");
            }
        }
        return out;
    }
}
