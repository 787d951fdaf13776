package org.gsa4j.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** NVRTC, the kernel cache, modules, launches with every argument type, events and graphs. */
@Tag("gpu")
class KernelGpuTest {

    /** The kernels these tests run; {@code KernelSourceTest} checks it with nvcc where there is no GPU. */
    static final String SOURCE = """
            #ifndef SCALE
            #define SCALE 1.0f
            #endif
            extern "C" __global__ void axpy(float* y, const float* x, float a, int n) {
                int i = blockIdx.x * blockDim.x + threadIdx.x;
                if (i < n) y[i] += a * x[i];
            }
            extern "C" __global__ void scalars(double* out, long long a, int b, float c, double d) {
                if (blockIdx.x == 0 && threadIdx.x == 0) {
                    out[0] = (double) a; out[1] = b; out[2] = c; out[3] = d;
                }
            }
            // One block reverses n floats through dynamic shared memory.
            extern "C" __global__ void reverse_shared(float* data, int n) {
                extern __shared__ float tile[];
                for (int i = threadIdx.x; i < n; i += blockDim.x) tile[i] = data[i];
                __syncthreads();
                for (int i = threadIdx.x; i < n; i += blockDim.x) data[i] = tile[n - 1 - i];
            }
            __device__ float twice(float v) { return 2.0f * v; }
            extern "C" __global__ void add_one_scaled(float* data, int n) {
                int i = blockIdx.x * blockDim.x + threadIdx.x;
                if (i < n) data[i] = twice(0.5f * SCALE) + data[i];
            }
            """;

    static CudaDevice device;

    @TempDir
    Path cacheDir;

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

    @Test
    void compilesLaunchesAndCaches() throws IOException {
        KernelCompiler compiler = new KernelCompiler(device, cacheDir);
        System.out.println("NVRTC " + compiler.nvrtcVersion() + ", options " + compiler.options(List.of()));
        try (CudaModule module = compiler.load("test_kernels.cu", SOURCE)) {
            assertEquals(1, compiler.compilations());
            device.run(() -> {
                CudaKernel axpy = module.function("axpy");
                assertEquals(List.of(8, 8, 4, 4), sizes(axpy));
                int n = 1000;
                float[] x = new float[n];
                float[] y = new float[n];
                for (int i = 0; i < n; i++) {
                    x[i] = i;
                    y[i] = 1;
                }
                try (DeviceBuffer dx = device.allocate(4L * n); DeviceBuffer dy = device.allocate(4L * n)) {
                    dx.copyFrom(x);
                    dy.copyFrom(y);
                    axpy.launch(new int[] {(n + 255) / 256}, new int[] {256}, 0, device.stream(), dy, dx, 2f, n);
                    // and the garbage-free way
                    axpy.launch((n + 255) / 256, 1, 1, 256, 1, 1, 0, device.stream(), axpy.params().add(dy).add(dx).add(0.5f).add(n));
                    float[] out = new float[n];
                    dy.copyTo(out);
                    for (int i = 0; i < n; i++) {
                        assertEquals(1 + 2.5f * i, out[i], "y[" + i + "]");
                    }
                    System.out.println("axpy: " + axpy.registers() + " registers, max threads " + axpy.maxThreadsPerBlock());
                }
            });
        }
        try (Stream<Path> files = Files.list(cacheDir)) {
            assertEquals(1, files.filter(p -> p.toString().endsWith(".cubin")).count());
        }
        KernelCompiler again = new KernelCompiler(device, cacheDir);
        try (CudaModule cached = again.load("test_kernels.cu", SOURCE)) {
            assertEquals(0, again.compilations());
            assertEquals(1, again.cacheHits());
            device.run(() -> cached.function("axpy"));
        }
        try (CudaModule other = again.load("test_kernels.cu", SOURCE, "-DSCALE=3.0f")) {
            assertEquals(1, again.compilations(), "another option, another binary");
            device.run(() -> {
                try (DeviceBuffer d = device.allocate(8)) {
                    d.copyFrom(new float[] {1, 2});
                    other.function("add_one_scaled").launch(new int[] {1}, new int[] {32}, 0, device.stream(), d, 2);
                    float[] out = new float[2];
                    d.copyTo(out);
                    assertArrayEquals(new float[] {4, 5}, out);
                }
            });
        }
    }

