package org.gsa4j.cuda;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import java.lang.foreign.MemorySegment;
import org.gsa4j.io.SafeTensors;

/**
 * Device memory from the {@link DeviceAllocator}: {@link #close()} gives it back (deterministically, never
 * through the garbage collector). Kernels receive it as its {@link #address()}.
 *
 * <p>The synchronous copies ({@link #copyFrom(float[])}, {@link #copyTo(float[])}, ...) first wait for all
 * work queued on the device, then copy through pinned staging memory, and return when the data is there.
 * The {@code ...Async} methods queue on a stream and return at once. bfloat16 storage: the
 * {@code Bf16} copies convert float32 to bfloat16 with round-to-nearest-even on the host (the CPU engine's
 * {@link SafeTensors#toBf16} conversion) and back exactly.
 */
public final class DeviceBuffer implements AutoCloseable {

    private final CudaDevice device;
    private final long address;
    private final long bytes;
    private final DeviceArena arena;
    private boolean closed;

    DeviceBuffer(CudaDevice device, long address, long bytes, DeviceArena arena) {
        this.device = device;
        this.address = address;
        this.bytes = bytes;
        this.arena = arena;
    }

    /** The device address of the first byte. */
    public long address() {
        if (closed) {
            throw new IllegalStateException("device buffer is closed");
        }
        return address;
    }

    /** The size asked for, in bytes. */
    public long bytes() {
        return bytes;
    }

    public CudaDevice device() {
        return device;
    }

    // ---- synchronous copies ----

    public void copyFrom(float[] src) {
        copyFrom(src, 0, src.length, 0);
    }

    /** Copies {@code src[srcIndex, srcIndex + count)} to this buffer's bytes from {@code byteOffset}. */
    public void copyFrom(float[] src, int srcIndex, int count, long byteOffset) {
        checkRange(src.length, srcIndex, count, byteOffset, Float.BYTES, "copyFrom(float[])");
        device.staging().upload(address + byteOffset, (long) count * Float.BYTES, (chunk, offset) ->
                MemorySegment.copy(src, srcIndex + (int) (offset / Float.BYTES), chunk, JAVA_FLOAT, 0,
                        (int) (chunk.byteSize() / Float.BYTES)));
    }

    public void copyTo(float[] dst) {
        copyTo(dst, 0, dst.length, 0);
    }

    /** Copies this buffer's bytes from {@code byteOffset} to {@code dst[dstIndex, dstIndex + count)}. */
    public void copyTo(float[] dst, int dstIndex, int count, long byteOffset) {
        checkRange(dst.length, dstIndex, count, byteOffset, Float.BYTES, "copyTo(float[])");
        device.staging().download(address + byteOffset, (long) count * Float.BYTES, (chunk, offset) ->
                MemorySegment.copy(chunk, JAVA_FLOAT, 0, dst, dstIndex + (int) (offset / Float.BYTES),
                        (int) (chunk.byteSize() / Float.BYTES)));
    }

    public void copyFrom(int[] src) {
        checkRange(src.length, 0, src.length, 0, Integer.BYTES, "copyFrom(int[])");
        device.staging().upload(address, (long) src.length * Integer.BYTES, (chunk, offset) ->
                MemorySegment.copy(src, (int) (offset / Integer.BYTES), chunk, JAVA_INT, 0,
                        (int) (chunk.byteSize() / Integer.BYTES)));
    }

    public void copyTo(int[] dst) {
        checkRange(dst.length, 0, dst.length, 0, Integer.BYTES, "copyTo(int[])");
        device.staging().download(address, (long) dst.length * Integer.BYTES, (chunk, offset) ->
                MemorySegment.copy(chunk, JAVA_INT, 0, dst, (int) (offset / Integer.BYTES),
                        (int) (chunk.byteSize() / Integer.BYTES)));
    }

    /** Stores {@code src} as bfloat16 (2 bytes each, round-to-nearest-even). */
    public void copyFromBf16(float[] src) {
        checkRange(src.length, 0, src.length, 0, 2, "copyFromBf16");
        device.staging().upload(address, 2L * src.length, (chunk, offset) -> encodeBf16(src, (int) (offset / 2), chunk));
    }

    /** Reads bfloat16 storage back into float32 (exactly). */
    public void copyToFromBf16(float[] dst) {
        checkRange(dst.length, 0, dst.length, 0, 2, "copyToFromBf16");
        device.staging().download(address, 2L * dst.length, (chunk, offset) -> decodeBf16(chunk, dst, (int) (offset / 2)));
    }

    /** Copies all of {@code host} (heap or native memory) to the start of this buffer. */
    public void copyFrom(MemorySegment host) {
        long n = host.byteSize();
        checkBytes(0, n, "copyFrom(MemorySegment)");
        prepareSync("copyFrom(MemorySegment)");
        device.staging().upload(address, n, (chunk, offset) -> MemorySegment.copy(host, offset, chunk, 0, chunk.byteSize()));
    }

