package org.gsa4j.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.gsa4j.config.ConfigException.require;

/** What the config records share: allowed values, checks and the JSON writing helpers. */
final class Fields {
    private Fields() {}

    static final ObjectMapper JSON = new ObjectMapper();

    /** attn_mode values: every kernel of the reference library computes the same function. */
    static final Set<String> ATTN_MODES = Set.of("chunk", "fused_recurrent", "fused_chunk");

    /** The parameter-free feature maps GLA and RetNet accept on q and k (transformers' ACT2FN names); null is none. */
    static final Set<String> FEATURE_MAPS = Set.of("swish", "silu", "relu");

    static void checkAttnMode(String mode) {
        require(ATTN_MODES.contains(mode), "attn_mode", "must be one of " + ATTN_MODES + ", found '" + mode + "'");
    }

    static void checkFeatureMap(String featureMap) {
        require(featureMap == null || FEATURE_MAPS.contains(featureMap), "feature_map",
                "must be null or one of " + FEATURE_MAPS + ", found '" + featureMap + "'");
    }

    /** An immutable copy (deep: JSON nodes are mutable) keeping the order. */
    static Map<String, JsonNode> copy(Map<String, JsonNode> extra) {
        Map<String, JsonNode> out = new LinkedHashMap<>();
        if (extra != null) extra.forEach((k, v) -> out.put(k, v.deepCopy()));
        return Collections.unmodifiableMap(out);
    }

    /** A new object with {@code model_type} first. */
    static ObjectNode start(String modelType) {
        ObjectNode o = JSON.createObjectNode();
        o.put("model_type", modelType);
        return o;
    }

    /** An fla config's first fields: model_type, the language-model fields, num_heads. */
    static ObjectNode startFla(String modelType, LmConfig lm, int numHeads) {
        ObjectNode o = start(modelType);
        lm.writeFla(o);
        o.put("num_heads", numHeads);
        return o;
    }

    /** The head layout's other fields (num_heads is {@link #startFla}'s). */
    static void putHeadShape(ObjectNode o, MultiHeadConfig c) {
        o.put("num_kv_heads", c.numKvHeads());
        o.put("expand_k", c.expandK());
        o.put("expand_v", c.expandV());
    }

    /** The per-head output norm's fields, GLA's and RetNet's. */
    static void putOutputNorm(ObjectNode o, GatedOutputConfig c, boolean elementwiseAffine) {
        o.put("use_output_gate", c.useOutputGate());
        o.put("fuse_norm", c.fuseNorm());
        o.put("elementwise_affine", elementwiseAffine);
    }

    /** An fla config's last fields: attn_mode (where the architecture has one), the hybrid attention layers, the unmodelled ones. */
    static ObjectNode finishFla(ObjectNode o, String attnMode, HybridAttention attn, Map<String, JsonNode> extra) {
        if (attnMode != null) o.put("attn_mode", attnMode);
        o.set("attn", attn.toJson());
        return finish(o, extra);
    }

    /** Appends the fields a record does not model; they never replace one it does. */
    static ObjectNode finish(ObjectNode o, Map<String, JsonNode> extra) {
        extra.forEach((k, v) -> {
            if (!o.has(k)) o.set(k, v.deepCopy());
        });
        return o;
    }

    static void put(ObjectNode o, String field, Integer value) {
        if (value == null) o.putNull(field);
        else o.put(field, value);
    }

    static void put(ObjectNode o, String field, Double value) {
        if (value == null) o.putNull(field);
        else o.put(field, value);
    }

    static void put(ObjectNode o, String field, String value) {
        if (value == null) o.putNull(field);
        else o.put(field, value);
    }

    /** {@code a} followed by {@code b}. */
    static List<String> concat(List<String> a, List<String> b) {
        List<String> out = new java.util.ArrayList<>(a);
        out.addAll(b);
        return List.copyOf(out);
    }
}
