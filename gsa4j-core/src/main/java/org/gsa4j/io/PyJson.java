package org.gsa4j.io;

import com.fasterxml.jackson.databind.JsonNode;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * JSON text as Python's {@code json.dumps(obj, indent=2, sort_keys=True)} writes it, which is how
 * {@code transformers} writes {@code config.json} and {@code model.safetensors.index.json}: keys
 * sorted, two-space indent, {@code ": "} between key and value, ASCII only ({@code \\uXXXX} escapes),
 * floats in Python {@code repr} form ({@code 1e-06}, {@code 0.02}, {@code 10000.0}).
 */
public final class PyJson {
    private PyJson() {}

    /** The text, with the trailing newline {@code transformers} adds. */
    public static String dumps(JsonNode node) {
        StringBuilder sb = new StringBuilder();
        write(sb, node, 0);
        return sb.append('\n').toString();
    }

    private static void write(StringBuilder sb, JsonNode n, int depth) {
        switch (n.getNodeType()) {
            case OBJECT -> {
                if (n.isEmpty()) {
                    sb.append("{}");
                    return;
                }
                List<String> keys = new ArrayList<>();
                for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) keys.add(it.next());
                keys.sort(null); // Python sorts str by code point; Java String order is by UTF-16 unit (same outside astral planes)
                sb.append("{\n");
                for (int i = 0; i < keys.size(); i++) {
                    indent(sb, depth + 1);
                    string(sb, keys.get(i));
                    sb.append(": ");
                    write(sb, n.get(keys.get(i)), depth + 1);
                    sb.append(i + 1 < keys.size() ? ",\n" : "\n");
                }
                indent(sb, depth);
                sb.append('}');
            }
            case ARRAY -> {
                if (n.isEmpty()) {
                    sb.append("[]");
                    return;
                }
                sb.append("[\n");
                for (int i = 0; i < n.size(); i++) {
                    indent(sb, depth + 1);
                    write(sb, n.get(i), depth + 1);
                    sb.append(i + 1 < n.size() ? ",\n" : "\n");
                }
                indent(sb, depth);
                sb.append(']');
            }
            case STRING -> string(sb, n.textValue());
            case BOOLEAN -> sb.append(n.booleanValue() ? "true" : "false");
            case NULL, MISSING -> sb.append("null");
            case NUMBER -> {
                if (n.isIntegralNumber()) sb.append(n.bigIntegerValue());
                else sb.append(floatRepr(n.doubleValue()));
            }
            default -> sb.append(n.toString());
        }
    }

    private static void indent(StringBuilder sb, int depth) {
        sb.append("  ".repeat(depth));
    }

    private static void string(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c < 0x20 || c > 0x7e) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        sb.append('"');
    }

    /** Python's {@code repr(float)}: shortest round-trip digits, exponent form below 1e-4 or from 1e16. */
    public static String floatRepr(double x) {
        if (Double.isNaN(x)) return "NaN";
        if (Double.isInfinite(x)) return x > 0 ? "Infinity" : "-Infinity";
        if (x == 0) return (1 / x < 0) ? "-0.0" : "0.0";
        BigDecimal bd = new BigDecimal(Double.toString(Math.abs(x))).stripTrailingZeros();
        String digits = bd.unscaledValue().toString();
        int decpt = digits.length() - bd.scale(); // value = 0.digits × 10^decpt
        StringBuilder sb = new StringBuilder(x < 0 ? "-" : "");
        if (decpt > -4 && decpt <= 16) {
            if (decpt <= 0) {
                sb.append("0.").append("0".repeat(-decpt)).append(digits);
            } else if (decpt >= digits.length()) {
                sb.append(digits).append("0".repeat(decpt - digits.length())).append(".0");
            } else {
                sb.append(digits, 0, decpt).append('.').append(digits, decpt, digits.length());
            }
        } else {
            int exp = decpt - 1;
            sb.append(digits.charAt(0));
            if (digits.length() > 1) sb.append('.').append(digits, 1, digits.length());
            sb.append('e').append(exp < 0 ? '-' : '+');
            int a = Math.abs(exp);
            if (a < 10) sb.append('0');
            sb.append(a);
        }
        return sb.toString();
    }

}
