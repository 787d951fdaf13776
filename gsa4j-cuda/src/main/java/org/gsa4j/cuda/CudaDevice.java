package org.gsa4j.cuda;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * One GPU, driven from one platform thread of its own.
 *
 * <p>A CUDA context is current on one OS thread at a time, so every call into CUDA for this device runs on
 * the device's thread ({@code gsa4j-cuda-N}): {@link #call} and {@link #run} execute work there and rethrow
 * what it throws. Every GPU object (buffers, streams, events, modules, kernels, graphs, cuBLASLt) checks
 * that it is used on its device's thread and says so clearly otherwise. The device uses its
 * <em>primary context</em> ({@code cuDevicePrimaryCtxRetain}), the one cuBLASLt and the CUDA runtime share.
 *
 * <p>{@link #close()} waits for the device's work, frees what is still open (buffers, pinned memory,
 * streams, events, modules, cuBLASLt handles) and releases the context.
 */
public final class CudaDevice implements AutoCloseable {

    /** A compute capability, e.g. 9.0 for Hopper. */
    public record Capability(int major, int minor) {
        @Override
        public String toString() {
            return major + "." + minor;
        }
    }

    private static volatile String unavailableReason;
    private static volatile boolean probed;

    private final int ordinal;
    private final ExecutorService executor;
    private final Thread thread;
    private final Set<AutoCloseable> resources = new LinkedHashSet<>();
    private volatile boolean closed;

    private int device;
    private MemorySegment context;
    private String name;
    private Capability capability;
    private int multiprocessors;
    private long totalMemory;
    private int driverVersion;
    private int maxSharedMemoryPerBlockOptin;
    private CudaStream stream;
    private DeviceAllocator allocator;
    private HostStaging staging;

    private CudaDevice(int ordinal) {
        this.ordinal = ordinal;
        Thread[] made = new Thread[1];
        this.executor = Executors.newSingleThreadExecutor(r -> {
            Thread t = Thread.ofPlatform().daemon().name("gsa4j-cuda-" + ordinal).unstarted(r);
            made[0] = t;
            return t;
        });
        try {
            executor.submit(() -> { }).get(); // starts the thread, so that it is known from here on
        } catch (InterruptedException | ExecutionException e) {
            executor.shutdownNow();
            throw new CudaException("could not start the thread for cuda:" + ordinal, e);
        }
        this.thread = made[0];
    }

    // ---- availability ----

    /** Whether this machine has a CUDA driver and at least one GPU. */
    public static boolean available() {
        return unavailableReason() == null;
    }

    /** Why no GPU can be used here, in one line, or null when one can. */
    public static String unavailableReason() {
        if (!probed) {
            synchronized (CudaDevice.class) {
                if (!probed) {
                    unavailableReason = probe();
                    probed = true;
                }
            }
        }
        return unavailableReason;
    }

    private static String probe() {
        try {
            CudaLibraries.driver();
            Driver.init();
            int count = Driver.deviceCount();
            return count > 0 ? null : "the CUDA driver found no GPU on this machine";
        } catch (CudaException e) {
            return e.getMessage();
        } catch (ExceptionInInitializerError | NoClassDefFoundError e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            return "the CUDA driver could not be bound: " + cause.getMessage();
        }
    }

    /** The number of GPUs (0 where CUDA is unavailable). */
    public static int count() {
        return available() ? Driver.deviceCount() : 0;
    }

    /** Opens GPU {@code ordinal}: starts its thread, retains its primary context, reads its properties. */
    public static CudaDevice open(int ordinal) {
        String reason = unavailableReason();
        if (reason != null) {
            throw new CudaException("no CUDA GPU can be used: " + reason);
        }
        CudaDevice d = new CudaDevice(ordinal);
        try {
            d.run(d::initialize);
        } catch (RuntimeException e) {
            d.executor.shutdownNow();
            throw e;
        }
        return d;
    }

