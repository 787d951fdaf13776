package org.gsa4j.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.gsa4j.io.SafeTensors;
import org.junit.jupiter.api.Test;

/** The parts of the CUDA runtime that need no GPU: size classes, argument marshalling, cache keys, bf16 staging. */
class RuntimeUnitsTest {

    @Test
    void sizeClassesCoverTheRequestWithBoundedWaste() {
        long previous = 0;
        Random random = new Random(1);
        for (int i = 0; i < 20000; i++) {
            long bytes = i < 5000 ? i + 1 : 1 + (long) Math.exp(random.nextDouble() * Math.log(64.0 * (1L << 30)));
            long size = DeviceAllocator.sizeClass(bytes);
            assertTrue(size >= bytes, bytes + " -> " + size);
            assertEquals(size, DeviceAllocator.sizeClass(size), "a class is its own class: " + size);
            if (bytes <= 1 << 20) {
                assertEquals(0, size % 512, bytes + " -> " + size);
                assertTrue(size - bytes < 512);
            } else {
                assertTrue(size <= bytes * 1.25, bytes + " -> " + size);
            }
            if (i < 5000) {
                assertTrue(size >= previous, "monotonic");
                previous = size;
            }
        }
        // few classes: the cache can serve repeated, slightly varying sizes
        Set<Long> classes = new HashSet<>();
        for (long b = (1 << 20) + 1; b <= 2L << 20; b += 4096) {
            classes.add(DeviceAllocator.sizeClass(b));
        }
        assertEquals(4, classes.size(), classes.toString());
        assertThrows(IllegalArgumentException.class, () -> DeviceAllocator.sizeClass(0));
    }

    @Test
    void kernelParamsPointEachEntryAtItsValue() {
        try (Arena arena = Arena.ofConfined()) {
            KernelParams p = new KernelParams(arena, 2); // grows past its first capacity below
            p.add(0x1234_5678_9ABCL).add(-7).add(1.5f).add(2.25).add((Object) 42).add((Object) 3L).add((Object) 0.5f)
                    .add((Object) (-1.0));
            assertEquals(8, p.count());
            int[] sizes = {8, 4, 4, 8, 4, 8, 4, 8};
            MemorySegment pointers = p.pointerArray();
            for (int i = 0; i < p.count(); i++) {
                assertEquals(sizes[i], p.size(i), "size of argument " + i);
                assertEquals(p.slot(i).address(), pointers.getAtIndex(ADDRESS, i).address(), "pointer " + i);
            }
            assertEquals(0x1234_5678_9ABCL, p.slot(0).get(JAVA_LONG, 0));
            assertEquals(-7, p.slot(1).get(JAVA_INT, 0));
            assertEquals(1.5f, p.slot(2).get(JAVA_FLOAT, 0));
            assertEquals(2.25, p.slot(3).get(JAVA_DOUBLE, 0));
            assertEquals(42, p.slot(4).get(JAVA_INT, 0));
            assertEquals(3L, p.slot(5).get(JAVA_LONG, 0));
            assertEquals(0.5f, p.slot(6).get(JAVA_FLOAT, 0));
            assertEquals(-1.0, p.slot(7).get(JAVA_DOUBLE, 0));
            assertEquals("[8, 4, 4, 8, 4, 8, 4, 8]", p.describeSizes());

            p.clear().add(5);
            assertEquals(1, p.count());
            assertEquals(5, p.slot(0).get(JAVA_INT, 0));
            var e = assertThrows(IllegalArgumentException.class, () -> p.add((Object) "x"));
            assertTrue(e.getMessage().contains("kernel argument 1 is a String"), e.getMessage());
        }
    }

