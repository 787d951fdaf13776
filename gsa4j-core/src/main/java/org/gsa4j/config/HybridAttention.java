package org.gsa4j.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.gsa4j.config.ConfigException.require;

/**
 * The reference library's hybrid models: the {@code attn} field of a linear model's config puts
 * softmax attention at the listed layers (docs/MATH.md#hybrid-attention-layers). A dict, or a list
 * of dicts, each with {@code layers} (required), {@code num_heads} (required), {@code num_kv_heads}
 * (→ num_heads), {@code qkv_bias} (false), {@code window_size} (null) and {@code rope_theta}
 * (10000); head_dim = hidden_size / num_heads, no q/k norm. {@link #NONE} when {@code attn} is null.
 */
public record HybridAttention(List<Group> groups, boolean asList) {

    /** One dict of {@code attn}: the layers it covers and their attention. */
    public record Group(List<Integer> layers, int numHeads, int numKvHeads, boolean qkvBias, Integer windowSize, double ropeTheta) {
        public Group {
            layers = List.copyOf(layers);
        }
    }

    public static final HybridAttention NONE = new HybridAttention(List.of(), false);

    public HybridAttention {
        groups = List.copyOf(groups);
    }

    /** How an error names group i's field. */
    private String at(int i) {
        return asList ? "attn[" + i + "]" : "attn";
    }

    /** Checks the groups against the model (called by the owning config's constructor). */
    void check(int hiddenSize, int numLayers) {
        java.util.Set<Integer> seen = new java.util.HashSet<>();
        for (int s = 0; s < groups.size(); s++) {
            Group g = groups.get(s);
            String at = at(s);
            require(g.numHeads() > 0, at + ".num_heads", "must be positive, found " + g.numHeads());
            require(g.numKvHeads() > 0 && g.numHeads() % g.numKvHeads() == 0, at + ".num_kv_heads",
                    g.numKvHeads() + " does not divide the " + g.numHeads() + " query heads");
            require(hiddenSize % g.numHeads() == 0, at + ".num_heads", g.numHeads() + " heads do not divide hidden_size " + hiddenSize);
            int hd = hiddenSize / g.numHeads();
            require(hd % 2 == 0, at + ".num_heads", "gives head dimension " + hd + ", which must be even for the rotary embedding");
            require(g.ropeTheta() > 0, at + ".rope_theta", "must be positive, found " + g.ropeTheta());
            require(g.windowSize() == null || g.windowSize() > 0, at + ".window_size", "must be positive, found " + g.windowSize());
            for (int i = 0; i < g.layers().size(); i++) {
                int l = g.layers().get(i);
                require(l >= 0 && l < numLayers, at + ".layers[" + i + "]", "must be a layer index in [0, " + numLayers + "), found " + l);
                require(seen.add(l), at + ".layers[" + i + "]", "layer " + l + " is listed twice");
            }
        }
    }

    /** Layer index → its attention shape; empty without hybrid layers. */
    public Map<Integer, AttentionConfig> byLayer(int hiddenSize) {
        Map<Integer, AttentionConfig> out = new TreeMap<>();
        for (Group g : groups) {
            AttentionConfig a = new AttentionConfig(hiddenSize, g.numHeads(), g.numKvHeads(), hiddenSize / g.numHeads(),
                    g.ropeTheta(), g.windowSize() == null ? 0 : g.windowSize(), g.qkvBias(), false);
            for (int l : g.layers()) out.put(l, a);
        }
        return out;
    }

    static HybridAttention read(ConfigReader c) {
        JsonNode attn = c.root().get("attn");
        if (attn == null || attn.isNull()) return NONE;
        if (!attn.isObject() && !attn.isArray()) throw c.error("attn", "must be null, an object or a list of objects, found " + attn);
        List<Group> groups = new ArrayList<>();
        for (int s = 0; s < (attn.isArray() ? attn.size() : 1); s++) {
            String at = attn.isArray() ? "attn[" + s + "]" : "attn";
            ConfigReader r = c.child(at, attn.isArray() ? attn.get(s) : attn);
            int heads = r.positiveInt("num_heads", null);
            JsonNode layers = r.root().get("layers");
            if (layers == null || !layers.isArray()) throw r.error("layers", "is required: a list of layer indices");
            List<Integer> list = new ArrayList<>();
            for (int i = 0; i < layers.size(); i++) {
                JsonNode l = layers.get(i);
                if (!l.canConvertToInt() || !l.isIntegralNumber()) throw r.error("layers[" + i + "]", "must be a layer index, found " + l);
                list.add(l.asInt());
            }
            groups.add(new Group(list, heads, r.isSet("num_kv_heads") ? r.positiveInt("num_kv_heads", null) : heads,
                    r.boolValue("qkv_bias", false), r.optionalPositiveInt("window_size"), r.doubleValue("rope_theta", 10000.0)));
        }
        return new HybridAttention(groups, attn.isArray());
    }

    /** The {@code attn} value: null, one object, or a list. */
    JsonNode toJson() {
        if (groups.isEmpty() && !asList) return Fields.JSON.nullNode();
        ArrayNode list = Fields.JSON.createArrayNode();
        for (Group g : groups) {
            ObjectNode o = list.addObject();
            ArrayNode layers = o.putArray("layers");
            g.layers().forEach(layers::add);
            o.put("num_heads", g.numHeads());
            o.put("num_kv_heads", g.numKvHeads());
            o.put("qkv_bias", g.qkvBias());
            Fields.put(o, "window_size", g.windowSize());
            o.put("rope_theta", g.ropeTheta());
        }
        return asList ? list : list.get(0);
    }
}
