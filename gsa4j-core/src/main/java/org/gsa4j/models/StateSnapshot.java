package org.gsa4j.models;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.Gsa4jException;
import org.gsa4j.layers.TokenMixer.MixerState;
import org.gsa4j.tensor.Tensor;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * The snapshot format of a {@link DecodeState}: everything needed to continue decoding, bit for
 * bit, in another process or on another machine running the same model.
 *
 * <pre>
 *   magic      8 bytes  "GSA4JDS\n"
 *   version    u32      1
 *   header     u32 length, then UTF-8 JSON: the model's identity ({@link ModelIdentity}), the
 *                       position, the batch, the application's notes, and per layer its parts in
 *                       order: {"name", "dtype": "F32"|"F64", "shape"} for a tensor,
 *                       {"name", "value"} for a counter
 *   header crc u32      CRC-32C of everything before it
 *   payload             the tensors' values in header order, little-endian
 *   payload crc u32     CRC-32C of the payload
 * </pre>
 * All integers little-endian. A reader checks the magic, the version, the header's checksum, then
 * the model's identity (refusing a snapshot of another model before reading its payload), then
 * the payload's checksum; each failure is one {@link Gsa4jException} line saying which.
 */
public final class StateSnapshot {
    /** "GSA4JDS" and a newline (a text-mode transfer that rewrites line ends shows as a bad magic). */
    static final byte[] MAGIC = {'G', 'S', 'A', '4', 'J', 'D', 'S', '\n'};
    public static final int VERSION = 1;
    /** A header larger than this is not one this code wrote (about 200 bytes per layer). */
    private static final int MAX_HEADER = 16 << 20;
    private static final ObjectMapper JSON = new ObjectMapper();

    private StateSnapshot() {}

    /** A restored state and the notes written with it. */
    public record Restored(DecodeState state, Map<String, String> notes) {}

    static byte[] toBytes(DecodeState state, Map<String, String> notes) {
        ByteArrayOutputStream out = new ByteArrayOutputStream((int) Math.min(Integer.MAX_VALUE - 64, state.bytes() + 4096));
        write(state, notes, out);
        return out.toByteArray();
    }

    /** Writes {@code state} with the application's {@code notes} (small strings) to {@code out}. */
    public static void write(DecodeState state, Map<String, String> notes, OutputStream out) {
        List<List<Object>> values = new ArrayList<>();
        ObjectNode header = JSON.createObjectNode();
        header.set("model", state.model.identity().toJson());
        header.put("position", state.position());
        header.put("batch", state.batch);
        ObjectNode n = header.putObject("notes");
        notes.forEach(n::put);
        ArrayNode layers = header.putArray("layers");
        for (MixerState layer : state.layers) {
            ArrayNode parts = layers.addArray();
            List<Object> vals = new ArrayList<>();
            layer.save(new MixerState.Writer() {
                @Override
                public void tensor(String name, Tensor t) {
                    if (t.isBf16()) throw new IllegalStateException("a decoding state holds no bfloat16 tensors (" + name + ")");
                    ObjectNode p = parts.addObject();
                    p.put("name", name);
                    p.put("dtype", t.isF64() ? "F64" : "F32");
                    ArrayNode shape = p.putArray("shape");
                    for (int d : t.shape) shape.add(d);
                    vals.add(t);
                }

                @Override
                public void number(String name, long value) {
                    parts.addObject().put("name", name).put("value", value);
                }
            });
            values.add(vals);
        }
        try {
            byte[] json = JSON.writeValueAsBytes(header);
            CRC32C crc = new CRC32C();
            ByteBuffer head = ByteBuffer.allocate(MAGIC.length + 8).order(ByteOrder.LITTLE_ENDIAN);
            head.put(MAGIC).putInt(VERSION).putInt(json.length);
            crc.update(head.array());
            crc.update(json);
            out.write(head.array());
            out.write(json);
            out.write(le32((int) crc.getValue()));
            crc.reset();
            byte[] buf = new byte[1 << 16];
            for (List<Object> vals : values) {
                for (Object v : vals) writeTensor((Tensor) v, buf, crc, out);
            }
            out.write(le32((int) crc.getValue()));
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the decode-state snapshot: " + e.getMessage(), e);
        }
    }

