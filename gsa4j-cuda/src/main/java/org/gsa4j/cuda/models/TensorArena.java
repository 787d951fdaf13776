package org.gsa4j.cuda.models;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.DeviceArena;
import org.gsa4j.cuda.ops.DeviceTensor;
import org.gsa4j.cuda.ops.Precision;

/**
 * Tensors allocated together and freed together (a {@link DeviceArena}): the activations of one batch shape, or
 * one decoding state. {@link #io} stores in the model's precision, {@link #f32} in float32; {@link #scratch} hands
 * every caller asking under one name the same tensor, so that the layers share their backward's work space and the
 * buffers a forward writes only for the next kernel. {@link #bytes()} counts what the arena holds.
 */
final class TensorArena implements AutoCloseable {
    private final DeviceArena arena;
    private final Precision precision;
    private final Map<String, DeviceTensor> scratch = new HashMap<>();
    private long bytes;

    TensorArena(CudaDevice device, Precision precision) {
        this.arena = device.arena();
        this.precision = precision;
    }

    /** The model's storage precision. */
    Precision precision() {
        return precision;
    }

    /** Uninitialised storage in the model's precision. */
    DeviceTensor io(int... shape) {
        return allocate(precision, shape);
    }

    /** Uninitialised float32 storage. */
    DeviceTensor f32(int... shape) {
        return allocate(Precision.F32, shape);
    }

    /** Zero-filled storage (decoding states start from zeros). */
    DeviceTensor zeros(Precision p, int... shape) {
        DeviceTensor t = allocate(p, shape);
        t.buffer().zero();
        return t;
    }

    /** The arena's one tensor named {@code name}, allocated by the first call; later calls must ask the same shape. */
    DeviceTensor scratch(String name, Precision p, int... shape) {
        DeviceTensor t = scratch.get(name);
        if (t == null) {
            t = allocate(p, shape);
            scratch.put(name, t);
        } else if (t.precision() != p || !Arrays.equals(t.shape(), shape)) {
            throw new IllegalStateException("scratch " + name + " is " + t + ", asked " + p + Arrays.toString(shape));
        }
        return t;
    }

    /** Bytes allocated from this arena. */
    long bytes() {
        return bytes;
    }

    private DeviceTensor allocate(Precision p, int... shape) {
        long count = 1;
        for (int s : shape) count *= s;
        long size = Math.max(1, count) * p.bytes;
        bytes += size;
        return new DeviceTensor(arena.allocate(size), p, shape.clone());
    }

    @Override
    public void close() {
        arena.close();
    }
}
