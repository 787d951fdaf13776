package org.gsa4j.cuda.models;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.tensor.VectorOps;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The GPU models' glue kernels (model_glue.cu: silu, relu and their backward, the grouped-query expansion of
 * heads and its reduction) on machines without a GPU: the CUDA C compiled as host C++ against the CPU emulation
 * (src/test/emu/glue_emu.cpp launches them as GlueKernels does), against the formulas in float64 and the CPU
 * engine's {@link VectorOps#repeatHeads}, on awkward sizes. Skipped, with the reason, where there is no g++.
 */
class GlueKernelsEmulatedTest {
    private static final Path SOURCE = Path.of("src/test/emu/glue_emu.cpp");
    private static final Path BINARY = Path.of("target/emu/glue_emu_f32");
    private static final double TOL = 1e-6;

    @TempDir
    Path work;

    @BeforeAll
    static void compile() throws Exception {
        Assumptions.assumeTrue(Files.exists(SOURCE), "run from the gsa4j-cuda module (" + SOURCE + " not found)");
        Files.createDirectories(BINARY.getParent());
        Process gxx;
        try {
            gxx = new ProcessBuilder("g++", "-std=c++20", "-O2", "-pthread", "-DGSA4J_BF16=0", "-o", BINARY.toString(), SOURCE.toString())
                    .redirectErrorStream(true).start();
        } catch (IOException e) {
            Assumptions.abort("no g++ to build the kernel emulation: " + e.getMessage());
            return;
        }
        String log = new String(gxx.getInputStream().readAllBytes());
        if (!gxx.waitFor(300, TimeUnit.SECONDS) || gxx.exitValue() != 0) throw new AssertionError("g++ failed:\n" + log);
    }

    @ParameterizedTest(name = "rows={0} hkv={1} d={2} groups={3}")
    @CsvSource({"1, 1, 7, 1", "63, 2, 5, 3", "65, 3, 9, 2", "64, 1, 64, 4"})
    void glueMatchesTheFormulasAndTheCpuEngine(int rows, int hkv, int d, int groups) throws Exception {
        SplittableRandom rng = new SplittableRandom(rows * 131L + hkv * 17L + d * 3L + groups);
        int n = rows * hkv * groups * d, nk = rows * hkv * d;
        float[] x = random(rng, n), dy = random(rng, n), xk = random(rng, nk);
        x[0] = 0f;   // relu's backward at exactly 0 passes nothing, as the CPU engine's
        write("x", x);
        write("dy", dy);
        write("xk", xk);
        Process p = new ProcessBuilder(BINARY.toString(), work.toString(), "" + rows, "" + hkv, "" + d, "" + groups)
                .redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(300, TimeUnit.SECONDS) && p.exitValue() == 0, "glue_emu failed:\n" + log);

        double[] silu = new double[n], siluDx = new double[n], relu = new double[n], reluDx = new double[n];
        for (int i = 0; i < n; i++) {
            double s = 1 / (1 + Math.exp(-x[i]));
            silu[i] = x[i] * s;
            siluDx[i] = dy[i] * s * (1 + x[i] * (1 - s));
            relu[i] = Math.max(x[i], 0);
            reluDx[i] = x[i] > 0 ? dy[i] : 0;
        }
        float[] rep = new float[n];
        VectorOps.repeatHeads(xk, rows, hkv, d, groups, rep);
        double[] repDx = new double[nk];
        for (int r = 0; r < rows; r++)
            for (int h = 0; h < hkv; h++)
                for (int j = 0; j < groups; j++)
                    for (int c = 0; c < d; c++) repDx[(r * hkv + h) * d + c] += dy[((r * hkv + h) * groups + j) * d + c];

        check("silu", silu);
        check("silu_dx", siluDx);
        check("relu", relu);
        check("relu_dx", reluDx);
        check("rep", toDouble(rep));
        check("rep_dx", repDx);
    }

    private void check(String name, double[] expected) throws IOException {
        float[] got = read(name);
        Tensor e = Tensor.zeros(expected.length), g = Tensor.of(got, got.length);
        for (int i = 0; i < expected.length; i++) e.f[i] = (float) expected[i];
        double err = Tensor.relErr(g, e);
        assertTrue(got.length == expected.length && err <= TOL, name + ": rel err " + err + " (" + got.length + " of " + expected.length + ")");
    }

    private static float[] random(SplittableRandom rng, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (3 * Tensor.gaussian(rng));
        return v;
    }

    private static double[] toDouble(float[] v) {
        double[] out = new double[v.length];
        for (int i = 0; i < v.length; i++) out[i] = v[i];
        return out;
    }

    private void write(String name, float[] v) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(v);
        Files.write(work.resolve(name + ".f32"), b.array());
    }

    private float[] read(String name) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(work.resolve(name + ".f32"))).order(ByteOrder.LITTLE_ENDIAN);
        float[] v = new float[b.remaining() / 4];
        b.asFloatBuffer().get(v);
        return v;
    }
}
