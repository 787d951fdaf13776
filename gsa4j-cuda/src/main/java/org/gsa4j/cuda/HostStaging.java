package org.gsa4j.cuda;

import java.lang.foreign.MemorySegment;

/**
 * The synchronous copies' path between Java memory and the device: two pinned halves that take turns, so
 * that the host fills (or drains) one chunk while the copy engine moves the other.
 */
final class HostStaging implements AutoCloseable {

    /** Bytes per chunk: a multiple of every element size copied through it. */
    static final long CHUNK = 4L << 20;

    /** Fills {@code chunk} with the source's bytes {@code [offset, offset + chunk.byteSize())}. */
    interface Fill {
        void into(MemorySegment chunk, long offset);
    }

    /** Takes the destination's bytes {@code [offset, offset + chunk.byteSize())} out of {@code chunk}. */
    interface Drain {
        void from(MemorySegment chunk, long offset);
    }

    private final CudaDevice device;
    private MemorySegment[] halves;
    private MemorySegment[] copied; // an event per half: its last copy has finished

    HostStaging(CudaDevice device) {
        this.device = device;
    }

    private void ensureAllocated() {
        if (halves == null) {
            halves = new MemorySegment[] {Driver.memAllocHost(CHUNK), Driver.memAllocHost(CHUNK)};
            copied = new MemorySegment[] {Driver.eventCreate(Driver.CU_EVENT_DISABLE_TIMING),
                    Driver.eventCreate(Driver.CU_EVENT_DISABLE_TIMING)};
        }
    }

    /** Copies {@code bytes} to device address {@code dst}, chunk by chunk; returns when they have arrived. */
    void upload(long dst, long bytes, Fill fill) {
        ensureAllocated();
        MemorySegment stream = device.stream().handle();
        for (long offset = 0, i = 0; offset < bytes; offset += CHUNK, i++) {
            int h = (int) (i & 1);
            if (i >= 2) {
                Driver.eventSynchronize(copied[h]); // the copy out of this half, two chunks ago
            }
            MemorySegment chunk = halves[h].asSlice(0, Math.min(CHUNK, bytes - offset));
            fill.into(chunk, offset);
            Driver.memcpyHtoDAsync(dst + offset, chunk, chunk.byteSize(), stream);
            Driver.eventRecord(copied[h], stream);
        }
        Driver.streamSynchronize(stream);
    }

    /** Copies {@code bytes} from device address {@code src}, chunk by chunk, the next one in flight. */
    void download(long src, long bytes, Drain drain) {
        ensureAllocated();
        MemorySegment stream = device.stream().handle();
        long chunks = (bytes + CHUNK - 1) / CHUNK;
        if (chunks > 0) {
            issueDownload(src, bytes, 0, stream);
        }
        for (long i = 0; i < chunks; i++) {
            if (i + 1 < chunks) {
                issueDownload(src, bytes, i + 1, stream);
            }
            int h = (int) (i & 1);
            Driver.eventSynchronize(copied[h]);
            long offset = i * CHUNK;
            drain.from(halves[h].asSlice(0, Math.min(CHUNK, bytes - offset)), offset);
        }
    }

    private void issueDownload(long src, long bytes, long i, MemorySegment stream) {
        int h = (int) (i & 1);
        long offset = i * CHUNK;
        MemorySegment chunk = halves[h].asSlice(0, Math.min(CHUNK, bytes - offset));
        Driver.memcpyDtoHAsync(chunk, src + offset, chunk.byteSize(), stream);
        Driver.eventRecord(copied[h], stream);
    }

    @Override
    public void close() {
        if (halves != null) {
            Driver.streamSynchronize(device.stream().handle());
            for (int h = 0; h < 2; h++) {
                Driver.eventDestroy(copied[h]);
                Driver.memFreeHost(halves[h]);
            }
            halves = null;
        }
    }
}
