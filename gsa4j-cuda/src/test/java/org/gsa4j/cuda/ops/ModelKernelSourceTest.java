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
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Where nvcc is installed (no GPU needed), the model kernels' sources ({@link ModelKernels#source()}, and the
 * GLA/RetNet/HGRN2/attention mixers' {@link MixerKernels#source()}) compile for Hopper in both precisions with the
 * options {@link org.gsa4j.cuda.KernelCompiler} gives NVRTC, so a source that only the emulation accepts shows up
 * without a GPU.
 */
class ModelKernelSourceTest {

    @TempDir
    Path tmp;

    static Stream<Arguments> modules() {
        return Stream.of(Precision.values()).flatMap(p -> Stream.of(Arguments.of("model", p), Arguments.of("mixers", p)));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("modules")
    void compilesForSm90a(String module, Precision precision) throws Exception {
        Path nvcc = Stream.of(System.getenv().getOrDefault("PATH", "").split(":"))
                .map(dir -> Path.of(dir, "nvcc")).filter(Files::isExecutable).findFirst().orElse(null);
        assumeTrue(nvcc != null, "nvcc is not on the PATH");
        Path source = Files.writeString(tmp.resolve(module + ".cu"), module.equals("model") ? ModelKernels.source() : MixerKernels.source());
        Path cubin = tmp.resolve(module + ".cubin");
        Process p = new ProcessBuilder(nvcc.toString(), "--cubin", "-arch=sm_90a", "--std=c++17",
                "-DGSA4J_BF16=" + (precision == Precision.BF16 ? 1 : 0), "-o", cubin.toString(), source.toString())
                .redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "nvcc took over two minutes");
        assertEquals(0, p.exitValue(), "nvcc failed:\n" + output);
        assertTrue(Files.size(cubin) > 0);
    }
}