    /** Copies the start of this buffer into all of {@code host}. */
    public void copyTo(MemorySegment host) {
        long n = host.byteSize();
        checkBytes(0, n, "copyTo(MemorySegment)");
        prepareSync("copyTo(MemorySegment)");
        device.staging().download(address, n, (chunk, offset) -> MemorySegment.copy(chunk, 0, host, offset, chunk.byteSize()));
    }

    /** Sets every byte to 0 and waits. */
    public void zero() {
        prepareSync("zero()");
        Driver.memsetD8Async(address, (byte) 0, bytes, device.stream().handle());
        Driver.streamSynchronize(device.stream().handle());
    }

    // ---- asynchronous operations ----

    public void zeroAsync(CudaStream stream) {
        stream.checkUse("zeroAsync");
        checkOpen();
        Driver.memsetD8Async(address, (byte) 0, bytes, stream.handle());
    }

    /** Sets the first {@code count} float32 elements to {@code value}. */
    public void fillAsync(float value, long count, CudaStream stream) {
        stream.checkUse("fillAsync");
        checkOpen();
        if (count < 0 || count * Float.BYTES > bytes) {
            throw new IndexOutOfBoundsException(count + " floats do not fit in " + bytes + " bytes");
        }
        Driver.memsetD32Async(address, Float.floatToRawIntBits(value), count, stream.handle());
    }

    public void copyFromAsync(PinnedBuffer src, long srcOffset, long dstOffset, long count, CudaStream stream) {
        stream.checkUse("copyFromAsync");
        checkBytes(dstOffset, count, "copyFromAsync");
        Driver.memcpyHtoDAsync(address + dstOffset, src.segment().asSlice(srcOffset, count), count, stream.handle());
    }

    public void copyToAsync(PinnedBuffer dst, long dstOffset, long srcOffset, long count, CudaStream stream) {
        stream.checkUse("copyToAsync");
        checkBytes(srcOffset, count, "copyToAsync");
        Driver.memcpyDtoHAsync(dst.segment().asSlice(dstOffset, count), address + srcOffset, count, stream.handle());
    }

    /** Copies {@code count} bytes of {@code src} from {@code srcOffset} to this buffer at {@code dstOffset}. */
    public void copyFromAsync(DeviceBuffer src, long srcOffset, long dstOffset, long count, CudaStream stream) {
        stream.checkUse("copyFromAsync");
        checkBytes(dstOffset, count, "copyFromAsync");
        src.checkBytes(srcOffset, count, "copyFromAsync (source)");
        Driver.memcpyDtoDAsync(address + dstOffset, src.address + srcOffset, count, stream.handle());
    }

    /** Gives the memory back to the allocator. Idempotent. */
    @Override
    public void close() {
        if (closed || device.isClosed()) {
            return; // already given back, or freed when the device closed
        }
        device.run(() -> {
            if (!closed) {
                closed = true;
                device.allocator().release(address);
                if (arena != null) {
                    arena.forget(this);
                }
            }
        });
    }

    // ---- checks and the bfloat16 conversion ----

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("device buffer is closed");
        }
    }

    /** Thread, open, and then waits for all queued work so that the copy sees (and is seen by) it. */
    private void prepareSync(String what) {
        device.checkThread("DeviceBuffer." + what);
        checkOpen();
        Driver.contextSynchronize();
    }

    /** Checks a synchronous copy of array elements {@code [index, index + count)}, then {@link #prepareSync}. */
    private void checkRange(int arrayLength, int index, int count, long byteOffset, int elementBytes, String what) {
        if (index < 0 || count < 0 || index > arrayLength - count) {
            throw new IndexOutOfBoundsException(what + ": elements [" + index + ", " + ((long) index + count)
                    + ") of an array of " + arrayLength);
        }
        checkBytes(byteOffset, (long) count * elementBytes, what);
        prepareSync(what);
    }

    private void checkBytes(long offset, long count, String what) {
        if (offset < 0 || count < 0 || offset > bytes - count) {
            throw new IndexOutOfBoundsException(what + ": bytes [" + offset + ", " + (offset + count)
                    + ") of a buffer of " + bytes);
        }
    }

    /** Writes {@code chunk.byteSize() / 2} bfloat16 values of {@code src} from {@code from} into {@code chunk}. */
    static void encodeBf16(float[] src, int from, MemorySegment chunk) {
        int n = (int) (chunk.byteSize() / 2);
        for (int i = 0; i < n; i++) {
            chunk.setAtIndex(JAVA_SHORT, i, SafeTensors.toBf16(src[from + i]));
        }
    }

    /** Reads {@code chunk.byteSize() / 2} bfloat16 values into {@code dst} from {@code from}. */
    static void decodeBf16(MemorySegment chunk, float[] dst, int from) {
        int n = (int) (chunk.byteSize() / 2);
        for (int i = 0; i < n; i++) {
            dst[from + i] = SafeTensors.fromBf16(chunk.getAtIndex(JAVA_SHORT, i));
        }
    }
}