    @Test
    void aDamagedCacheEntryIsCompiledAgain() throws IOException {
        KernelCompiler compiler = new KernelCompiler(device, cacheDir);
        compiler.compile("damaged.cu", SOURCE, List.of());
        try (Stream<Path> files = Files.list(cacheDir)) {
            for (Path p : files.toList()) {
                Files.write(p, new byte[] {1, 2, 3, 4});
            }
        }
        try (CudaModule module = compiler.load("damaged.cu", SOURCE)) {
            assertEquals(2, compiler.compilations());
            device.run(() -> module.function("axpy"));
        }
    }

    @Test
    void everyArgumentTypeArrives() {
        KernelCompiler compiler = new KernelCompiler(device, cacheDir);
        try (CudaModule module = compiler.load("test_kernels.cu", SOURCE)) {
            device.run(() -> {
                CudaKernel k = module.function("scalars");
                assertEquals(List.of(8, 8, 4, 4, 8), sizes(k));
                try (DeviceBuffer out = device.allocate(32)) {
                    k.launch(new int[] {1}, new int[] {1}, 0, device.stream(), out, 1L << 40, -3, 0.25f, Math.PI);
                    float[] raw = new float[8];
                    out.copyTo(raw);
                    java.nio.ByteBuffer bytes = java.nio.ByteBuffer.allocate(32).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                    bytes.asFloatBuffer().put(raw);
                    var doubles = bytes.asDoubleBuffer();
                    assertEquals((double) (1L << 40), doubles.get(0));
                    assertEquals(-3.0, doubles.get(1));
                    assertEquals(0.25, doubles.get(2));
                    assertEquals(Math.PI, doubles.get(3));
                    // the wrong count or an int where a long belongs is an error before the launch
                    IllegalArgumentException wrong = assertThrows(IllegalArgumentException.class, () ->
                            k.launch(new int[] {1}, new int[] {1}, 0, device.stream(), out, 1, -3, 0.25f, Math.PI));
                    assertTrue(wrong.getMessage().contains("kernel 'scalars' of test_kernels.cu takes parameters of [8, 8, 4, 4, 8]"),
                            wrong.getMessage());
                    assertThrows(IllegalArgumentException.class, () ->
                            k.launch(new int[] {1}, new int[] {1}, 0, device.stream(), out, 1L));
                }
                CudaException missing = assertThrows(CudaException.class, () -> module.function("no_such_kernel"));
                assertTrue(missing.getMessage().contains("kernel 'no_such_kernel' in test_kernels.cu"), missing.getMessage());
            });
        }
    }

    @Test
    void dynamicSharedMemoryUpToTheOptInLimit() {
        KernelCompiler compiler = new KernelCompiler(device, cacheDir);
        try (CudaModule module = compiler.load("test_kernels.cu", SOURCE)) {
            device.run(() -> {
                CudaKernel k = module.function("reverse_shared");
                int bytes = device.maxSharedMemoryPerBlockOptin();
                int n = bytes / 4;
                float[] x = new float[n];
                for (int i = 0; i < n; i++) {
                    x[i] = i;
                }
                try (DeviceBuffer d = device.allocate(4L * n)) {
                    d.copyFrom(x);
                    CudaException tooMuch = assertThrows(CudaException.class, () ->
                            k.launch(new int[] {1}, new int[] {256}, bytes, device.stream(), d, n));
                    assertTrue(tooMuch.getMessage().startsWith("cuLaunchKernel(kernel 'reverse_shared'"), tooMuch.getMessage());
                    k.setMaxDynamicSharedMemory(bytes);
                    k.launch(new int[] {1}, new int[] {256}, bytes, device.stream(), d, n);
                    float[] y = new float[n];
                    d.copyTo(y);
                    for (int i = 0; i < n; i++) {
                        assertEquals(n - 1 - i, y[i], "element " + i);
                    }
                }
            });
        }
    }

