package org.gsa4j.io;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.gsa4j.Gsa4jException;
import org.gsa4j.tensor.Tensor;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * A memory-mapped safetensors file: an 8-byte little-endian header length, a JSON header mapping
 * names to {dtype, shape, data_offsets}, then the raw little-endian data. Tensors are read on demand
 * and converted to float32 (or float64) whatever their stored dtype.
 *
 * <p>{@link #open} validates the whole header before mapping anything: header length (at most
 * {@link #MAX_HEADER_BYTES}, inside the file), strict JSON with no duplicate names, every entry an
 * object with a known dtype, a non-negative integer shape and two non-negative integer offsets whose
 * difference is exactly shape×dtype bytes, and data ranges that tile the data section exactly (no
 * overlap, no gap, no trailing bytes, as the Python {@code safetensors} reader demands). Every
 * violation is a {@link Gsa4jException} naming the file and the field.
 *
 * <p>{@link #write} produces the same bytes as the Python library's {@code save_file}: compact JSON
 * header with {@code __metadata__} first, tensors ordered by descending dtype then name, header
 * padded with spaces to a multiple of 8; written atomically (temp file, fsync, rename, directory
 * fsync).
 */
public final class SafeTensors implements AutoCloseable {

    /**
     * Stored element types we read and write. {@link #rank} is the position in the Rust
     * {@code safetensors::Dtype} enum order, which fixes the on-disk tensor order of the Python
     * writer (descending dtype, then name).
     */
    public enum DType {
        F64(8, 17), F32(4, 15), BF16(2, 12), F16(2, 11), I64(8, 18), I32(4, 13);
        public final int bytes;
        final int rank;

        DType(int bytes, int rank) {
            this.bytes = bytes;
            this.rank = rank;
        }
    }

    /** One tensor's header entry; offsets are relative to the start of the data section. */
    public record Entry(String name, DType dtype, int[] shape, long begin, long end) {
        /** Number of elements (as a long: may exceed what a Java array holds). */
        public long numel() {
            long n = 1;
            for (int s : shape) n *= s;
            return n;
        }
    }

    /** Largest header accepted (the Python reader's limit is 100,000,000 bytes too). */
    public static final long MAX_HEADER_BYTES = 100_000_000L;
    /** Largest element count loadable into one Java array. */
    static final long MAX_ARRAY = Integer.MAX_VALUE - 8;

    private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64_LE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    // Top-level duplicates are caught by name in parseHeader; nested ones by the tree reader.
    private static final JsonFactory STRICT_JSON = new JsonFactory();
    private static final ObjectMapper MAPPER = new ObjectMapper(STRICT_JSON)
            .enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY);

    private final Path file;
    private final Arena arena;
    private final MemorySegment data;
    private final Map<String, Entry> entries;
    private final Map<String, String> metadata;

    private SafeTensors(Path file, Arena arena, MemorySegment data, Map<String, Entry> entries, Map<String, String> metadata) {
        this.file = file;
        this.arena = arena;
        this.data = data;
        this.entries = entries;
        this.metadata = metadata;
    }

    // ------------------------------------------------------------------------------------------
    // Reading
    // ------------------------------------------------------------------------------------------

    public static SafeTensors open(Path file) {
        Map<String, Entry> entries = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        long headerLen, dataBytes;
        if (Files.exists(file) && !Files.isRegularFile(file)) {
            throw Gsa4jException.at(file, null, "is not a regular file");
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw Gsa4jException.at(file, "header length", "file is " + size + " bytes, shorter than the 8-byte header length (truncated or not a safetensors file)");
            }
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0, file, "header length");
            headerLen = lenBuf.getLong(0);
            if (headerLen < 0 || headerLen > MAX_HEADER_BYTES) {
                throw Gsa4jException.at(file, "header length", "header length " + Long.toUnsignedString(headerLen)
                        + " exceeds the limit of " + MAX_HEADER_BYTES + " bytes (corrupt or not a safetensors file)");
            }
            if (headerLen > size - 8) {
                throw Gsa4jException.at(file, "header length", "header length " + headerLen + " runs past the end of a file of "
                        + size + " bytes (truncated or corrupt)");
            }
            if (headerLen < 2) {
                throw Gsa4jException.at(file, "header length", "header length " + headerLen + " is too short for a JSON object");
            }
            ByteBuffer header = ByteBuffer.allocate((int) headerLen);
            readFully(ch, header, 8, file, "header");
            dataBytes = size - 8 - headerLen;
            parseHeader(file, header.array(), dataBytes, entries, metadata);
            checkTiling(file, entries.values(), dataBytes);
            // Only now map the data section (through the same channel): everything about it has been validated.
            Arena arena = Arena.ofShared();
            try {
                MemorySegment data = dataBytes == 0 ? MemorySegment.ofArray(new byte[0])
                        : ch.map(FileChannel.MapMode.READ_ONLY, 8 + headerLen, dataBytes, arena);
                return new SafeTensors(file, arena, data, Collections.unmodifiableMap(entries), Collections.unmodifiableMap(metadata));
            } catch (IOException | RuntimeException e) {
                arena.close();
                throw e;
            }
        } catch (IOException e) {
            throw Gsa4jException.at(file, null, "cannot read: " + e, e);
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long pos, Path file, String field) throws IOException {
        while (buf.hasRemaining()) {
            int r = ch.read(buf, pos + buf.position());
            if (r < 0) throw Gsa4jException.at(file, field, "unexpected end of file (truncated)");
        }
    }

    private static void parseHeader(Path file, byte[] header, long dataBytes, Map<String, Entry> entries, Map<String, String> metadata) {
        Set<String> seen = new HashSet<>();
        try (JsonParser p = STRICT_JSON.createParser(header)) {
            p.setCodec(MAPPER);
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw Gsa4jException.at(file, "header", "is not a JSON object");
            }
            JsonToken t;
            while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                if (!seen.add(name)) {
                    throw Gsa4jException.at(file, name, "duplicate tensor name in the header");
                }
                p.nextToken();
                JsonNode value = p.readValueAsTree();
                if (name.equals("__metadata__")) {
                    parseMetadata(file, value, metadata);
                } else {
                    entries.put(name, parseEntry(file, name, value, dataBytes));
                }
            }
            if (t != JsonToken.END_OBJECT) throw Gsa4jException.at(file, "header", "malformed JSON object");
            if (p.nextToken() != null) throw Gsa4jException.at(file, "header", "trailing content after the JSON object");
        } catch (IOException e) {
            throw Gsa4jException.at(file, "header", "invalid JSON: " + jsonMessage(e), e);
        }
    }

    private static void parseMetadata(Path file, JsonNode value, Map<String, String> metadata) {
        if (value == null || value.isNull()) return;
        if (!value.isObject()) throw Gsa4jException.at(file, "__metadata__", "must be a JSON object of strings, found " + kind(value));
        for (Map.Entry<String, JsonNode> m : value.properties()) {
            if (!m.getValue().isTextual()) {
                throw Gsa4jException.at(file, "__metadata__." + m.getKey(), "metadata values must be strings, found " + kind(m.getValue()));
            }
            metadata.put(m.getKey(), m.getValue().textValue());
        }
    }

    private static Entry parseEntry(Path file, String name, JsonNode node, long dataBytes) {
        if (node == null || !node.isObject()) {
            throw Gsa4jException.at(file, name, "tensor entry must be a JSON object, found " + kind(node));
        }
        JsonNode dtNode = node.get("dtype");
        if (dtNode == null) throw Gsa4jException.at(file, name + ".dtype", "missing");
        if (!dtNode.isTextual()) throw Gsa4jException.at(file, name + ".dtype", "must be a string, found " + kind(dtNode));
        DType dtype = dtypeOf(dtNode.textValue());
        if (dtype == null) {
            throw Gsa4jException.at(file, name + ".dtype", "unsupported dtype '" + dtNode.textValue() + "' (supported: " + Arrays.toString(DType.values()) + ")");
        }
        JsonNode shapeNode = node.get("shape");
        if (shapeNode == null) throw Gsa4jException.at(file, name + ".shape", "missing");
        if (!shapeNode.isArray()) throw Gsa4jException.at(file, name + ".shape", "must be an array of integers, found " + kind(shapeNode));
        int[] shape = new int[shapeNode.size()];
        long bytes = dtype.bytes;
        for (int i = 0; i < shape.length; i++) {
            long s = nonNegativeInteger(file, name + ".shape", shapeNode.get(i), "dimension " + i);
            if (s > Integer.MAX_VALUE) throw Gsa4jException.at(file, name + ".shape", "dimension " + i + " = " + s + " is too large");
            shape[i] = (int) s;
            try {
                bytes = Math.multiplyExact(bytes, s);
            } catch (ArithmeticException e) {
                throw Gsa4jException.at(file, name + ".shape", "shape " + shapeNode + " overflows a 64-bit byte count");
            }
        }
        JsonNode off = node.get("data_offsets");
        if (off == null) throw Gsa4jException.at(file, name + ".data_offsets", "missing");
        if (!off.isArray() || off.size() != 2) {
            throw Gsa4jException.at(file, name + ".data_offsets", "must be an array of two integers [begin, end], found " + off);
        }
        long begin = nonNegativeInteger(file, name + ".data_offsets", off.get(0), "begin");
        long end = nonNegativeInteger(file, name + ".data_offsets", off.get(1), "end");
        if (end < begin) throw Gsa4jException.at(file, name + ".data_offsets", "end " + end + " is before begin " + begin);
        if (end > dataBytes) {
            throw Gsa4jException.at(file, name + ".data_offsets", "range " + off + " lies outside the data section of "
                    + dataBytes + " bytes (offsets out of range or truncated file)");
        }
        if (end - begin != bytes) {
            throw Gsa4jException.at(file, name + ".data_offsets", "range " + off + " holds " + (end - begin) + " bytes but shape "
                    + shapeNode + " of " + dtype + " needs " + bytes);
        }
        return new Entry(name, dtype, shape, begin, end);
    }

    private static long nonNegativeInteger(Path file, String field, JsonNode n, String what) {
        if (n == null || !n.isIntegralNumber()) {
            throw Gsa4jException.at(file, field, what + " must be a non-negative integer, found " + (n == null ? "nothing" : n.toString()));
        }
        if (!n.canConvertToLong() || n.longValue() < 0) {
            throw Gsa4jException.at(file, field, what + " must be a non-negative 64-bit integer, found " + n);
        }
        return n.longValue();
    }

    /** The data ranges must tile [0, dataBytes) exactly: no overlap, no gap, no trailing bytes. */
    private static void checkTiling(Path file, Iterable<Entry> all, long dataBytes) {
        List<Entry> sorted = new ArrayList<>();
        all.forEach(sorted::add);
        sorted.sort(Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long pos = 0;
        Entry prev = null;
        for (Entry e : sorted) {
            if (e.begin < pos) {
                throw Gsa4jException.at(file, e.name + ".data_offsets", "range [" + e.begin + ", " + e.end + ") overlaps tensor '"
                        + prev.name + "' at [" + prev.begin + ", " + prev.end + ")");
            }
            if (e.begin > pos) {
                throw Gsa4jException.at(file, e.name + ".data_offsets", "range [" + e.begin + ", " + e.end + ") leaves a gap of "
                        + (e.begin - pos) + " unused bytes before it (the safetensors format requires contiguous data)");
            }
            pos = e.end;
            prev = e;
        }
        if (pos != dataBytes) {
            throw Gsa4jException.at(file, "data_offsets", "tensors cover " + pos + " bytes but the data section has " + dataBytes
                    + " (trailing bytes after the last tensor)");
        }
    }

    private static DType dtypeOf(String s) {
        for (DType d : DType.values()) if (d.name().equals(s)) return d;
        return null;
    }

    static String jsonMessage(IOException e) {
        String m = e instanceof com.fasterxml.jackson.core.JsonProcessingException j ? j.getOriginalMessage() : e.getMessage();
        if (m == null) m = e.toString();
        if (e instanceof com.fasterxml.jackson.core.JsonProcessingException j && j.getLocation() != null) {
            m += " (at byte " + j.getLocation().getByteOffset() + ")";
        }
        return m.length() > 300 ? m.substring(0, 300) + "…" : m;
    }

    static String kind(JsonNode n) {
        if (n == null || n.isMissingNode()) return "nothing";
        String s = n.toString();
        return n.getNodeType().name().toLowerCase() + " " + (s.length() > 60 ? s.substring(0, 60) + "…" : s);
    }

    public Path file() {
        return file;
    }

    public Set<String> names() {
        return entries.keySet();
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    public boolean contains(String name) {
        return entries.containsKey(name);
    }

    public Entry entry(String name) {
        if (!arena.scope().isAlive()) throw new IllegalStateException(file + ": already closed");
        Entry e = entries.get(name);
        if (e == null) throw Gsa4jException.at(file, name, "tensor not found");
        return e;
    }

    private int arrayLength(Entry e) {
        long n = e.numel();
        if (n > MAX_ARRAY) {
            throw Gsa4jException.at(file, e.name, "tensor of " + n + " elements " + Arrays.toString(e.shape) + " is too large for one Java array");
        }
        return (int) n;
    }

    /** The tensor converted to float32. */
    public Tensor f32(String name) {
        Entry e = entry(name);
        int n = arrayLength(e);
        MemorySegment seg = data.asSlice(e.begin, e.end - e.begin);
        float[] out = new float[n];
        switch (e.dtype) {
            case F32 -> MemorySegment.copy(seg, F32_LE, 0, out, 0, n);
            case F64 -> { for (int i = 0; i < n; i++) out[i] = (float) seg.getAtIndex(F64_LE, i); }
            case BF16 -> { for (int i = 0; i < n; i++) out[i] = Float.intBitsToFloat((seg.getAtIndex(I16_LE, i) & 0xFFFF) << 16); }
            case F16 -> { for (int i = 0; i < n; i++) out[i] = Float.float16ToFloat(seg.getAtIndex(I16_LE, i)); }
            case I64 -> { for (int i = 0; i < n; i++) out[i] = seg.getAtIndex(I64_LE, i); }
            case I32 -> { for (int i = 0; i < n; i++) out[i] = seg.getAtIndex(I32_LE, i); }
        }
        return Tensor.of(out, e.shape);
    }

    /** The tensor as bfloat16 bits: copied when stored as BF16, otherwise rounded to nearest even. */
    public Tensor bf16(String name) {
        Entry e = entry(name);
        if (e.dtype != DType.BF16) return f32(name).toBf16();
        int n = arrayLength(e);
        short[] out = new short[n];
        MemorySegment.copy(data.asSlice(e.begin, e.end - e.begin), I16_LE, 0, out, 0, n);
        return Tensor.ofBf16(out, e.shape);
    }

    /** The tensor converted to float64. */
    public Tensor f64(String name) {
        Entry e = entry(name);
        int n = arrayLength(e);
        if (e.dtype == DType.I64) {
            long[] l = i64(name);
            double[] out = new double[n];
            for (int i = 0; i < n; i++) out[i] = l[i];
            return Tensor.of(out, e.shape);
        }
        if (e.dtype != DType.F64) return f32(name).toF64();
        MemorySegment seg = data.asSlice(e.begin, e.end - e.begin);
        double[] out = new double[n];
        MemorySegment.copy(seg, F64_LE, 0, out, 0, out.length);
        return Tensor.of(out, e.shape);
    }

    /** An integer tensor (I64 or I32) as longs. */
    public long[] i64(String name) {
        Entry e = entry(name);
        int n = arrayLength(e);
        MemorySegment seg = data.asSlice(e.begin, e.end - e.begin);
        long[] out = new long[n];
        switch (e.dtype) {
            case I64 -> MemorySegment.copy(seg, I64_LE, 0, out, 0, out.length);
            case I32 -> { for (int i = 0; i < out.length; i++) out[i] = seg.getAtIndex(I32_LE, i); }
            default -> throw Gsa4jException.at(file, name + ".dtype", "expected an integer tensor, found " + e.dtype);
        }
        return out;
    }

    @Override
    public void close() {
        arena.close();
    }

    // ------------------------------------------------------------------------------------------
    // Writing
    // ------------------------------------------------------------------------------------------

    /** The metadata {@code transformers}' {@code save_pretrained} writes. */
    public static final Map<String, String> DEFAULT_METADATA = Map.of("format", "pt");

    /** Writes every tensor as {@code dtype} with metadata {"format":"pt"}. */
    public static void write(Path file, Map<String, Tensor> tensors, DType dtype) {
        write(file, tensors, dtype, null);
    }

    /**
     * Writes every tensor as {@code dtype}. {@code metadata} null means {"format":"pt"}; an empty
     * map means no {@code __metadata__} entry.
     */
    public static void write(Path file, Map<String, Tensor> tensors, DType dtype, Map<String, String> metadata) {
        if (dtype == null) throw Gsa4jException.at(file, "dtype", "no dtype given");
        write(file, tensors, name -> dtype, metadata);
    }

    /**
     * Writes each tensor with its own dtype ({@code dtypeOf.apply(name)}), e.g. a BF16 model whose
     * {@code g_norm.weight} stays F32. Integer dtypes accept only integral values.
     */
    public static void write(Path file, Map<String, Tensor> tensors, Function<String, DType> dtypeOf, Map<String, String> metadata) {
        if (tensors == null) throw Gsa4jException.at(file, "tensors", "no tensors given");
        Map<String, Pending> pending = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            Tensor t = e.getValue();
            if (t == null) throw Gsa4jException.at(file, e.getKey(), "tensor is null");
            pending.put(e.getKey(), new Pending(dtypeOf.apply(e.getKey()), t.shape, () -> t));
        }
        writeStreaming(file, pending, metadata);
    }

    /** A tensor to be written: its stored dtype and shape now, its values only when its turn comes. */
    public record Pending(DType dtype, int[] shape, Supplier<Tensor> values) {}

    /**
     * Writes tensors one at a time, asking each {@link Pending} for its values only when they are
     * written, so that a conversion never holds more than one tensor in memory.
     */
    public static void writeStreaming(Path file, Map<String, Pending> tensors, Map<String, String> metadata) {
        List<Planned> plan = plan(file, tensors);
        byte[] header = header(file, plan, metadata == null ? DEFAULT_METADATA : metadata);
        AtomicFiles.write(file, ch -> {
            ByteBuffer buf = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
            buf.putLong(header.length);
            buf.flip();
            writeAll(ch, buf);
            writeAll(ch, ByteBuffer.wrap(header));
            buf.clear();
            for (Planned p : plan) {
                Tensor t = p.values.values().get();
                if (!Arrays.equals(t.shape, p.values.shape())) {
                    throw Gsa4jException.at(file, p.name, "values of shape " + Arrays.toString(t.shape)
                            + " for a tensor declared as " + Arrays.toString(p.values.shape()));
                }
                encode(file, p.name, p.dtype, t, buf, ch);
            }
            buf.flip();
            writeAll(ch, buf);
        });
    }

    public static long byteSize(Tensor t, DType dtype) {
        return (long) t.size() * dtype.bytes;
    }

    record Planned(String name, Pending values, DType dtype, long begin, long end) {}

    static List<Planned> plan(Path file, Map<String, Pending> tensors) {
        List<Map.Entry<String, Pending>> list = new ArrayList<>(tensors.entrySet());
        for (Map.Entry<String, Pending> e : list) {
            String name = e.getKey();
            if (name == null || name.isEmpty()) throw Gsa4jException.at(file, String.valueOf(name), "tensor name must be a non-empty string");
            if (name.equals("__metadata__")) throw Gsa4jException.at(file, name, "reserved name cannot be a tensor");
            if (e.getValue() == null) throw Gsa4jException.at(file, name, "tensor is null");
            if (e.getValue().dtype() == null) throw Gsa4jException.at(file, name, "no dtype given for this tensor");
        }
        // The Python writer's order: descending dtype (Rust enum order), then name.
        list.sort(Comparator.<Map.Entry<String, Pending>>comparingInt(e -> -e.getValue().dtype().rank)
                .thenComparing(Map.Entry::getKey));
        List<Planned> plan = new ArrayList<>();
        long off = 0;
        for (Map.Entry<String, Pending> e : list) {
            DType dt = e.getValue().dtype();
            long n = (long) Tensor.sizeOf(e.getValue().shape()) * dt.bytes;
            plan.add(new Planned(e.getKey(), e.getValue(), dt, off, off + n));
            off += n;
        }
        return plan;
    }

    static byte[] header(Path file, List<Planned> plan, Map<String, String> metadata) {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (JsonGenerator g = new JsonFactory().createGenerator(bos)) {
            g.writeStartObject();
            if (!metadata.isEmpty()) {
                g.writeObjectFieldStart("__metadata__");
                for (Map.Entry<String, String> m : metadata.entrySet()) {
                    if (m.getKey() == null || m.getValue() == null) throw Gsa4jException.at(file, "__metadata__", "null key or value");
                    g.writeStringField(m.getKey(), m.getValue());
                }
                g.writeEndObject();
            }
            for (Planned p : plan) {
                g.writeObjectFieldStart(p.name);
                g.writeStringField("dtype", p.dtype.name());
                g.writeArrayFieldStart("shape");
                for (int s : p.values.shape()) g.writeNumber(s);
                g.writeEndArray();
                g.writeArrayFieldStart("data_offsets");
                g.writeNumber(p.begin);
                g.writeNumber(p.end);
                g.writeEndArray();
                g.writeEndObject();
            }
            g.writeEndObject();
        } catch (IOException e) {
            throw Gsa4jException.at(file, "header", "cannot encode: " + e, e);
        }
        int len = bos.size();
        int pad = (8 - len % 8) % 8;
        for (int i = 0; i < pad; i++) bos.write(' ');
        return bos.toByteArray();
    }

    private static void encode(Path file, String name, DType dtype, Tensor t, ByteBuffer buf, FileChannel ch) throws IOException {
        int n = t.size();
        int width = dtype.bytes;
        for (int i = 0; i < n; ) {
            if (buf.remaining() < width) {
                buf.flip();
                writeAll(ch, buf);
                buf.clear();
            }
            int m = Math.min(n - i, buf.remaining() / width);
            if (dtype == DType.F32 && t.f != null) {
                buf.asFloatBuffer().put(t.f, i, m);
                buf.position(buf.position() + m * 4);
            } else if (dtype == DType.F64 && t.d != null) {
                buf.asDoubleBuffer().put(t.d, i, m);
                buf.position(buf.position() + m * 8);
            } else {
                for (int j = i; j < i + m; j++) {
                    switch (dtype) {
                        case F32 -> buf.putFloat((float) t.d[j]);
                        case F64 -> buf.putDouble(t.f[j]);
                        case BF16 -> buf.putShort(toBf16(t.f != null ? t.f[j] : (float) t.d[j]));
                        case F16 -> buf.putShort(Float.floatToFloat16(t.f != null ? t.f[j] : (float) t.d[j]));
                        case I64 -> buf.putLong(integral(file, name, t, j, Long.MIN_VALUE, Long.MAX_VALUE));
                        case I32 -> buf.putInt((int) integral(file, name, t, j, Integer.MIN_VALUE, Integer.MAX_VALUE));
                    }
                }
            }
            i += m;
        }
    }

    private static long integral(Path file, String name, Tensor t, int i, long min, long max) {
        double v = t.get(i);
        if (v != Math.rint(v) || v < min || v > max) {
            throw Gsa4jException.at(file, name, "element " + i + " = " + v + " cannot be stored exactly as an integer");
        }
        return (long) v;
    }

    /** float32 → bfloat16 bits, round to nearest even, NaN → 0x7FC0 (as torch/c10 does). */
    public static short toBf16(float x) {
        if (Float.isNaN(x)) return (short) 0x7FC0;
        int bits = Float.floatToRawIntBits(x);
        int bias = ((bits >>> 16) & 1) + 0x7FFF;
        return (short) ((bits + bias) >>> 16);
    }

    /** bfloat16 bits → float32 (exact). */
    public static float fromBf16(short b) {
        return Float.intBitsToFloat((b & 0xFFFF) << 16);
    }

    static void writeAll(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) ch.write(buf);
    }
}
