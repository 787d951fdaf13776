package org.gsa4j.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Where nvcc is installed (CUDA's compiler; no GPU needed), the GPU tests' kernel source compiles for
 * Hopper with the options {@link KernelCompiler} gives NVRTC, so a broken source shows up without a GPU.
 */
class KernelSourceTest {

    @TempDir
    Path tmp;

    @Test
    void theTestKernelsCompileForSm90a() throws IOException, InterruptedException {
        Path nvcc = Stream.of(System.getenv().getOrDefault("PATH", "").split(":"))
                .map(dir -> Path.of(dir, "nvcc")).filter(Files::isExecutable).findFirst().orElse(null);
        assumeTrue(nvcc != null, "nvcc is not on the PATH");
        Path source = Files.writeString(tmp.resolve("test_kernels.cu"), KernelGpuTest.SOURCE);
        Path cubin = tmp.resolve("test_kernels.cubin");
        Process p = new ProcessBuilder(nvcc.toString(), "--cubin", "-arch=sm_90a", "--std=c++17",
                "-DSCALE=3.0f", "-o", cubin.toString(), source.toString())
                .redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "nvcc took over two minutes");
        assertEquals(0, p.exitValue(), "nvcc failed:\n" + output);
        assertTrue(Files.size(cubin) > 0);
    }
}
