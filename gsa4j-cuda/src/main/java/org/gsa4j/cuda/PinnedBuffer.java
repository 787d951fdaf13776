package org.gsa4j.cuda;

import java.lang.foreign.MemorySegment;

/**
 * Page-locked host memory ({@code cuMemAllocHost_v2}): the source or target of asynchronous copies, which
 * proceed while the host goes on. Its contents must stay untouched until the stream has passed the copy.
 */
public final class PinnedBuffer implements AutoCloseable {

    private final CudaDevice device;
    private final MemorySegment segment;
    private boolean closed;

    PinnedBuffer(CudaDevice device, long bytes) {
        if (bytes <= 0) {
            throw new IllegalArgumentException("pinned buffer of " + bytes + " bytes");
        }
        device.checkThread("a pinned buffer");
        this.device = device;
        this.segment = Driver.memAllocHost(bytes);
        device.register(this);
    }

    /** The host memory; readable and writable from any thread. */
    public MemorySegment segment() {
        if (closed) {
            throw new IllegalStateException("pinned buffer is closed");
        }
        return segment;
    }

    public long bytes() {
        return segment.byteSize();
    }

    @Override
    public void close() {
        if (device.isClosed()) {
            return; // freed when the device closed
        }
        device.run(() -> {
            if (!closed) {
                closed = true;
                device.unregister(this);
                Driver.memFreeHost(segment);
            }
        });
    }
}