    @Test
    void cacheKeyChangesWithEveryInput() {
        List<String> options = List.of("--gpu-architecture=sm_90a", "--std=c++17", "-DN=4");
        String base = KernelCompiler.cacheKey("k.cu", "__global__ void k(){}", options, "sm_90a", 13000, "13.0");
        assertEquals(64, base.length());
        assertEquals(base, KernelCompiler.cacheKey("k.cu", "__global__ void k(){}", List.copyOf(options), "sm_90a", 13000, "13.0"));
        Set<String> keys = new HashSet<>(List.of(base,
                KernelCompiler.cacheKey("j.cu", "__global__ void k(){}", options, "sm_90a", 13000, "13.0"),
                KernelCompiler.cacheKey("k.cu", "__global__ void k(){ }", options, "sm_90a", 13000, "13.0"),
                KernelCompiler.cacheKey("k.cu", "__global__ void k(){}", List.of("--gpu-architecture=sm_90a", "--std=c++17", "-DN=5"), "sm_90a", 13000, "13.0"),
                KernelCompiler.cacheKey("k.cu", "__global__ void k(){}", List.of("--gpu-architecture=sm_90a", "--std=c++17"), "sm_90a", 13000, "13.0"),
                KernelCompiler.cacheKey("k.cu", "__global__ void k(){}", options, "sm_80", 13000, "13.0"),
                KernelCompiler.cacheKey("k.cu", "__global__ void k(){}", options, "sm_90a", 13010, "13.0"),
                KernelCompiler.cacheKey("k.cu", "__global__ void k(){}", options, "sm_90a", 13000, "13.1"),
                // field boundaries are unambiguous: moving a character from one field to the next changes the key
                KernelCompiler.cacheKey("k.c", "u__global__ void k(){}", options, "sm_90a", 13000, "13.0"),
                KernelCompiler.cacheKey("k.cu", "__global__ void k(){}", List.of("--gpu-architecture=sm_90a", "--std=c++17-DN=4", ""), "sm_90a", 13000, "13.0")));
        assertEquals(10, keys.size());
    }

    @Test
    void cacheFolderFromTheEnvironment() {
        assertEquals(Path.of("/x/kernels"), KernelCompiler.defaultCacheDir(Map.of("GSA4J_CACHE_DIR", "/x/kernels", "GSA4J_CACHE", "/y")));
        assertEquals(Path.of("/y/cuda"), KernelCompiler.defaultCacheDir(Map.of("GSA4J_CACHE", "/y")));
        assertEquals(Path.of(System.getProperty("user.home"), ".cache", "gsa4j", "cuda"), KernelCompiler.defaultCacheDir(Map.of()));
    }

    @Test
    void bf16StagingRoundsAsTheCpuEngineDoes() {
        float[] values = new float[4096 + 3];
        Random random = new Random(7);
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) (random.nextGaussian() * Math.pow(10, random.nextInt(20) - 10));
        }
        float[] special = {0f, -0f, 1f, Float.MIN_VALUE, -Float.MIN_VALUE, Float.MAX_VALUE, Float.POSITIVE_INFINITY,
                Float.NEGATIVE_INFINITY, Float.NaN,
                Float.intBitsToFloat(0x3F80_8000), // exactly halfway between two bf16: rounds to even (down)
                Float.intBitsToFloat(0x3F81_8000), // halfway, odd below: rounds up
                Float.intBitsToFloat(0x3F80_8001)};
        System.arraycopy(special, 0, values, 3, special.length);
        try (Arena arena = Arena.ofConfined()) {
            int from = 3;
            MemorySegment chunk = arena.allocate(2L * (values.length - from));
            DeviceBuffer.encodeBf16(values, from, chunk);
            for (int i = from; i < values.length; i++) {
                assertEquals(SafeTensors.toBf16(values[i]), chunk.getAtIndex(JAVA_SHORT, i - from), "element " + i);
            }
            assertEquals((short) 0x3F80, chunk.getAtIndex(JAVA_SHORT, 9));
            assertEquals((short) 0x3F82, chunk.getAtIndex(JAVA_SHORT, 10));
            assertEquals((short) 0x3F81, chunk.getAtIndex(JAVA_SHORT, 11));
            float[] back = new float[values.length];
            DeviceBuffer.decodeBf16(chunk, back, from);
            for (int i = from; i < values.length; i++) {
                assertEquals(Float.floatToRawIntBits(SafeTensors.fromBf16(SafeTensors.toBf16(values[i]))),
                        Float.floatToRawIntBits(back[i]), "element " + i);
            }
        }
    }

    @Test
    void architectureFlagAndAlignment() {
        assertEquals("sm_90a", CudaDevice.archFlag(new CudaDevice.Capability(9, 0)));
        assertEquals("sm_80", CudaDevice.archFlag(new CudaDevice.Capability(8, 0)));
        assertEquals("sm_89", CudaDevice.archFlag(new CudaDevice.Capability(8, 9)));
        assertEquals("sm_100", CudaDevice.archFlag(new CudaDevice.Capability(10, 0)));
        assertEquals(256, CublasLt.alignment(0x7f00_0000_0000L));
        assertEquals(256, CublasLt.alignment(0x7f00_0000_0100L));
        assertEquals(128, CublasLt.alignment(0x7f00_0000_0080L));
        assertEquals(2, CublasLt.alignment(0x7f00_0000_0002L));
        assertNotEquals(CublasLt.alignment(0x7f00_0000_0004L), CublasLt.alignment(0x7f00_0000_0008L));
    }
}
