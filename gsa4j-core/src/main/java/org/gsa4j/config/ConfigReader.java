package org.gsa4j.config;

import com.fasterxml.jackson.databind.JsonNode;
import org.gsa4j.Gsa4jException;

import java.nio.file.Path;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Typed, defaulted reads of a config.json object with errors that name the file and the field
 * ({@code "FILE: field 'F': PROBLEM"}). A reader of a nested object ({@link #child}) names its fields
 * with the path from the top, e.g. {@code attn[1].num_heads}.
 */
public final class ConfigReader {
    private final Path file;
    private final JsonNode root;
    private final String prefix;

    public ConfigReader(Path file, JsonNode root) {
        this(file, root, "");
    }

    private ConfigReader(Path file, JsonNode root, String prefix) {
        if (root == null || !root.isObject()) {
            throw Gsa4jException.at(file, prefix.isEmpty() ? null : prefix.substring(0, prefix.length() - 1),
                    prefix.isEmpty() ? "config is not a JSON object" : "must be an object, found " + root);
        }
        this.file = file;
        this.root = root;
        this.prefix = prefix;
    }

    /** A reader of the object at {@code field} (named {@code field} in errors). */
    public ConfigReader child(String field, JsonNode node) {
        return new ConfigReader(file, node, prefix + field + ".");
    }

    public Path file() {
        return file;
    }

    public JsonNode root() {
        return root;
    }

    public boolean isSet(String field) {
        JsonNode n = root.get(field);
        return n != null && !n.isNull();
    }

    public int intValue(String field, Integer fallback) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            if (fallback == null) throw error(field, "is required");
            return fallback;
        }
        if (!n.canConvertToInt() || (!n.isIntegralNumber() && n.asDouble() != Math.rint(n.asDouble()))) {
            throw error(field, "must be an integer, found " + n);
        }
        return n.asInt();
    }

    public int positiveInt(String field, Integer fallback) {
        int v = intValue(field, fallback);
        if (v <= 0) throw error(field, "must be positive, found " + v);
        return v;
    }

    /** The field as a positive integer, or null when absent or null. */
    /** {@code num_kv_heads}: positive, and {@code numHeads} when unset (no grouped-query attention). */
    public int numKvHeads(int numHeads) {
        return isSet("num_kv_heads") ? positiveInt("num_kv_heads", null) : numHeads;
    }

    public Integer optionalPositiveInt(String field) {
        return isSet(field) ? positiveInt(field, null) : null;
    }

    public double doubleValue(String field, Double fallback) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            if (fallback == null) throw error(field, "is required");
            return fallback;
        }
        if (!n.isNumber()) throw error(field, "must be a number, found " + n);
        return n.asDouble();
    }

    /** The field as a number, or null when absent or null. */
    public Double optionalDouble(String field) {
        return isSet(field) ? doubleValue(field, null) : null;
    }

    public boolean boolValue(String field, boolean fallback) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) return fallback;
        if (!n.isBoolean()) throw error(field, "must be true or false, found " + n);
        return n.asBoolean();
    }

    public String string(String field, String fallback) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            if (fallback == null) throw error(field, "is required");
            return fallback;
        }
        if (!n.isTextual()) throw error(field, "must be a string, found " + n);
        return n.asText();
    }

    /** The field as a string, or null when absent or null. */
    public String optionalString(String field) {
        return isSet(field) ? string(field, null) : null;
    }

    /** The top-level fields not in {@code known} (nor {@code model_type}), in file order: what a round trip must keep. */
    public Map<String, JsonNode> unknownFields(Collection<String> known) {
        Map<String, JsonNode> out = new LinkedHashMap<>();
        root.properties().forEach(e -> {
            if (!e.getKey().equals("model_type") && !known.contains(e.getKey())) out.put(e.getKey(), e.getValue());
        });
        return out;
    }

    /** Builds a record from this file's values: an invariant it breaks becomes an error naming this file and the field. */
    public <T> T build(Supplier<T> construct) {
        try {
            return construct.get();
        } catch (ConfigException e) {
            throw Gsa4jException.at(file, prefix + e.field(), e.problem(), e);
        }
    }

    public Gsa4jException error(String field, String problem) {
        return Gsa4jException.at(file, prefix + field, problem);
    }
}
