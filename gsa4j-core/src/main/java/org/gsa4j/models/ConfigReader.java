package org.gsa4j.models;

import com.fasterxml.jackson.databind.JsonNode;
import org.gsa4j.Gsa4jException;

import java.nio.file.Path;

/** Typed, defaulted reads of a config.json with errors that name the file and the field. */
public final class ConfigReader {
    private final Path file;
    private final JsonNode root;

    public ConfigReader(Path file, JsonNode root) {
        if (root == null || !root.isObject()) throw Gsa4jException.at(file, null, "config is not a JSON object");
        this.file = file;
        this.root = root;
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

    public double doubleValue(String field, Double fallback) {
        JsonNode n = root.get(field);
        if (n == null || n.isNull()) {
            if (fallback == null) throw error(field, "is required");
            return fallback;
        }
        if (!n.isNumber()) throw error(field, "must be a number, found " + n);
        return n.asDouble();
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

    public Gsa4jException error(String field, String problem) {
        return Gsa4jException.at(file, field, problem);
    }
}
