package org.gsa4j.reliability;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A deterministic, structure-aware mutation fuzzer (seeded; the same seed gives the same inputs).
 * Besides the usual byte-level mutations (bit flips, interesting integers of 1/2/4/8 bytes,
 * inserted/deleted/duplicated ranges, truncation, splicing with another seed) it knows two
 * structures: JSON text (a number, string or value replaced by a hostile one: huge/negative/
 * fractional numbers, path-traversal strings, deep nesting, long strings) and the safetensors
 * envelope (the JSON header mutated as text, then the 8-byte length prefix fixed up so the mutation
 * reaches the header validator instead of being stopped by the length check).
 */
final class Mutator {
    enum Kind { BINARY, JSON, SAFETENSORS }

    private final SplittableRandom rng;
    private final Kind kind;
    private final List<byte[]> seeds;

    Mutator(long seed, Kind kind, List<byte[]> seeds) {
        this.rng = new SplittableRandom(seed);
        this.kind = kind;
        this.seeds = seeds;
    }

    static final String[] HOSTILE_VALUES = {
        "-1", "0", "1", "2", "3", "7", "255", "256", "65535", "65536", "2147483647", "2147483648", "-2147483648",
        "-2147483649", "4294967296", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
        "18446744073709551616", "1e308", "-1e308", "1e309", "1e-320", "0.5", "-0.0", "1.0", "3.0000001", "1e10",
        "100000000", "1000000000", "NaN", "Infinity", "null", "true", "false", "\"\"", "\"x\"", "\"F32\"", "\"BF16\"",
        "\"I8\"", "\"gsa\"", "\"llama\"", "\"../../etc/passwd\"", "\"/etc/passwd\"", "\"..\\\\..\\\\x\"", "\"C:\\\\x\"",
        "\"model.safetensors\"", "\"model-00001-of-00002.safetensors\"", "\"config.json\"", "\".\"", "\"\\u0000\"",
        "[]", "{}", "[0]", "[1,2]", "[-1,5]", "[0,18446744073709551615]", "[2147483647,2147483647]",
        "[1e308]", "{\"a\":1}", "{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}",
    };

    byte[] next() {
        byte[] b = seeds.get(rng.nextInt(seeds.size())).clone();
        int n = 1 + rng.nextInt(4);
        for (int i = 0; i < n; i++) b = mutate(b);
        return b;
    }

    byte[] mutate(byte[] b) {
        int r = rng.nextInt(100);
        if (kind == Kind.JSON && r < 55) return mutateJsonText(b);
        if (kind == Kind.SAFETENSORS && r < 55) return mutateSafetensorsHeader(b);
        return mutateBytes(b);
    }

    // ------------------------------------------------------------------------------ bytes

    byte[] mutateBytes(byte[] b) {
        switch (rng.nextInt(10)) {
            case 0 -> { // flip a bit
                if (b.length > 0) b[rng.nextInt(b.length)] ^= (byte) (1 << rng.nextInt(8));
                return b;
            }
            case 1 -> { // interesting byte
                if (b.length > 0) b[rng.nextInt(b.length)] = (byte) new int[] {0, 1, 0x7f, 0x80, 0xff, '"', '{', '}', '[', ']', ',', ':', '\\', '.', '/'}[rng.nextInt(15)];
                return b;
            }
            case 2, 3 -> { // interesting integer of 2/4/8 bytes, little-endian; biased to the first 32 bytes (headers)
                int width = new int[] {2, 4, 8}[rng.nextInt(3)];
                if (b.length < width) return b;
                int pos = rng.nextInt(4) == 0 ? rng.nextInt(b.length - width + 1) : rng.nextInt(Math.min(32, b.length - width + 1));
                long v = new long[] {0, 1, -1, 2, 4, 8, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0xffff, 0x10000, Integer.MAX_VALUE,
                        Integer.MIN_VALUE, 0xffffffffL, 1L << 32, Long.MAX_VALUE, Long.MIN_VALUE, 100_000_000L, 100_000_001L,
                        b.length, b.length - 8, b.length + 1}[rng.nextInt(24)];
                ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
                switch (width) {
                    case 2 -> bb.putShort(pos, (short) v);
                    case 4 -> bb.putInt(pos, (int) v);
                    default -> bb.putLong(pos, v);
                }
                return b;
            }
            case 4 -> { // delete a range
                if (b.length == 0) return b;
                int from = rng.nextInt(b.length), len = 1 + rng.nextInt(Math.min(64, b.length - from));
                byte[] out = new byte[b.length - len];
                System.arraycopy(b, 0, out, 0, from);
                System.arraycopy(b, from + len, out, from, b.length - from - len);
                return out;
            }
            case 5 -> { // insert random bytes
                int at = rng.nextInt(b.length + 1), len = 1 + rng.nextInt(16);
                byte[] ins = new byte[len];
                rng.nextBytes(ins);
                return insert(b, at, ins);
            }
            case 6 -> { // duplicate a range
                if (b.length == 0) return b;
                int from = rng.nextInt(b.length), len = 1 + rng.nextInt(Math.min(256, b.length - from));
                return insert(b, rng.nextInt(b.length + 1), Arrays.copyOfRange(b, from, from + len));
            }
            case 7 -> { // truncate
                return b.length == 0 ? b : Arrays.copyOf(b, rng.nextInt(b.length));
            }
            case 8 -> { // splice with another seed
                byte[] o = seeds.get(rng.nextInt(seeds.size()));
                int cut = rng.nextInt(b.length + 1), ocut = rng.nextInt(o.length + 1);
                byte[] out = Arrays.copyOf(b, cut + o.length - ocut);
                System.arraycopy(o, ocut, out, cut, o.length - ocut);
                return out;
            }
            default -> { // overwrite a run with one byte
                if (b.length == 0) return b;
                int from = rng.nextInt(b.length), len = 1 + rng.nextInt(Math.min(32, b.length - from));
                Arrays.fill(b, from, from + len, (byte) rng.nextInt(256));
                return b;
            }
        }
    }

