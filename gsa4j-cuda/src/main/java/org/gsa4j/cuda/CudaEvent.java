package org.gsa4j.cuda;

import java.lang.foreign.MemorySegment;

/** A CUDA event: a marker in a stream, to wait on or to time the work between two of them. */
public final class CudaEvent implements AutoCloseable {

    private final CudaDevice device;
    private final MemorySegment handle;
    private boolean closed;

    CudaEvent(CudaDevice device, MemorySegment handle) {
        this.device = device;
        this.handle = handle;
        device.register(this);
    }

    MemorySegment handle() {
        checkUse("CudaEvent");
        return handle;
    }

    private void checkUse(String what) {
        device.checkThread(what);
        if (closed) {
            throw new IllegalStateException(what + " on a closed event");
        }
    }

    /** Marks the point in {@code stream} that this event stands for from now on. */
    public void record(CudaStream stream) {
        checkUse("CudaEvent.record");
        stream.checkUse("CudaEvent.record");
        Driver.eventRecord(handle, stream.handle());
    }

    /** Waits until the work before the last record has completed. */
    public void synchronize() {
        checkUse("CudaEvent.synchronize");
        Driver.eventSynchronize(handle);
    }

    /** Whether the work before the last record has completed (without waiting). */
    public boolean isComplete() {
        checkUse("CudaEvent.isComplete");
        return Driver.eventQuery(handle);
    }

    /** Milliseconds on the GPU from {@code start}'s record to this event's (both must have completed). */
    public float elapsedMillis(CudaEvent start) {
        checkUse("CudaEvent.elapsedMillis");
        return Driver.eventElapsedMillis(start.handle(), handle);
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
                Driver.eventDestroy(handle);
            }
        });
    }
}
