package org.gsa4j.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.gsa4j.Gsa4jException;
import org.gsa4j.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * A memory-mapped safetensors file: an 8-byte little-endian header length, a JSON header mapping
 * names to {dtype, shape, data_offsets}, then the raw little-endian data. Tensors are read on demand
 * and converted to float32 (or float64) whatever their stored dtype.
 */
public final class SafeTensors implements AutoCloseable {

    /** Stored element types we read. */
    public enum DType {
        F64(8), F32(4), BF16(2), F16(2), I64(8), I32(4);
        public final int bytes;

        DType(int bytes) {
            this.bytes = bytes;
        }
    }

    /** One tensor's header entry; offsets are relative to the start of the data section. */
    public record Entry(String name, DType dtype, int[] shape, long begin, long end) {}

    private static final ValueLayout.OfFloat F32_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64_LE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

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

    public static SafeTensors open(Path file) {
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) throw Gsa4jException.at(file, "header length", "file is " + size + " bytes, shorter than the 8-byte header length");
            MemorySegment all = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            long headerLen = all.get(I64_LE, 0);
            if (headerLen < 2 || headerLen > size - 8) {
                throw Gsa4jException.at(file, "header length", "header length " + headerLen + " does not fit in a file of " + size + " bytes");
            }
            byte[] header = all.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE);
            JsonNode root;
            try {
                root = new ObjectMapper().readTree(header);
            } catch (IOException e) {
                throw Gsa4jException.at(file, "header", "invalid JSON: " + e.getMessage(), e);
            }
            if (root == null || !root.isObject()) throw Gsa4jException.at(file, "header", "is not a JSON object");
            MemorySegment data = all.asSlice(8 + headerLen);
            Map<String, Entry> entries = new LinkedHashMap<>();
            Map<String, String> metadata = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (e.getKey().equals("__metadata__")) {
                    e.getValue().fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
                    continue;
                }
                entries.put(e.getKey(), parseEntry(file, e.getKey(), e.getValue(), data.byteSize()));
            }
            return new SafeTensors(file, arena, data, Collections.unmodifiableMap(entries), metadata);
        } catch (IOException e) {
            arena.close();
            throw Gsa4jException.at(file, null, "cannot read: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static Entry parseEntry(Path file, String name, JsonNode node, long dataBytes) {
        String dt = node.path("dtype").asText("");
        DType dtype;
        try {
            dtype = DType.valueOf(dt);
        } catch (IllegalArgumentException e) {
            throw Gsa4jException.at(file, name + ".dtype", "unsupported dtype '" + dt + "'");
        }
        JsonNode shapeNode = node.path("shape");
        int[] shape = new int[shapeNode.size()];
        long n = 1;
        for (int i = 0; i < shape.length; i++) {
            long s = shapeNode.get(i).asLong(-1);
            if (s < 0 || s > Integer.MAX_VALUE) throw Gsa4jException.at(file, name + ".shape", "bad dimension " + shapeNode.get(i));
            shape[i] = (int) s;
            n *= s;
        }
        JsonNode off = node.path("data_offsets");
        long begin = off.path(0).asLong(-1), end = off.path(1).asLong(-1);
        if (begin < 0 || end < begin || end > dataBytes) {
            throw Gsa4jException.at(file, name + ".data_offsets", "offsets " + off + " outside the data section of " + dataBytes + " bytes");
        }
        if (end - begin != n * dtype.bytes) {
            throw Gsa4jException.at(file, name + ".data_offsets", "holds " + (end - begin) + " bytes but shape " + shapeNode + " of " + dtype + " needs " + n * dtype.bytes);
        }
        return new Entry(name, dtype, shape, begin, end);
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
        Entry e = entries.get(name);
        if (e == null) throw Gsa4jException.at(file, name, "tensor not found");
        return e;
    }

    /** The tensor converted to float32. */
    public Tensor f32(String name) {
        Entry e = entry(name);
        MemorySegment seg = data.asSlice(e.begin, e.end - e.begin);
        int n = Tensor.sizeOf(e.shape);
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

    /** The tensor converted to float64. */
    public Tensor f64(String name) {
        Entry e = entry(name);
        if (e.dtype != DType.F64) return f32(name).toF64();
        MemorySegment seg = data.asSlice(e.begin, e.end - e.begin);
        double[] out = new double[Tensor.sizeOf(e.shape)];
        MemorySegment.copy(seg, F64_LE, 0, out, 0, out.length);
        return Tensor.of(out, e.shape);
    }

    /** An integer tensor (I64 or I32) as longs. */
    public long[] i64(String name) {
        Entry e = entry(name);
        MemorySegment seg = data.asSlice(e.begin, e.end - e.begin);
        long[] out = new long[Tensor.sizeOf(e.shape)];
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
}
