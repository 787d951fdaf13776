package org.gsa4j.cli;

import org.gsa4j.cuda.CudaDevice;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.gsa4j.cli.GenerateCommandTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --device}: without a GPU (this machine, CI) {@code cuda} ends every command that takes it with exactly
 * one line and exit status 2, before any work; a malformed value is a usage error.
 */
class DeviceOptionTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"train", "eval", "generate", "mqar"})
    void cudaWithoutAGpuIsOneLineAndExitStatus2(String command) {
        Assumptions.assumeFalse(CudaDevice.available(), "this machine has a GPU");
        Path out = dir.resolve("out");
        String[] args = switch (command) {
            case "train" -> new String[] {"train", "--device", "cuda", "--out", out.toString(), "--steps", "1"};
            case "eval" -> new String[] {command, "--device", "cuda", "-m", dir.resolve("no-model").toString()};
            case "generate" -> new String[] {command, "--device", "cuda", "-m", dir.resolve("no-model").toString(), "-p", "Once"};
            default -> new String[] {command, "--device", "cuda:1"};
        };
        GenerateCommandTest.Run r = run(args);
        assertEquals(2, r.exitCode(), r.err());
        assertEquals("", r.out());
        String[] lines = r.err().strip().split("\\R");
        assertEquals(1, lines.length, "exactly one line: " + r.err());
        assertTrue(lines[0].startsWith("gsa4j: --device cuda") && lines[0].contains("no CUDA GPU can be used on this machine ("),
                lines[0]);
        assertFalse(Files.exists(out), "nothing is written before the device is checked");
    }

    @Test
    void aMalformedDeviceIsAUsageError() {
        GenerateCommandTest.Run r = run("mqar", "--device", "gpu0");
        assertEquals(2, r.exitCode());
        assertTrue(r.err().startsWith("gsa4j: --device must be cpu, cuda or cuda:N, found 'gpu0'"), r.err());
        assertTrue(r.err().contains("mqar --help"), r.err());
    }

    @Test
    void bf16PrecisionIsForTheGpu() {
        GenerateCommandTest.Run r = run("train", "--precision", "bf16", "--out", dir.resolve("out").toString(), "--steps", "1");
        assertEquals(2, r.exitCode());
        assertEquals("gsa4j: --precision bf16 is for --device cuda; the CPU computes in float32", r.err().strip());
        assertFalse(Files.exists(dir.resolve("out")), "nothing is written");
        r = run("eval", "--device", "cpu", "--precision", "fp8", "-m", dir.toString());
        assertEquals(2, r.exitCode());
        assertTrue(r.err().startsWith("gsa4j: --precision must be f32 or bf16, found 'fp8'"), r.err());
    }

    /** With a GPU present: several ranks on GPUs are refused in one line before anything starts. */
    @Test
    void severalRanksOnGpusAreRefused() {
        Assumptions.assumeTrue(CudaDevice.available(), "needs a GPU");
        GenerateCommandTest.Run r = run("train", "--device", "cuda", "--nproc-per-node", "2", "--out", dir.resolve("out").toString());
        assertEquals(2, r.exitCode());
        assertTrue(r.err().strip().startsWith("gsa4j: --device cuda: training with several ranks on GPUs is not built yet"), r.err());
        assertFalse(Files.exists(dir.resolve("out")));
    }
}