    @Test
    void aCompileErrorCarriesTheLogAndTheName() {
        KernelCompiler compiler = new KernelCompiler(device, cacheDir);
        CudaException e = assertThrows(CudaException.class, () ->
                compiler.compile("broken.cu", "extern \"C\" __global__ void k(float* x) { x[0] = undefined_name; }", List.of()));
        assertTrue(e.getMessage().startsWith("NVRTC could not compile broken.cu"), e.getMessage());
        assertTrue(e.getMessage().contains("NVRTC_ERROR_COMPILATION"), e.getMessage());
        assertTrue(e.getMessage().contains("undefined_name"), e.getMessage());
    }

    @Test
    void eventsTimeTheWorkBetweenThem() {
        KernelCompiler compiler = new KernelCompiler(device, cacheDir);
        try (CudaModule module = compiler.load("test_kernels.cu", SOURCE)) {
            device.run(() -> {
                int n = 1 << 24;
                try (DeviceBuffer d = device.allocate(4L * n); CudaEvent start = device.createEvent();
                     CudaEvent end = device.createEvent()) {
                    d.zero();
                    CudaKernel k = module.function("add_one_scaled");
                    start.record(device.stream());
                    for (int i = 0; i < 10; i++) {
                        k.launch((n + 255) / 256, 1, 1, 256, 1, 1, 0, device.stream(), k.params().add(d).add(n));
                    }
                    end.record(device.stream());
                    end.synchronize();
                    assertTrue(end.isComplete());
                    float ms = end.elapsedMillis(start);
                    System.out.printf("10 passes over %d MiB: %.3f ms (%.0f GB/s)%n", 4L * n >> 20, ms, 10 * 8.0 * n / ms / 1e6);
                    assertTrue(ms > 0, "elapsed " + ms);
                    float[] head = new float[4];
                    d.copyTo(head, 0, 4, 0);
                    assertArrayEquals(new float[] {10, 10, 10, 10}, head);
                }
            });
        }
    }

    @Test
    void aGraphReplaysItsCapturedWork() {
        KernelCompiler compiler = new KernelCompiler(device, cacheDir);
        try (CudaModule module = compiler.load("test_kernels.cu", SOURCE)) {
            device.run(() -> {
                int n = 4096;
                try (DeviceBuffer d = device.allocate(4L * n); CudaStream s = device.createStream()) {
                    d.zero();
                    CudaKernel k = module.function("add_one_scaled");
                    try (CudaGraph graph = CudaGraph.capture(s, () -> {
                        k.launch(new int[] {n / 256}, new int[] {256}, 0, s, d, n);
                        k.launch(new int[] {n / 256}, new int[] {256}, 0, s, d, n);
                    })) {
                        s.synchronize();
                        float[] y = new float[n];
                        d.copyTo(y);
                        assertEquals(0f, y[0], "capture runs nothing");
                        for (int i = 0; i < 5; i++) {
                            graph.launch(s);
                        }
                        s.synchronize();
                        d.copyTo(y);
                        for (int i = 0; i < n; i++) {
                            assertEquals(10f, y[i], "element " + i);
                        }
                    }
                    // a synchronous call inside capture fails the capture clearly; the stream stays usable
                    CudaException e = assertThrows(CudaException.class, () -> CudaGraph.capture(s, d::zero));
                    System.out.println("capture with a synchronous call: " + e.getMessage());
                    k.launch(new int[] {n / 256}, new int[] {256}, 0, s, d, n);
                    s.synchronize();
                }
            });
        }
    }

    private static List<Integer> sizes(CudaKernel k) {
        int[] sizes = k.parameterSizes();
        assumeTrue(sizes != null, "this driver cannot report parameter sizes (cuFuncGetParamInfo is CUDA 12.4+)");
        return java.util.Arrays.stream(sizes).boxed().toList();
    }
}
