package org.gsa4j.io;

import com.fasterxml.jackson.databind.JsonNode;
import org.gsa4j.Gsa4jException;

import java.nio.file.Path;

/**
 * Typed, checked access to a Hugging Face {@code config.json} object (or a nested object in it,
 * such as {@code attn} or {@code rope_parameters}). A field that is absent or JSON {@code null}
 * takes the given default (that is how {@code transformers} writes unset options); a field of the
 * wrong type is a {@link Gsa4jException} naming the file and the field (dotted for nested objects).
 */
public final class HfConfig {
    private final Path file;
    private final JsonNode node;
    private final String prefix;

    public HfConfig(Path file, JsonNode node) {
        this(file, node, "");
    }

    private HfConfig(Path file, JsonNode node, String prefix) {
        if (node == null || !node.isObject()) {
            throw Gsa4jException.at(file, prefix.isEmpty() ? null : prefix.substring(0, prefix.length() - 1),
                    "must be a JSON object, found " + SafeTensors.kind(node));
        }
        this.file = file;
        this.node = node;
        this.prefix = prefix;
    }

    public Path file() {
        return file;
    }

    /** The raw JSON object. */
    public JsonNode json() {
        return node;
    }

    /** Present with a non-null value. */
    public boolean has(String field) {
        JsonNode v = node.get(field);
        return v != null && !v.isNull();
    }

    private JsonNode value(String field) {
        JsonNode v = node.get(field);
        return v == null || v.isNull() ? null : v;
    }

    private Gsa4jException wrong(String field, String expected, JsonNode v) {
        return Gsa4jException.at(file, prefix + field, "expected " + expected + ", found " + SafeTensors.kind(v));
    }

    private Gsa4jException missing(String field) {
        return Gsa4jException.at(file, prefix + field, "required but missing (or null)");
    }

    /** An integer; integral floats such as {@code 8.0} are accepted. */
    public long getLong(String field, long def) {
        JsonNode v = value(field);
        if (v == null) return def;
        if (v.isIntegralNumber() && v.canConvertToLong()) return v.longValue();
        if (v.isFloatingPointNumber() && v.doubleValue() == Math.rint(v.doubleValue()) && Math.abs(v.doubleValue()) < 0x1p53) {
            return (long) v.doubleValue();
        }
        throw wrong(field, "an integer", v);
    }

    public int getInt(String field, int def) {
        long l = getLong(field, def);
        if (l < Integer.MIN_VALUE || l > Integer.MAX_VALUE) throw wrong(field, "a 32-bit integer", node.get(field));
        return (int) l;
    }

    /** An integer, or null where absent/null. */
    public Integer getIntOrNull(String field) {
        return has(field) ? getInt(field, 0) : null;
    }

    public int requireInt(String field) {
        if (!has(field)) throw missing(field);
        return getInt(field, 0);
    }

    public double getDouble(String field, double def) {
        JsonNode v = value(field);
        if (v == null) return def;
        if (!v.isNumber()) throw wrong(field, "a number", v);
        return v.doubleValue();
    }

    public Double getDoubleOrNull(String field) {
        return has(field) ? getDouble(field, 0) : null;
    }

    public double requireDouble(String field) {
        if (!has(field)) throw missing(field);
        return getDouble(field, 0);
    }

    public boolean getBool(String field, boolean def) {
        JsonNode v = value(field);
        if (v == null) return def;
        if (!v.isBoolean()) throw wrong(field, "true or false", v);
        return v.booleanValue();
    }

    public String getString(String field, String def) {
        JsonNode v = value(field);
        if (v == null) return def;
        if (!v.isTextual()) throw wrong(field, "a string", v);
        return v.textValue();
    }

    public String requireString(String field) {
        if (!has(field)) throw missing(field);
        return getString(field, null);
    }

    /** A list of integers (e.g. {@code attn.layers}); null where absent/null. */
    public int[] getIntArray(String field) {
        JsonNode v = value(field);
        if (v == null) return null;
        if (!v.isArray()) throw wrong(field, "an array of integers", v);
        int[] out = new int[v.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode e = v.get(i);
            if (!e.isIntegralNumber() || !e.canConvertToInt()) throw wrong(field + "[" + i + "]", "an integer", e);
            out[i] = e.intValue();
        }
        return out;
    }

    /** A nested object as a config view; null where absent/null. */
    public HfConfig getObject(String field) {
        JsonNode v = value(field);
        if (v == null) return null;
        if (!v.isObject()) throw wrong(field, "a JSON object", v);
        return new HfConfig(file, v, prefix + field + ".");
    }

    @Override
    public String toString() {
        return file + (prefix.isEmpty() ? "" : " [" + prefix.substring(0, prefix.length() - 1) + "]");
    }
}
