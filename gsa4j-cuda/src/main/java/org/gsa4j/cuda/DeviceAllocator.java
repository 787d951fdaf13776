package org.gsa4j.cuda;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * A caching allocator of device memory: a closed buffer's block goes back to a free list of its size
 * class instead of to the driver, so a loop that allocates the same sizes every step calls
 * {@code cuMemAlloc} only in its first step. {@link #trim()} returns the cached blocks to the driver; an
 * allocation the driver refuses trims and tries once more before it fails.
 *
 * <p>Size classes: up to 1 MiB, multiples of 512 bytes; above, four classes per power of two (a block is
 * at most 25 % larger than asked). Blocks are not split or merged.
 *
 * <p>A freed block is handed out again in host order, without waiting for the GPU: safe when the work that
 * used it and the work of its next owner run on one stream (or the streams are synchronised between).
 */
public final class DeviceAllocator {

    /** Counters since the device was opened. */
    public record Stats(long bytesInUse, long bytesCached, long peakBytesInUse, long driverAllocations,
                        long driverFrees, long cacheHits) {
    }

    private static final long SMALL_LIMIT = 1L << 20;
    private static final long SMALL_GRANULE = 512;

    private final CudaDevice device;
    private final Map<Long, ArrayDeque<Long>> cached = new HashMap<>();
    private final Map<Long, Long> live = new HashMap<>();
    private long bytesInUse;
    private long bytesCached;
    private long peakBytesInUse;
    private long driverAllocations;
    private long driverFrees;
    private long cacheHits;

    DeviceAllocator(CudaDevice device) {
        this.device = device;
    }

    /** The size of the block that serves a request of {@code bytes}. */
    static long sizeClass(long bytes) {
        if (bytes <= 0) {
            throw new IllegalArgumentException("allocation of " + bytes + " bytes");
        }
        if (bytes <= SMALL_LIMIT) {
            return roundUp(bytes, SMALL_GRANULE);
        }
        long step = Long.highestOneBit(bytes) / 4;
        return roundUp(bytes, step);
    }

    private static long roundUp(long bytes, long multiple) {
        return (bytes + multiple - 1) / multiple * multiple;
    }

    DeviceBuffer allocate(long bytes, DeviceArena arena) {
        device.checkThread("the allocator");
        long size = sizeClass(bytes);
        ArrayDeque<Long> free = cached.get(size);
        long address;
        if (free != null && !free.isEmpty()) {
            address = free.pop();
            bytesCached -= size;
            cacheHits++;
        } else {
            address = Driver.memAllocOrZero(size);
            if (address == 0) {
                trim();
                address = Driver.memAllocOrZero(size);
            }
            if (address == 0) {
                long[] info = Driver.memoryInfo();
                throw new CudaException("out of memory on " + device + ": asked " + mib(bytes) + " (" + bytes
                        + " bytes), " + mib(info[0]) + " free of " + mib(info[1]) + "; this allocator holds "
                        + mib(bytesInUse) + " in live buffers");
            }
            driverAllocations++;
        }
        live.put(address, size);
        bytesInUse += size;
        peakBytesInUse = Math.max(peakBytesInUse, bytesInUse);
        return new DeviceBuffer(device, address, bytes, arena);
    }

    /** Takes back the block at {@code address} into the cache. */
    void release(long address) {
        device.checkThread("the allocator");
        Long size = live.remove(address);
        if (size == null) {
            throw new IllegalStateException("block at 0x" + Long.toHexString(address) + " is not allocated here");
        }
        bytesInUse -= size;
        bytesCached += size;
        cached.computeIfAbsent(size, s -> new ArrayDeque<>()).push(address);
    }

    /** Returns every cached block to the driver. */
    public void trim() {
        device.run(() -> {
            for (ArrayDeque<Long> free : cached.values()) {
                while (!free.isEmpty()) {
                    Driver.memFree(free.pop());
                    driverFrees++;
                }
            }
            cached.clear();
            bytesCached = 0;
        });
    }

    public Stats stats() {
        return device.call(() -> new Stats(bytesInUse, bytesCached, peakBytesInUse, driverAllocations, driverFrees, cacheHits));
    }

    /** Frees cached and live blocks alike, when the device closes. */
    void releaseAll() {
        trim();
        for (long address : live.keySet()) {
            Driver.memFree(address);
            driverFrees++;
        }
        live.clear();
        bytesInUse = 0;
    }

    private static String mib(long bytes) {
        return String.format("%.1f MiB", bytes / (double) (1L << 20));
    }
}
