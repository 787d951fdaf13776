package org.gsa4j.models;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.tensor.Tensor;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;

/**
 * What a decode-state snapshot must match to be continued by a model: the architecture, a hash
 * of its config, the precision its weights are held in, and a fingerprint of the weights
 * themselves (two checkpoints of one config give different states for the same text).
 *
 * @param modelType          the config's {@code model_type}
 * @param configSha256       SHA-256 of the config JSON with its keys sorted (so key order and number spelling do not matter)
 * @param weightDtype        F32, BF16 or F64: how the matrices are held (BF16 weights decode differently from F32 ones)
 * @param weightsFingerprint SHA-256 over every parameter's name, shape and {@value #SAMPLES} values spread over it
 */
public record ModelIdentity(String modelType, String configSha256, String weightDtype, String weightsFingerprint) {
    /** Values sampled per parameter for the fingerprint: enough to tell checkpoints apart, cheap for billions of weights. */
    static final int SAMPLES = 64;
    private static final ObjectMapper SORTED = new ObjectMapper().configure(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS, true);

    static ModelIdentity of(String modelType, JsonNode config, Map<String, Tensor> params) {
        boolean bf16 = false, f64 = false;
        MessageDigest weights = sha256();
        for (Map.Entry<String, Tensor> e : new TreeMap<>(params).entrySet()) {
            Tensor t = e.getValue();
            bf16 |= t.isBf16();
            f64 |= t.isF64();
            weights.update(e.getKey().getBytes(StandardCharsets.UTF_8));
            ByteBuffer b = ByteBuffer.allocate(4 * t.rank() + 8 * SAMPLES);
            for (int d : t.shape) b.putInt(d);
            int n = t.size(), samples = Math.min(n, SAMPLES);
            for (int i = 0; i < samples; i++) b.putDouble(t.get((int) ((long) i * n / samples)));
            weights.update(b.array(), 0, b.position());
        }
        String dtype = bf16 ? "BF16" : f64 ? "F64" : "F32";
        return new ModelIdentity(modelType, configHash(config), dtype, HexFormat.of().formatHex(weights.digest()));
    }

    /** SHA-256 (hex) of the config with its object keys sorted at every level. */
    static String configHash(JsonNode config) {
        try {
            byte[] canonical = SORTED.writeValueAsBytes(SORTED.convertValue(config, Object.class));
            return HexFormat.of().formatHex(sha256().digest(canonical));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A short key for caches and file names: the first 32 hex digits of a hash over all four fields. */
    public String key() {
        MessageDigest d = sha256();
        d.update((modelType + "\n" + configSha256 + "\n" + weightDtype + "\n" + weightsFingerprint).getBytes(StandardCharsets.UTF_8));
        return HexFormat.of().formatHex(d.digest()).substring(0, 32);
    }

    /** One line for error messages, e.g. {@code gsa (config 3fa2c1d0, F32 weights 9b1e0c44)}. */
    public String describe() {
        return modelType + " (config " + abbrev(configSha256) + ", " + weightDtype + " weights " + abbrev(weightsFingerprint) + ")";
    }

    private static String abbrev(String hex) {
        return hex == null ? "?" : hex.substring(0, Math.min(8, hex.length()));
    }

    ObjectNode toJson() {
        ObjectNode o = SORTED.createObjectNode();
        o.put("model_type", modelType);
        o.put("config_sha256", configSha256);
        o.put("weight_dtype", weightDtype);
        o.put("weights_fingerprint", weightsFingerprint);
        return o;
    }

    static ModelIdentity fromJson(JsonNode o) {
        return new ModelIdentity(o.path("model_type").asText(null), o.path("config_sha256").asText(null),
                o.path("weight_dtype").asText(null), o.path("weights_fingerprint").asText(null));
    }
}
