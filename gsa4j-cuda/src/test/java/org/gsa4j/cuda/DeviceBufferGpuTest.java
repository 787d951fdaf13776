package org.gsa4j.cuda;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.gsa4j.io.SafeTensors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Device memory: copies of every kind (across staging chunks), the caching allocator, out-of-memory. */
@Tag("gpu")
class DeviceBufferGpuTest {

    static CudaDevice device;

    @BeforeAll
    static void open() {
        assumeTrue(CudaDevice.available(), CudaDevice::unavailableReason);
        device = CudaDevice.open(0);
    }

    @AfterAll
    static void close() {
        if (device != null) {
            device.close();
        }
    }

    private static float[] random(int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    /** 1, 63, and sizes that span 1, 2 and 3 staging chunks with a ragged end. */
    private static final int[] SIZES = {1, 63, (int) (HostStaging.CHUNK / 4), (int) (HostStaging.CHUNK / 4) + 1,
            (int) (2.5 * HostStaging.CHUNK / 4)};

    @Test
    void floatAndIntRoundTrips() {
        device.run(() -> {
            for (int n : SIZES) {
                float[] x = random(n, n);
                int[] ids = new int[n];
                for (int i = 0; i < n; i++) {
                    ids[i] = i * 7919 - 3;
                }
                try (DeviceBuffer f = device.allocate(4L * n); DeviceBuffer g = device.allocate(4L * n)) {
                    f.copyFrom(x);
                    float[] y = new float[n];
                    f.copyTo(y);
                    assertArrayEquals(x, y, "floats, n=" + n);
                    g.copyFrom(ids);
                    int[] back = new int[n];
                    g.copyTo(back);
                    assertArrayEquals(ids, back, "ints, n=" + n);
                }
            }
        });
    }

    @Test
    void bf16StorageRoundsToNearestEven() {
        device.run(() -> {
            for (int n : SIZES) {
                float[] x = random(n, 100 + n);
                try (DeviceBuffer b = device.allocate(2L * n)) {
                    b.copyFromBf16(x);
                    float[] y = new float[n];
                    b.copyToFromBf16(y);
                    for (int i = 0; i < n; i++) {
                        assertEquals(SafeTensors.fromBf16(SafeTensors.toBf16(x[i])), y[i], "element " + i + " of " + n);
                    }
                }
            }
        });
    }

    @Test
    void offsetsSegmentsAndDeviceToDevice() {
        device.run(() -> {
            float[] x = random(1000, 5);
            try (DeviceBuffer a = device.allocate(4000); DeviceBuffer b = device.allocate(4000);
                 Arena arena = Arena.ofConfined()) {
                a.zero();
                a.copyFrom(x, 10, 100, 400); // x[10..110) to floats 100..200
                float[] y = new float[300];
                a.copyTo(y, 0, 300, 0);
                for (int i = 0; i < 300; i++) {
                    assertEquals(i >= 100 && i < 200 ? x[i - 90] : 0f, y[i], "float " + i);
                }
                MemorySegment host = arena.allocate(4000);
                MemorySegment.copy(x, 0, host, JAVA_FLOAT, 0, 1000);
                a.copyFrom(host);
                b.copyFromAsync(a, 0, 0, 4000, device.stream());
                MemorySegment heap = MemorySegment.ofArray(new float[1000]);
                b.copyTo(heap);
                assertArrayEquals(x, heap.toArray(JAVA_FLOAT));
                b.fillAsync(-2.5f, 1000, device.stream());
                float[] filled = new float[1000];
                b.copyTo(filled);
                for (float v : filled) {
                    assertEquals(-2.5f, v);
                }
                assertThrows(IndexOutOfBoundsException.class, () -> a.copyFrom(x, 0, 1000, 4));
                assertThrows(IndexOutOfBoundsException.class, () -> a.copyTo(new float[1001]));
            }
        });
    }

    @Test
    void asynchronousCopiesThroughPinnedMemory() {
        device.run(() -> {
            int n = 1 << 20;
            float[] x = random(n, 9);
            try (PinnedBuffer in = device.allocatePinned(4L * n); PinnedBuffer out = device.allocatePinned(4L * n);
                 DeviceBuffer d = device.allocate(4L * n); CudaStream s = device.createStream()) {
                MemorySegment.copy(x, 0, in.segment(), JAVA_FLOAT, 0, n);
                d.copyFromAsync(in, 0, 0, 4L * n, s);
                d.copyToAsync(out, 0, 0, 4L * n, s);
                s.synchronize();
                assertArrayEquals(x, out.segment().toArray(JAVA_FLOAT));
            }
        });
    }

    @Test
    void theAllocatorReusesBlocksInTheSteadyState() {
        device.run(() -> {
            DeviceAllocator alloc = device.allocator();
            alloc.trim();
            DeviceAllocator.Stats before = alloc.stats();
            long[] sizes = {1000, 1 << 20, (3 << 20) + 5, 12345};
            for (int step = 0; step < 50; step++) {
                try (DeviceArena arena = device.arena()) {
                    for (long size : sizes) {
                        arena.allocate(size);
                    }
                }
            }
            DeviceAllocator.Stats after = alloc.stats();
            assertEquals(sizes.length, after.driverAllocations() - before.driverAllocations(), after.toString());
            assertEquals(49L * sizes.length, after.cacheHits() - before.cacheHits(), after.toString());
            assertEquals(before.bytesInUse(), after.bytesInUse());
            assertTrue(after.bytesCached() >= 1000 + (1 << 20) + (3 << 20) + 12345, after.toString());
            assertTrue(after.peakBytesInUse() >= after.bytesCached());
            alloc.trim();
            DeviceAllocator.Stats trimmed = alloc.stats();
            assertEquals(0, trimmed.bytesCached());
            assertEquals(sizes.length, trimmed.driverFrees() - after.driverFrees());
        });
    }

    @Test
    void outOfMemorySaysWhatWasAskedAndWhatIsFree() {
        long tooMuch = device.totalMemory() + (1L << 30);
        CudaException e = assertThrows(CudaException.class, () -> device.allocate(tooMuch));
        String m = e.getMessage();
        assertTrue(m.startsWith("out of memory on cuda:0"), m);
        assertTrue(m.contains(" MiB (" + tooMuch + " bytes)"), m);
        assertTrue(m.contains(" free of "), m);
        device.run(() -> {
            try (DeviceBuffer ok = device.allocate(1 << 20)) {
                ok.zero(); // the device is fine afterwards
            }
        });
    }

    @Test
    void closedBuffersAreRefused() {
        DeviceBuffer b = device.allocate(64);
        b.close();
        b.close();
        assertThrows(IllegalStateException.class, b::address);
        device.run(() -> assertThrows(IllegalStateException.class, () -> b.copyFrom(new float[1])));
    }
}
