package org.gsa4j.cuda.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Where nvcc is installed (no GPU needed), the mixers' kernels ({@link MixerKernels#source()}: mixers.cu, attention.cu)
 * compile for Hopper in both precisions with the options {@link org.gsa4j.cuda.KernelCompiler} gives NVRTC, so a source that
 * only the emulation accepts shows up without a GPU.
 */
class MixerKernelSourceTest {

    @TempDir
    Path tmp;

    @ParameterizedTest
    @EnumSource(Precision.class)
    void compilesForSm90a(Precision precision) throws Exception {
        Path nvcc = Stream.of(System.getenv().getOrDefault("PATH", "").split(":"))
                .map(dir -> Path.of(dir, "nvcc")).filter(Files::isExecutable).findFirst().orElse(null);
        assumeTrue(nvcc != null, "nvcc is not on the PATH");
        Path source = Files.writeString(tmp.resolve("mixers.cu"), MixerKernels.source());
        Path cubin = tmp.resolve("mixers.cubin");
        Process p = new ProcessBuilder(nvcc.toString(), "--cubin", "-arch=sm_90a", "--std=c++17",
                "-DGSA4J_BF16=" + (precision == Precision.BF16 ? 1 : 0), "-o", cubin.toString(), source.toString())
                .redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "nvcc took over two minutes");
        assertEquals(0, p.exitValue(), "nvcc failed:\n" + output);
        assertTrue(Files.size(cubin) > 0);
    }
}
