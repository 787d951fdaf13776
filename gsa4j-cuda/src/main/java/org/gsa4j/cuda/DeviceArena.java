package org.gsa4j.cuda;

import java.util.ArrayList;
import java.util.List;

/** Buffers allocated together and freed together: closing the arena closes every buffer still open in it. */
public final class DeviceArena implements AutoCloseable {

    private final CudaDevice device;
    private final List<DeviceBuffer> buffers = new ArrayList<>();
    private boolean closed;

    DeviceArena(CudaDevice device) {
        this.device = device;
    }

    public DeviceBuffer allocate(long bytes) {
        return device.call(() -> {
            if (closed) {
                throw new IllegalStateException("allocation from a closed DeviceArena");
            }
            DeviceBuffer b = device.allocator().allocate(bytes, this);
            buffers.add(b);
            return b;
        });
    }

    void forget(DeviceBuffer buffer) {
        buffers.remove(buffer);
    }

    @Override
    public void close() {
        if (device.isClosed()) {
            return; // freed when the device closed
        }
        device.run(() -> {
            closed = true;
            for (DeviceBuffer b : List.copyOf(buffers)) {
                b.close();
            }
            buffers.clear();
        });
    }
}
