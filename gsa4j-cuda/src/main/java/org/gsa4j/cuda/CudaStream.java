package org.gsa4j.cuda;

import java.lang.foreign.MemorySegment;

/**
 * A CUDA stream: work queued on it runs in order; work on different streams may overlap. Streams are
 * created non-blocking (they do not wait for the legacy default stream, which gsa4j never uses).
 */
public final class CudaStream implements AutoCloseable {

    private final CudaDevice device;
    private final MemorySegment handle;
    private final boolean ownedByDevice;
    private boolean closed;

    CudaStream(CudaDevice device, MemorySegment handle, boolean ownedByDevice) {
        this.device = device;
        this.handle = handle;
        this.ownedByDevice = ownedByDevice;
        if (!ownedByDevice) {
            device.register(this);
        }
    }

    /** The {@code CUstream} handle (also a {@code cudaStream_t}). */
    public MemorySegment handle() {
        return handle;
    }

    public CudaDevice device() {
        return device;
    }

    /** Thread and open checks before queueing work; {@code what} names the operation. */
    void checkUse(String what) {
        device.checkThread(what);
        if (closed) {
            throw new IllegalStateException(what + " on a closed stream");
        }
    }

    /** Waits until all work queued on this stream has completed. */
    public void synchronize() {
        checkUse("CudaStream.synchronize");
        Driver.streamSynchronize(handle);
    }

    /** Makes work queued on this stream from now on wait for {@code event}'s last record. */
    public void waitFor(CudaEvent event) {
        checkUse("CudaStream.waitFor");
        Driver.streamWaitEvent(handle, event.handle());
    }

    /** Destroys the stream (its queued work still completes). The device's own stream closes with the device. */
    @Override
    public void close() {
        if (ownedByDevice || device.isClosed()) {
            return; // the device destroys its own stream, and destroyed this one when it closed
        }
        device.run(() -> {
            if (!closed) {
                closed = true;
                device.unregister(this);
                Driver.streamDestroy(handle);
            }
        });
    }
}