    private void initialize() {
        int count = Driver.deviceCount();
        if (ordinal < 0 || ordinal >= count) {
            throw new CudaException("cuda:" + ordinal + " does not exist: this machine has " + count + " CUDA device(s)");
        }
        device = Driver.device(ordinal);
        context = Driver.primaryContextRetain(device);
        Driver.setCurrentContext(context);
        name = Driver.deviceName(device);
        capability = new Capability(attribute(Driver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
                attribute(Driver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR));
        multiprocessors = attribute(Driver.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
        maxSharedMemoryPerBlockOptin = attribute(Driver.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN);
        totalMemory = Driver.deviceTotalMemory(device);
        driverVersion = Driver.driverVersion();
        stream = new CudaStream(this, Driver.streamCreate(Driver.CU_STREAM_NON_BLOCKING), true);
        allocator = new DeviceAllocator(this);
        staging = new HostStaging(this);
    }

    // ---- the device thread ----

    /** Runs {@code work} on the device's thread and returns its result; exceptions come back as thrown. */
    public <T> T call(Callable<T> work) {
        if (Thread.currentThread() == thread) {
            return callHere(work);
        }
        if (closed) {
            throw new CudaException("cuda:" + ordinal + " is closed");
        }
        Future<T> result = executor.submit(() -> callHere(work));
        try {
            return result.get();
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof RuntimeException r) {
                throw r;
            }
            if (cause instanceof Error err) {
                throw err;
            }
            throw new CudaException("work on cuda:" + ordinal + " failed: " + cause, cause);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CudaException("interrupted while waiting for work on cuda:" + ordinal, e);
        }
    }

    /** Runs {@code work} on the device's thread and waits for it. */
    public void run(Runnable work) {
        call(() -> {
            work.run();
            return null;
        });
    }

    private static <T> T callHere(Callable<T> work) {
        try {
            return work.call();
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new CudaException("GPU work failed: " + e, e);
        }
    }

    /** Whether {@link #close()} has released the device; closing its objects afterwards does nothing. */
    public boolean isClosed() {
        return closed;
    }

    /** Whether the calling thread is this device's thread. */
    public boolean isDeviceThread() {
        return Thread.currentThread() == thread;
    }

    /** Throws unless called on this device's thread while it is open; {@code what} names the object used. */
    void checkThread(String what) {
        if (closed) {
            throw new CudaException(what + ": cuda:" + ordinal + " is closed");
        }
        if (Thread.currentThread() != thread) {
            throw new CudaException(what + " of cuda:" + ordinal + " used on thread '" + Thread.currentThread().getName()
                    + "': GPU work for cuda:" + ordinal + " runs on its thread '" + thread.getName()
                    + "' (wrap it in device.run(...) or device.call(...))");
        }
    }

    // ---- properties ----

    public int ordinal() {
        return ordinal;
    }

    public String name() {
        return name;
    }

    public Capability computeCapability() {
        return capability;
    }

    public int multiprocessorCount() {
        return multiprocessors;
    }

    public long totalMemory() {
        return totalMemory;
    }

    /** Device memory free now, in bytes (what the driver reports; the allocator's cache counts as used). */
    public long freeMemory() {
        return call(() -> Driver.memoryInfo()[0]);
    }

    /** The driver's CUDA version, e.g. 13000 for 13.0. */
    public int driverVersion() {
        return driverVersion;
    }

    /** NVRTC's {@code --gpu-architecture}: {@code sm_90a} on Hopper (9.0, for wgmma/TMA), {@code sm_XY} otherwise. */
    public String archFlag() {
        return archFlag(capability);
    }

    static String archFlag(Capability c) {
        return "sm_" + c.major() + c.minor() + (c.major() == 9 && c.minor() == 0 ? "a" : "");
    }

    /** The largest dynamic shared memory a block may opt into, in bytes. */
    public int maxSharedMemoryPerBlockOptin() {
        return maxSharedMemoryPerBlockOptin;
    }

    /** Any {@code CUdevice_attribute} (see cuda.h), e.g. 36 for the memory clock in kHz. */
    public int attribute(int cuDeviceAttribute) {
        return call(() -> Driver.deviceAttribute(device, cuDeviceAttribute));
    }

    // ---- streams, memory, synchronisation ----

    /** The device's own stream, used by the synchronous copies; it is closed with the device. */
    public CudaStream stream() {
        return stream;
    }

    public CudaStream createStream() {
        return call(() -> new CudaStream(this, Driver.streamCreate(Driver.CU_STREAM_NON_BLOCKING), false));
    }

    /** An event that records timing ({@link CudaEvent#elapsedMillis}). */
    public CudaEvent createEvent() {
        return call(() -> new CudaEvent(this, Driver.eventCreate(Driver.CU_EVENT_DEFAULT)));
    }

    public DeviceAllocator allocator() {
        return allocator;
    }

    /** {@code bytes} of device memory from the caching allocator; close it (or its arena) to give it back. */
    public DeviceBuffer allocate(long bytes) {
        return call(() -> allocator.allocate(bytes, null));
    }

    /** An arena whose close frees every buffer allocated from it. */
    public DeviceArena arena() {
        return new DeviceArena(this);
    }

    /** Page-locked host memory, for asynchronous copies. */
    public PinnedBuffer allocatePinned(long bytes) {
        return call(() -> new PinnedBuffer(this, bytes));
    }

    /** Waits until all work queued on this device, on every stream, has completed. */
    public void synchronize() {
        run(Driver::contextSynchronize);
    }

    HostStaging staging() {
        return staging;
    }

    void register(AutoCloseable resource) {
        resources.add(resource);
    }

    void unregister(AutoCloseable resource) {
        resources.remove(resource);
    }

    /** Waits for the device's work, frees everything still open on it and releases its context. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        try {
            run(this::release);
        } finally {
            closed = true;
            executor.shutdown();
        }
    }

    private void release() {
        List<Throwable> failures = new ArrayList<>();
        attempt(failures, Driver::contextSynchronize);
        List<AutoCloseable> open = new ArrayList<>(resources);
        for (int i = open.size() - 1; i >= 0; i--) {
            AutoCloseable r = open.get(i);
            attempt(failures, () -> r.close());
        }
        resources.clear();
        attempt(failures, staging::close);
        attempt(failures, allocator::releaseAll);
        attempt(failures, () -> Driver.streamDestroy(stream.handle()));
        attempt(failures, () -> Driver.primaryContextRelease(device));
        if (!failures.isEmpty()) {
            CudaException e = new CudaException("closing cuda:" + ordinal + " failed: " + failures.getFirst().getMessage(),
                    failures.getFirst());
            failures.stream().skip(1).forEach(e::addSuppressed);
            throw e;
        }
    }

    private interface Step {
        void run() throws Exception;
    }

    private static void attempt(List<Throwable> failures, Step step) {
        try {
            step.run();
        } catch (Exception e) {
            failures.add(e);
        }
    }

    @Override
    public String toString() {
        return "cuda:" + ordinal + " (" + name + ", compute " + capability + ", " + multiprocessors + " SMs, "
                + totalMemory / (1L << 20) + " MiB)";
    }
}
