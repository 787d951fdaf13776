package org.gsa4j.cuda.ops;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.gsa4j.ops.attention.CausalAttention;
import org.gsa4j.ops.attention.Rotary;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The mixers' kernels (mixers.cu: row bias and its gradient, rotary embedding; attention.cu: causal softmax attention
 * forward, backward and the cached decoding form) on machines without a GPU: the CUDA C compiled as host C++ against
 * the CPU emulation (src/test/emu/mixers_emu.cpp launches them as {@link CudaBias}, {@link CudaRotary} and
 * {@link CudaAttention} do), float32, against the CPU engine: {@link Rotary} (bit for bit but for the rounding of
 * its products) and {@link CausalAttention} in float64 (its plain loops), on awkward sizes: one row, rows around a
 * tile, head widths that are not a multiple of 32, grouped heads, sliding windows. Skipped, with the reason, where
 * there is no g++.
 */
class MixerKernelsEmulatedTest {
    private static final Path SOURCE = Path.of("src/test/emu/mixers_emu.cpp");
    private static final Path BINARY = Path.of("target/emu/mixers_emu_f32");

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

    @ParameterizedTest(name = "rows={0} width={1}")
    @CsvSource({"1, 1", "63, 5", "65, 33", "130, 16"})
    void rowBiasAndItsGradient(int rows, int width) throws Exception {
        SplittableRandom rng = new SplittableRandom(rows * 31L + width);
        float[] y = random(rng, rows * width), bias = random(rng, width), dy = random(rng, rows * width), db = random(rng, width);
        write("y", y);
        write("bias", bias);
        write("dy", dy);
        write("db", db);
        run("bias", rows, width);
        double[] yBias = new double[y.length], dbSum = new double[width];
        for (int i = 0; i < y.length; i++) yBias[i] = y[i] + bias[i % width];
        for (int c = 0; c < width; c++) {
            dbSum[c] = db[c];
            for (int r = 0; r < rows; r++) dbSum[c] += dy[r * width + c];
        }
        check("y_bias", yBias, 1e-7);
        check("db_sum", dbSum, 1e-6);
    }

    @ParameterizedTest(name = "B={0} T={1} H={2} D={3} offset={4}")
    @CsvSource({"1, 1, 1, 2, 0", "2, 65, 3, 20, 0", "1, 7, 2, 64, 1000", "2, 3, 1, 256, 70000"})
    void rotaryIsTheCpuEnginesRotation(int b, int t, int h, int d, int offset) throws Exception {
        SplittableRandom rng = new SplittableRandom(b * 7L + t * 13L + d + offset);
        float[] x = random(rng, b * t * h * d);
        Rotary cpu = new Rotary(d, 10000.0);
        float[] invFreq = new float[d / 2];
        for (int i = 0; i < invFreq.length; i++) invFreq[i] = (float) cpu.invFreq(i);
        write("x", x);
        write("inv_freq", invFreq);
        run("rotary", b, t, h, d, offset);
        Tensor rot = Tensor.of(x.clone(), b, t, h, d), unrot = Tensor.of(x.clone(), b, t, h, d);
        cpu.apply(rot, offset, false);
        cpu.apply(unrot, offset, true);
        check("rot", toDouble(rot.f), 1e-6);
        check("unrot", toDouble(unrot.f), 1e-6);
    }

    @ParameterizedTest(name = "B={0} T={1} H={2} Hkv={3} D={4} window={5} prefix={6}")
    @CsvSource({"1, 1, 1, 1, 8, 0, 0", "2, 40, 2, 1, 20, 0, 37", "1, 70, 4, 2, 33, 0, 1", "1, 65, 2, 2, 64, 9, 50",
            "1, 33, 1, 1, 256, 5, 32"})
    void attentionIsTheCpuEnginesInFloat64(int b, int t, int h, int hkv, int d, int window, int prefix) throws Exception {
        SplittableRandom rng = new SplittableRandom(b * 1000L + t * 10L + h + d + window);
        float[] q = random(rng, b * t * h * d), k = random(rng, b * t * hkv * d), v = random(rng, b * t * hkv * d),
                dO = random(rng, b * t * h * d);
        double scale = 1 / Math.sqrt(d);
        write("q", q);
        write("k", k);
        write("v", v);
        write("dO", dO);
        run("attention", b, t, h, hkv, d, window, (float) scale, prefix);

        Tensor q64 = Tensor.of(q, b, t, h, d).toF64(), k64 = Tensor.of(k, b, t, hkv, d).toF64(), v64 = Tensor.of(v, b, t, hkv, d).toF64();
        CausalAttention.Result fwd = CausalAttention.forward(q64, k64, v64, (float) scale, window);
        CausalAttention.Grads grads = CausalAttention.backward(fwd, Tensor.of(dO, b, t, h, d).toF64());
        check("o", fwd.o().d, 1e-6);
        check("lse", logSumExp(q, k, b, t, h, hkv, d, (float) scale, window), 1e-6);
        check("dq", grads.dq().d, 1e-5);
        check("dk", grads.dk().d, 1e-5);
        check("dv", grads.dv().d, 1e-5);
        double[] tail = new double[b * (t - prefix) * h * d];
        for (int bi = 0; bi < b; bi++) {
            System.arraycopy(fwd.o().d, (bi * t + prefix) * h * d, tail, bi * (t - prefix) * h * d, (t - prefix) * h * d);
        }
        check("o_tail", tail, 1e-6);
    }

    /** lse [B, H, T] in float64 with the window's rule (docs/MATH.md#causal-softmax-attention). */
    private static double[] logSumExp(float[] q, float[] k, int b, int t, int h, int hkv, int d, float scale, int window) {
        double[] lse = new double[b * h * t];
        int groups = h / hkv;
        for (int bi = 0; bi < b; bi++)
            for (int hi = 0; hi < h; hi++)
                for (int ti = 0; ti < t; ti++) {
                    int lo = window > 0 ? Math.max(0, ti - window + 1) : 0;
                    List<Double> s = new ArrayList<>();
                    for (int j = lo; j <= ti; j++) {
                        double dot = 0;
                        for (int c = 0; c < d; c++) {
                            dot += (double) q[((bi * t + ti) * h + hi) * d + c] * k[((bi * t + j) * hkv + hi / groups) * d + c];
                        }
                        s.add(scale * dot);
                    }
                    double m = s.stream().mapToDouble(x -> x).max().orElseThrow(), sum = 0;
                    for (double x : s) sum += Math.exp(x - m);
                    lse[(bi * h + hi) * t + ti] = m + Math.log(sum);
                }
        return lse;
    }

    private void run(String mode, Object... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(BINARY.toString(), work.toString(), mode));
        for (Object a : args) command.add(String.valueOf(a));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(300, TimeUnit.SECONDS) && p.exitValue() == 0, "mixers_emu " + mode + " failed:\n" + log);
    }

    private void check(String name, double[] expected, double tol) throws IOException {
        float[] got = read(name);
        Tensor e = Tensor.of(expected.clone(), expected.length), g = Tensor.of(got, got.length);
        double err = got.length == expected.length ? Tensor.relErr(g, e) : Double.NaN;
        assertTrue(err <= tol, name + ": rel err " + err + " > " + tol + " (" + got.length + " of " + expected.length + " values)");
    }

    private static float[] random(SplittableRandom rng, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) Tensor.gaussian(rng);
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