    static byte[] insert(byte[] b, int at, byte[] ins) {
        byte[] out = new byte[b.length + ins.length];
        System.arraycopy(b, 0, out, 0, at);
        System.arraycopy(ins, 0, out, at, ins.length);
        System.arraycopy(b, at, out, at + ins.length, b.length - at);
        return out;
    }

    // ------------------------------------------------------------------------------ JSON

    private static final Pattern JSON_VALUE = Pattern.compile("-?\\d+(\\.\\d+)?([eE][-+]?\\d+)?|\"[^\"\\\\]*+(?:\\\\.[^\"\\\\]*+)*+\"|null|true|false");

    byte[] mutateJsonText(byte[] b) {
        String s = new String(b, StandardCharsets.UTF_8);
        List<int[]> spans = new ArrayList<>();
        Matcher m = JSON_VALUE.matcher(s);
        while (m.find()) spans.add(new int[] {m.start(), m.end()});
        if (spans.isEmpty()) return mutateBytes(b);
        int[] sp = spans.get(rng.nextInt(spans.size()));
        String rep;
        switch (rng.nextInt(8)) {
            case 0 -> rep = "\"" + "a".repeat(1 + rng.nextInt(5000)) + "\"";
            case 1 -> { // deep nesting
                int d = 1 + rng.nextInt(3000);
                rep = "[".repeat(d) + "]".repeat(d);
            }
            case 2 -> { // copy another value of this document here
                int[] o = spans.get(rng.nextInt(spans.size()));
                rep = s.substring(o[0], o[1]);
            }
            case 3 -> rep = String.valueOf(rng.nextLong(-1000, 100000));
            case 4 -> { // delete the key/value around it
                int from = Math.max(0, s.lastIndexOf(',', sp[0]));
                return (s.substring(0, from) + s.substring(sp[1])).getBytes(StandardCharsets.UTF_8);
            }
            default -> rep = HOSTILE_VALUES[rng.nextInt(HOSTILE_VALUES.length)];
        }
        return (s.substring(0, sp[0]) + rep + s.substring(sp[1])).getBytes(StandardCharsets.UTF_8);
    }

    byte[] mutateSafetensorsHeader(byte[] b) {
        if (b.length < 8) return mutateBytes(b);
        long len = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        if (len < 0 || len > b.length - 8) return mutateBytes(b);
        byte[] header = Arrays.copyOfRange(b, 8, 8 + (int) len);
        byte[] data = Arrays.copyOfRange(b, 8 + (int) len, b.length);
        byte[] h2 = mutateJsonText(header);
        if (rng.nextInt(4) == 0) data = Arrays.copyOf(data, rng.nextInt(data.length + 1));
        ByteBuffer out = ByteBuffer.allocate(8 + h2.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(h2.length).put(h2).put(data);
        return out.array();
    }
}
