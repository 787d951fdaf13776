package org.gsa4j.cuda.ops;

import static org.gsa4j.cuda.ops.GpuTestSupport.check;
import static org.gsa4j.cuda.ops.GpuTestSupport.f64;
import static org.gsa4j.cuda.ops.GpuTestSupport.randn;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.gsa4j.cuda.ops.GpuTestSupport.PrimitiveCase;
import org.gsa4j.cuda.ops.GpuTestSupport.Strength;
import org.gsa4j.ops.gla.GatedLinearAttention;
import org.gsa4j.ops.gla.GatedLinearAttention.Decay;
import org.gsa4j.ops.gsa.GatedSlotAttention;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The GPU kernels' logic on machines without a GPU: the CUDA C sources compiled as host C++ against a CPU emulation
 * of the few CUDA features they use (src/test/emu), launched in the order CudaGla and CudaGsa launch them, compared
 * with the CPU engine's float64 recurrence as the GPU conformance tests compare the real thing (float32 mode 1e-5;
 * bfloat16 mode, whose products go through the emulated tensor-core instruction, within 2e-2 of float32 mode). Skipped,
 * with the reason, where there is no g++.
 */
class EmulatedKernelsTest {
    private static final double TOL = 1e-5;
    private static final double TOL_STRONG_DQ_DK = 2e-4;
    private static final double TOL_BF16 = 2e-2;
    private static final Path SOURCE = Path.of("src/test/emu/kernels_emu.cpp");
    private static final Path BUILD = Path.of("target/emu");

    @TempDir
    Path work;

    @BeforeAll
    static void compile() throws Exception {
        Assumptions.assumeTrue(Files.exists(SOURCE), "run from the gsa4j-cuda module (" + SOURCE + " not found)");
        Files.createDirectories(BUILD);
        for (Precision p : Precision.values()) {
            Path binary = binary(p);
            Process gxx;
            try {
                gxx = new ProcessBuilder("g++", "-std=c++20", "-O2", "-pthread", "-DGSA4J_BF16=" + (p == Precision.BF16 ? 1 : 0),
                        "-o", binary.toString(), SOURCE.toString()).redirectErrorStream(true).start();
            } catch (IOException e) {
                Assumptions.abort("no g++ to build the kernel emulation: " + e.getMessage());
                return;
            }
            String log = new String(gxx.getInputStream().readAllBytes());
            if (!gxx.waitFor(300, TimeUnit.SECONDS) || gxx.exitValue() != 0) throw new AssertionError("g++ failed:\n" + log);
        }
    }

    static Path binary(Precision p) {
        return BUILD.resolve("kernels_emu_" + p.name().toLowerCase());
    }

    static List<Arguments> glaCases() {
        List<Arguments> cases = new ArrayList<>();
        int[][] dims = {{7, 9}, {80, 72}};
        for (Decay decay : Decay.values()) {
            for (int t : new int[] {1, 64, 65, 130}) {
                for (int[] d : dims) {
                    for (Strength strength : Strength.values()) {
                        if (decay == Decay.SCALAR && strength == Strength.STRONG) continue;
                        cases.add(Arguments.of(decay, t, d[0], d[1], strength, t % 2 == 1));
                    }
                }
            }
        }
        return cases;
    }

    @ParameterizedTest(name = "{0} T={1} Dk={2} Dv={3} {4} states={5}")
    @MethodSource("glaCases")
    void primitiveMatchesFloat64Recurrence(Decay decay, int T, int Dk, int Dv, Strength strength, boolean states) throws Exception {
        int B = 1, H = 2;
        PrimitiveCase c = PrimitiveCase.random(new SplittableRandom(17L * T + Dk + 5L * decay.ordinal() + strength.ordinal()),
                decay, B, T, H, Dk, Dv, strength, states);
        Tensor q = c.q(), k = c.k(), v = c.v(), g = c.g();
        GatedLinearAttention.Result exact = c.exact();
        GatedLinearAttention.Grads grads = c.grads();
        double scale = c.scale();

        Map<String, Tensor> in = new LinkedHashMap<>();
        in.put("q", q); in.put("k", k); in.put("v", v); in.put("dO", c.dO());
        if (g != null) in.put("g", g);
        if (decay == Decay.SCALAR) in.put("log_gamma", c.logGammaTensor());
        if (states) { in.put("s0", c.s0()); in.put("dST", c.dST()); }
        String label = String.format("emulated %s T=%d Dk=%d Dv=%d %s states=%b", decay, T, Dk, Dv, strength, states);
        String[] args = {"gla", "DIR", decay.name(), "" + B, "" + T, "" + H, "" + Dk, "" + Dv, "" + (float) scale};
        Map<String, Tensor> f32 = run(Precision.F32, in, args, Map.of("o", exact.o().shape, "sT", exact.sT().shape,
                "dq", q.shape, "dk", k.shape, "dv", v.shape, "ds0", exact.sT().shape), decay != Decay.SCALAR ? g.shape : null);
        check("emulated-f32", label, "o", f32.get("o"), exact.o(), TOL);
        check("emulated-f32", label, "final S", f32.get("sT"), exact.sT(), TOL);
        check("emulated-f32", label, "dq", f32.get("dq"), c.exactDq(), TOL);
        check("emulated-f32", label, "dk", f32.get("dk"), grads.dk(), TOL);
        check("emulated-f32", label, "dv", f32.get("dv"), grads.dv(), TOL);
        if (decay != Decay.SCALAR) check("emulated-f32", label, "dg", f32.get("dg"), grads.dg(), TOL);
        check("emulated-f32", label, "dS0", f32.get("ds0"), grads.ds0(), TOL);
        if (T == 130 && Dk == 80) {
            Map<String, Tensor> bf16 = run(Precision.BF16, in, args, Map.of("o", exact.o().shape, "dq", q.shape, "dk", k.shape,
                    "dv", v.shape), decay != Decay.SCALAR ? g.shape : null);
            for (String name : new String[] {"o", "dq", "dk", "dv", "dg"}) {
                if (bf16.containsKey(name)) check("emulated-bf16-vs-f32", label, name, bf16.get(name), f32.get(name), TOL_BF16);
            }
        }
    }