    private static void writeTensor(Tensor t, byte[] buf, CRC32C crc, OutputStream out) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(buf).order(ByteOrder.LITTLE_ENDIAN);
        int width = t.isF64() ? 8 : 4, per = buf.length / width;
        for (int i = 0; i < t.size(); i += per) {
            int len = Math.min(per, t.size() - i);
            b.clear();
            if (t.isF64()) b.asDoubleBuffer().put(t.d, i, len);
            else b.asFloatBuffer().put(t.f, i, len);
            crc.update(buf, 0, len * width);
            out.write(buf, 0, len * width);
        }
    }

    /** {@link #read} from a byte array that must hold exactly one snapshot. */
    public static Restored fromBytes(CausalLM model, byte[] bytes) {
        ByteArrayInputStream in = new ByteArrayInputStream(bytes);
        Restored r = read(model, in);
        if (in.available() > 0) throw refused("has " + in.available() + " bytes after its end (corrupted)");
        return r;
    }

    /**
     * Reads one snapshot of a state of {@code model} from {@code in} (which is left just after it).
     * Refuses, with one line, a stream that is not a snapshot, a newer format, a snapshot of
     * another model or weights, a corrupted header or payload, and a truncated one.
     */
    public static Restored read(CausalLM model, InputStream in) {
        try {
            CRC32C crc = new CRC32C();
            byte[] head = in.readNBytes(MAGIC.length + 8);
            if (head.length < MAGIC.length || !Arrays.equals(Arrays.copyOf(head, MAGIC.length), MAGIC)) {
                throw refused("is not a gsa4j decode-state snapshot (no GSA4JDS magic)");
            }
            if (head.length != MAGIC.length + 8) throw refused("is truncated (" + head.length + " bytes)");
            ByteBuffer hb = ByteBuffer.wrap(head).order(ByteOrder.LITTLE_ENDIAN);
            int version = hb.getInt(MAGIC.length), length = hb.getInt(MAGIC.length + 4);
            if (version != VERSION) {
                throw refused("has format version " + version + "; this gsa4j reads version " + VERSION);
            }
            if (length <= 0 || length > MAX_HEADER) throw refused("is corrupted (header length " + length + ")");
            byte[] json = readExactly(in, length, "header");
            crc.update(head);
            crc.update(json);
            int stored = readInt(in, "header checksum");
            if (stored != (int) crc.getValue()) throw refused("is corrupted (header checksum mismatch)");
            JsonNode header = JSON.readTree(json);
            ModelIdentity theirs = ModelIdentity.fromJson(header.path("model")), ours = model.identity();
            if (!ours.equals(theirs)) {
                throw refused("is of another model: " + theirs.describe() + ", not " + ours.describe());
            }
            int batch = header.path("batch").asInt(0);
            long position = header.path("position").asLong(-1);
            JsonNode layers = header.path("layers");
            if (batch <= 0 || position < 0 || !layers.isArray() || layers.size() != model.config.numLayers()) {
                throw refused("is corrupted (header fields)");
            }
            DecodeState state = model.newState(batch);
            crc.reset();
            for (int i = 0; i < state.layers.length; i++) state.layers[i].load(new PartReader(in, crc, layers.get(i), i));
            int payload = readInt(in, "payload checksum");
            if (payload != (int) crc.getValue()) throw refused("is corrupted (payload checksum mismatch)");
            state.setPosition(position);
            Map<String, String> notes = new LinkedHashMap<>();
            header.path("notes").properties().forEach(e -> notes.put(e.getKey(), e.getValue().asText()));
            return new Restored(state, notes);
        } catch (IOException e) {
            throw refused("cannot be read: " + e.getMessage());
        } catch (IllegalArgumentException e) {
            throw refused("does not fit this model: " + e.getMessage());
        }
    }

    /** One layer's parts, in header order, values from the stream. */
    private static final class PartReader implements MixerState.Reader {
        private final InputStream in;
        private final CRC32C crc;
        private final Iterator<JsonNode> parts;
        private final int layer;

        PartReader(InputStream in, CRC32C crc, JsonNode parts, int layer) {
            this.in = in;
            this.crc = crc;
            this.parts = parts.iterator();
            this.layer = layer;
        }

        private JsonNode next(String name) {
            JsonNode p = parts.hasNext() ? parts.next() : null;
            if (p == null || !name.equals(p.path("name").asText())) {
                throw refused("does not fit this model: layer " + layer + " has no part '" + name + "' where expected");
            }
            return p;
        }

        @Override
        public Tensor tensor(String name, int... shape) {
            JsonNode p = next(name);
            String dtype = p.path("dtype").asText();
            int[] stored = new int[p.path("shape").size()];
            for (int i = 0; i < stored.length; i++) stored[i] = p.path("shape").get(i).asInt(-1);
            if (shape.length > 0 && !Arrays.equals(stored, shape)) {
                throw refused("does not fit this model: layer " + layer + " part '" + name + "' is " + Arrays.toString(stored)
                        + ", this model's is " + Arrays.toString(shape));
            }
            if (!dtype.equals("F32") && !dtype.equals("F64")) throw refused("is corrupted (layer " + layer + " part '" + name + "' dtype)");
            boolean wide = dtype.equals("F64");
            Tensor t = wide ? Tensor.zerosF64(stored) : Tensor.zeros(stored);
            int width = wide ? 8 : 4, per = (1 << 16) / width;
            for (int i = 0; i < t.size(); i += per) {
                int len = Math.min(per, t.size() - i);
                byte[] bytes = readExactly(in, len * width, "layer " + layer + " part '" + name + "'");
                crc.update(bytes);
                ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
                if (wide) b.asDoubleBuffer().get(t.d, i, len);
                else b.asFloatBuffer().get(t.f, i, len);
            }
            return t;
        }

        @Override
        public long number(String name) {
            JsonNode v = next(name).path("value");
            if (!v.canConvertToLong()) throw refused("is corrupted (layer " + layer + " part '" + name + "')");
            return v.asLong();
        }
    }

    private static byte[] readExactly(InputStream in, int n, String what) {
        try {
            byte[] b = in.readNBytes(n);
            if (b.length != n) throw new EOFException();
            return b;
        } catch (EOFException e) {
            throw refused("is truncated (in the " + what + ")");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static int readInt(InputStream in, String what) {
        return ByteBuffer.wrap(readExactly(in, 4, what)).order(ByteOrder.LITTLE_ENDIAN).getInt();
    }

    private static byte[] le32(int v) {
        return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array();
    }

    private static Gsa4jException refused(String why) {
        return new Gsa4jException("decode-state snapshot " + why);
    }
}
