package org.gsa4j.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;

/** Compiled GPU code loaded into the device's context (from a CUBIN); its kernels by name. */
public final class CudaModule implements AutoCloseable {

    private final CudaDevice device;
    private final String name;
    private final MemorySegment handle;
    private final Arena arena = Arena.ofConfined(); // the kernels' argument blocks
    private final Map<String, CudaKernel> kernels = new HashMap<>();
    private boolean closed;

    private CudaModule(CudaDevice device, String name, MemorySegment handle) {
        this.device = device;
        this.name = name;
        this.handle = handle;
        device.register(this);
    }

    /** Loads a CUBIN (or fatbin) built for this device; {@code name} names it in messages. */
    public static CudaModule load(CudaDevice device, String name, byte[] image) {
        return device.call(() -> {
            try (Arena staging = Arena.ofConfined()) {
                MemorySegment bytes = staging.allocate(image.length + 1L, 16); // zero-terminated: a PTX image must be
                MemorySegment.copy(image, 0, bytes, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, image.length);
                return new CudaModule(device, name, Driver.moduleLoadData(bytes, name));
            }
        });
    }

    public String name() {
        return name;
    }

    public CudaDevice device() {
        return device;
    }

    /** The kernel {@code kernelName} ({@code extern "C" __global__}); one object per name. */
    public CudaKernel function(String kernelName) {
        return device.call(() -> {
            checkOpen();
            return kernels.computeIfAbsent(kernelName, k -> {
                MemorySegment function = Driver.moduleGetFunction(handle, k, name);
                return new CudaKernel(this, k, function, Driver.kernelParameterSizes(function), new KernelParams(arena, 16));
            });
        });
    }

    void checkOpen() {
        if (closed) {
            throw new IllegalStateException("module " + name + " is closed");
        }
    }

    /** Unloads the code; its kernels cannot be launched afterwards. */
    @Override
    public void close() {
        if (device.isClosed()) {
            return; // freed when the device closed
        }
        device.run(() -> {
            if (!closed) {
                closed = true;
                device.unregister(this);
                kernels.clear();
                arena.close();
                Driver.moduleUnload(handle);
            }
        });
    }
}
