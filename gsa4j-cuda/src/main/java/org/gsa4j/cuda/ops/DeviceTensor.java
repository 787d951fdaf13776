package org.gsa4j.cuda.ops;

import java.util.Arrays;
import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.DeviceBuffer;
import org.gsa4j.tensor.Tensor;

/**
 * A dense row-major tensor in device memory: a buffer, the precision its elements are stored in and
 * its shape. Closing it returns the buffer to the device's caching allocator.
 */
public record DeviceTensor(DeviceBuffer buffer, Precision precision, int[] shape) implements AutoCloseable {

    /** Uninitialised storage for {@code shape} in {@code precision}. */
    public static DeviceTensor allocate(CudaDevice device, Precision precision, int... shape) {
        return new DeviceTensor(device.allocate(count(shape) * precision.bytes), precision, shape.clone());
    }

    /** As {@link #allocate}, zero-filled. */
    public static DeviceTensor zeros(CudaDevice device, Precision precision, int... shape) {
        DeviceTensor t = allocate(device, precision, shape);
        t.buffer.zero();
        return t;
    }

    /** A copy of a host tensor (float32 or float64), stored in {@code precision} (bfloat16 rounds to nearest even). */
    public static DeviceTensor upload(CudaDevice device, Tensor host, Precision precision) {
        float[] values = host.isF64() ? host.toF32().f : host.f;
        DeviceTensor t = allocate(device, precision, host.shape);
        if (precision == Precision.BF16) {
            t.buffer.copyFromBf16(values);
        } else {
            t.buffer.copyFrom(values);
        }
        return t;
    }

    /** The values as a float32 host tensor. */
    public Tensor download() {
        Tensor host = Tensor.zeros(shape);
        if (precision == Precision.BF16) {
            buffer.copyToFromBf16(host.f);
        } else {
            buffer.copyTo(host.f);
        }
        return host;
    }

    public long size() {
        return count(shape);
    }

    public int dim(int i) {
        return shape[i];
    }

    /** The same storage under another shape of the same size. */
    public DeviceTensor reshape(int... newShape) {
        if (count(newShape) != size()) {
            throw new IllegalArgumentException("cannot view " + this + " as " + Arrays.toString(newShape));
        }
        return new DeviceTensor(buffer, precision, newShape.clone());
    }

    @Override
    public void close() {
        buffer.close();
    }

    @Override
    public String toString() {
        return precision + Arrays.toString(shape);
    }

    private static long count(int[] shape) {
        long n = 1;
        for (int d : shape) n *= d;
        return n;
    }
}