    static List<Arguments> gsaCases() {
        List<Arguments> cases = new ArrayList<>();
        for (int t : new int[] {1, 65, 130}) {
            for (int[] d : new int[][] {{7, 9, 5}, {32, 48, 16}}) {
                for (Strength strength : Strength.values()) cases.add(Arguments.of(t, d, strength, t != 65));
            }
        }
        return cases;
    }

    @ParameterizedTest(name = "T={0} dims={1} {2} states={3}")
    @MethodSource("gsaCases")
    void gsaMatchesFloat64Recurrence(int T, int[] dims, Strength strength, boolean states) throws Exception {
        int K = dims[0], V = dims[1], M = dims[2], B = 1, H = 2;
        SplittableRandom rng = new SplittableRandom(31L * T + K + strength.ordinal());
        Tensor q = randn(rng, B, T, H, K), k = randn(rng, B, T, H, K), v = randn(rng, B, T, H, V), dO = randn(rng, B, T, H, V);
        Tensor g = GpuTestSupport.logDecay(rng, strength, B, T, H, M), s = GpuTestSupport.oneMinusExp(g);
        Tensor hk0 = states ? randn(rng, B, H, K, M) : null, hv0 = states ? randn(rng, B, H, M, V) : null;
        Tensor dhkT = states ? randn(rng, B, H, K, M) : null, dhvT = states ? randn(rng, B, H, M, V) : null;
        double scale = 1 / Math.sqrt(K);
        GatedSlotAttention.Result exact = GatedSlotAttention.forward(f64(q), f64(k), f64(v), f64(s), f64(g), scale, f64(hk0), f64(hv0));
        GatedSlotAttention.Grads grads = GatedSlotAttention.backward(exact, f64(dO), f64(dhkT), f64(dhvT));

        Map<String, Tensor> in = new LinkedHashMap<>();
        in.put("q", q); in.put("k", k); in.put("v", v); in.put("s", s); in.put("g", g); in.put("dO", dO);
        if (states) { in.put("hk0", hk0); in.put("hv0", hv0); in.put("dhkT", dhkT); in.put("dhvT", dhvT); }
        String[] args = {"gsa", "DIR", "" + B, "" + T, "" + H, "" + K, "" + V, "" + M, "" + (float) scale};
        Map<String, Tensor> out = run(Precision.F32, in, args, Map.of("o", exact.o().shape, "hkT", exact.hkT().shape,
                "hvT", exact.hvT().shape, "dq", q.shape, "dk", k.shape, "dv", v.shape, "ds", s.shape, "dg", g.shape,
                "dhk0", exact.hkT().shape, "dhv0", exact.hvT().shape), null);
        String label = String.format("emulated GSA T=%d K=%d V=%d M=%d %s states=%b", T, K, V, M, strength, states);
        double tolQK = strength == Strength.STRONG ? TOL_STRONG_DQ_DK : TOL;
        check("emulated-gsa-f32", label, "o", out.get("o"), exact.o(), TOL);
        check("emulated-gsa-f32", label, "hk final", out.get("hkT"), exact.hkT(), TOL);
        check("emulated-gsa-f32", label, "hv final", out.get("hvT"), exact.hvT(), TOL);
        check("emulated-gsa-f32", label, "dq", out.get("dq"), grads.dq(), tolQK);
        check("emulated-gsa-f32", label, "dk", out.get("dk"), grads.dk(), tolQK);
        check("emulated-gsa-f32", label, "dv", out.get("dv"), grads.dv(), TOL);
        check("emulated-gsa-f32", label, "ds", out.get("ds"), grads.ds(), TOL);
        check("emulated-gsa-f32", label, "dg", out.get("dg"), grads.dg(), TOL);
        check("emulated-gsa-f32", label, "dhk0", out.get("dhk0"), grads.dhk0(), tolQK);
        check("emulated-gsa-f32", label, "dhv0", out.get("dhv0"), grads.dhv0(), TOL);
    }

    /** Writes the inputs, runs the emulation binary, reads the named outputs (dg with {@code dgShape} when given). */
    private Map<String, Tensor> run(Precision precision, Map<String, Tensor> in, String[] args, Map<String, int[]> outputs,
                                    int[] dgShape) throws Exception {
        Path dir = Files.createTempDirectory(work, precision.name());
        for (Map.Entry<String, Tensor> e : in.entrySet()) write(dir.resolve(e.getKey() + ".f32"), e.getValue());
        List<String> command = new ArrayList<>(List.of(args));
        command.set(1, dir.toString());
        command.addFirst(binary(precision).toString());
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(300, TimeUnit.SECONDS) || p.exitValue() != 0) throw new AssertionError("emulation failed: " + command + "\n" + log);
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, int[]> e : outputs.entrySet()) out.put(e.getKey(), read(dir.resolve(e.getKey() + ".f32"), e.getValue()));
        if (dgShape != null) out.put("dg", read(dir.resolve("dg.f32"), dgShape));
        return out;
    }

    private static void write(Path file, Tensor t) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(4 * t.f.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(t.f);
        Files.write(file, b.array());
    }

    private static Tensor read(Path file, int[] shape) throws IOException {
        Tensor t = Tensor.zeros(shape);
        ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(t.f);
        return t;
    }
}
