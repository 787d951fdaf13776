package org.gsa4j.cuda.ops;

import static org.gsa4j.cuda.ops.GpuTestSupport.check;
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
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The model kernels' logic (model.cu) on machines without a GPU: the CUDA C compiled as host C++ against the CPU
 * emulation (src/test/emu/model_emu.cpp drives them as the ops classes launch them), compared with the CPU engine's
 * ops run in float64 ({@link ModelOpsReference}): float32 mode within 1e-5 relative, bfloat16 mode within the
 * tolerance each test states. Sizes are the awkward ones (1, 63, 64, 65 rows, odd widths, a vocabulary that is not
 * a multiple of the block). Skipped, with the reason, where there is no g++.
 */
class EmulatedModelKernelsTest {
    private static final double TOL = 1e-5;
    /** bfloat16 storage (8 significant bits) of inputs and outputs against the float64 answer. */
    private static final double TOL_BF16 = 2e-2;
    private static final Path SOURCE = Path.of("src/test/emu/model_emu.cpp");
    private static final Path BUILD = Path.of("target/emu");

    @TempDir
    Path work;

    @BeforeAll
    static void compile() throws Exception {
        Assumptions.assumeTrue(Files.exists(SOURCE), "run from the gsa4j-cuda module (" + SOURCE + " not found)");
        Files.createDirectories(BUILD);
        for (Precision p : Precision.values()) {
            Process gxx;
            try {
                gxx = new ProcessBuilder("g++", "-std=c++20", "-O2", "-pthread", "-DGSA4J_BF16=" + (p == Precision.BF16 ? 1 : 0),
                        "-o", binary(p).toString(), SOURCE.toString()).redirectErrorStream(true).start();
            } catch (IOException e) {
                Assumptions.abort("no g++ to build the kernel emulation: " + e.getMessage());
                return;
            }
            String log = new String(gxx.getInputStream().readAllBytes());
            if (!gxx.waitFor(300, TimeUnit.SECONDS) || gxx.exitValue() != 0) throw new AssertionError("g++ failed:\n" + log);
        }
    }

    static Path binary(Precision p) {
        return BUILD.resolve("model_emu_" + p.name().toLowerCase());
    }

    private static String suite(Precision p) {
        return p == Precision.F32 ? "emulated-model-f32" : "emulated-model-bf16";
    }

    private static double tol(Precision p) {
        return p == Precision.F32 ? TOL : TOL_BF16;
    }

    // ---- RMSNorm with the residual add ----

    static List<Arguments> rmsNormCases() {
        List<Arguments> cases = new ArrayList<>();
        for (int rows : new int[] {1, 63, 64, 65}) {
            for (int d : new int[] {7, 300}) cases.add(Arguments.of(Precision.F32, rows, d, rows != 64, d != 7 || rows == 1));
        }
        cases.add(Arguments.of(Precision.F32, 200, 33, true, true));   // 7 partial sums of dw
        cases.add(Arguments.of(Precision.BF16, 65, 300, true, true));
        cases.add(Arguments.of(Precision.BF16, 63, 7, false, true));
        return cases;
    }

    @ParameterizedTest(name = "{0} rows={1} D={2} residual={3} weight={4}")
    @MethodSource("rmsNormCases")
    void rmsNormWithResidualMatchesCpu(Precision precision, int rows, int d, boolean residual, boolean weight) throws Exception {
        SplittableRandom rng = new SplittableRandom(31L * rows + d);
        Tensor x = randn(rng, rows, d), res = residual ? randn(rng, rows, d) : null, w = weight ? randn(rng, d) : null;
        Tensor dy = randn(rng, rows, d), dhNext = residual ? randn(rng, rows, d) : null;
        double eps = 1e-6;
        ModelOpsReference.RmsNorm exact = ModelOpsReference.rmsNorm(x, res, w, eps, dy, dhNext);

        Map<String, Tensor> in = inputs("x", x, "res", res, "w", w, "dy", dy, "dhNext", dhNext);
        Map<String, int[]> out = new LinkedHashMap<>(Map.of("y", x.shape, "rstd", new int[] {rows}, "dh", x.shape));
        if (residual) out.put("h", x.shape);
        if (weight) out.put("dw", new int[] {d});
        Map<String, Tensor> got = run(precision, in, out, "rmsnorm", "" + rows, "" + d, "" + eps);
        String label = String.format("RMSNorm rows=%d D=%d residual=%b weight=%b", rows, d, residual, weight);
        check(suite(precision), label, "y", got.get("y"), exact.y(), tol(precision));
        if (residual) check(suite(precision), label, "h", got.get("h"), exact.h(), tol(precision));
        check(suite(precision), label, "dh", got.get("dh"), exact.dh(), tol(precision));
        if (weight) check(suite(precision), label, "dw", got.get("dw"), exact.dw(), tol(precision));
    }

    // ---- SwiGLU ----

    static List<Arguments> swigluCases() {
        List<Arguments> cases = new ArrayList<>();
        for (int rows : new int[] {1, 65}) {
            for (int width : new int[] {7, 257}) cases.add(Arguments.of(Precision.F32, rows, width, width == 7));
        }
        cases.add(Arguments.of(Precision.F32, 64, 96, true));
        cases.add(Arguments.of(Precision.BF16, 65, 257, false));
        cases.add(Arguments.of(Precision.BF16, 63, 96, true));
        return cases;
    }

    @ParameterizedTest(name = "{0} rows={1} I={2} fused={3}")
    @MethodSource("swigluCases")
    void swigluMatchesCpu(Precision precision, int rows, int width, boolean fused) throws Exception {
        SplittableRandom rng = new SplittableRandom(7L * rows + width);
        Tensor a = scaled(randn(rng, rows, width), 3), b = randn(rng, rows, width), dy = randn(rng, rows, width);
        ModelOpsReference.Swiglu exact = ModelOpsReference.swiglu(a, b, dy);
        String label = String.format("SwiGLU rows=%d I=%d fused=%b", rows, width, fused);
        Map<String, Tensor> got;
        Tensor da, db;
        if (fused) {
            got = run(precision, inputs("ab", concatRows(a, b), "dy", dy), Map.of("y", a.shape, "dab", new int[] {rows, 2 * width}),
                    "swiglu", "" + rows, "" + width, "1");
            Tensor[] halves = splitRows(got.get("dab"), width);
            da = halves[0];
            db = halves[1];
        } else {
            got = run(precision, inputs("a", a, "b", b, "dy", dy), Map.of("y", a.shape, "da", a.shape, "db", a.shape),
                    "swiglu", "" + rows, "" + width, "0");
            da = got.get("da");
            db = got.get("db");
        }
        check(suite(precision), label, "y", got.get("y"), exact.y(), tol(precision));
        check(suite(precision), label, "dgate", da, exact.da(), tol(precision));
        check(suite(precision), label, "dup", db, exact.db(), tol(precision));
    }

    // ---- Embedding ----

    static List<Arguments> embeddingCases() {
        return List.of(Arguments.of(Precision.F32, 1, 50, 33), Arguments.of(Precision.F32, 65, 50, 33),
                Arguments.of(Precision.F32, 200, 300, 257), Arguments.of(Precision.BF16, 65, 50, 33));
    }

    @ParameterizedTest(name = "{0} n={1} V={2} D={3}")
    @MethodSource("embeddingCases")
    void embeddingMatchesCpu(Precision precision, int n, int vocab, int d) throws Exception {
        SplittableRandom rng = new SplittableRandom(13L * n + vocab);
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = i % 3 == 0 ? 7 : rng.nextInt(vocab);   // repeats, and most rows untouched
        Tensor table = randn(rng, vocab, d), dx = randn(rng, n, d), dtable0 = randn(rng, vocab, d);
        ModelOpsReference.Embedding exact = ModelOpsReference.embedding(table, ids, dx, dtable0);
        Map<String, Tensor> got = run(precision, inputs("ids", ints(ids), "table", table, "dx", dx, "dtable", dtable0),
                Map.of("x", new int[] {n, d}, "dtable", table.shape), "embedding", "" + vocab, "" + d);
        String label = String.format("embedding n=%d V=%d D=%d", n, vocab, d);
        check(suite(precision), label, "x", got.get("x"), exact.x(), tol(precision));
        check(suite(precision), label, "dtable", got.get("dtable"), exact.dtable(), tol(precision));
    }

    // ---- the gates ----

    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("gateCases")
    void slotGateMatchesCpu(Precision precision, int n) throws Exception {
        SplittableRandom rng = new SplittableRandom(n);
        Tensor f = gateLogits(rng, n), dg = randn(rng, n), ds = randn(rng, n);
        double tau = 8;
        ModelOpsReference.SlotGate exact = ModelOpsReference.slotGate(f, tau, dg, ds);
        Map<String, Tensor> got = run(precision, inputs("f", f, "dg", dg, "ds", ds), Map.of("g", f.shape, "s", f.shape, "df", f.shape),
                "slotgate", "" + tau);
        String label = String.format("slot gate n=%d tau=%.0f", n, tau);
        check(suite(precision), label, "g", got.get("g"), exact.g(), tol(precision));
        check(suite(precision), label, "s", got.get("s"), exact.s(), tol(precision));
        check(suite(precision), label, "df", got.get("df"), exact.df(), tol(precision));
    }

    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("gateCases")
    void glaGateMatchesCpu(Precision precision, int n) throws Exception {
        for (double clampMin : new double[] {Double.NEGATIVE_INFINITY, -0.05}) {
            SplittableRandom rng = new SplittableRandom(n + 1);
            Tensor x = gateLogits(rng, n), dg = randn(rng, n);
            double tau = 16;
            ModelOpsReference.GlaGate exact = ModelOpsReference.glaGate(x, tau, clampMin, dg);
            Map<String, Tensor> got = run(precision, inputs("x", x, "dg", dg), Map.of("g", x.shape, "dx", x.shape),
                    "glagate", "" + tau, "" + (float) clampMin);
            String label = String.format("GLA gate n=%d tau=%.0f clamp_min=%s", n, tau, clampMin);
            check(suite(precision), label, "g", got.get("g"), exact.g(), tol(precision));
            check(suite(precision), label, "dx", got.get("dx"), exact.dx(), tol(precision));
        }
    }

    static List<Arguments> gateCases() {
        return List.of(Arguments.of(Precision.F32, 1), Arguments.of(Precision.F32, 65 * 7), Arguments.of(Precision.BF16, 65 * 7));
    }

    static List<Arguments> hgrn2Cases() {
        return List.of(Arguments.of(Precision.F32, 1, 7, 0), Arguments.of(Precision.F32, 65, 33, 2), Arguments.of(Precision.F32, 200, 7, 3),
                Arguments.of(Precision.BF16, 65, 33, 2));
    }

    @ParameterizedTest(name = "{0} rows={1} D={2} layer={3}")
    @MethodSource("hgrn2Cases")
    void hgrn2GateMatchesCpu(Precision precision, int rows, int d, int layer) throws Exception {
        SplittableRandom rng = new SplittableRandom(rows + 5L * d + layer);
        int layers = 4;
        Tensor f = gateLogits(rng, rows * d), x = randn(rng, layers, d), dg = randn(rng, rows, d), dk = randn(rng, rows, d);
        Tensor dx0 = randn(rng, layers, d);
        ModelOpsReference.Hgrn2 exact = ModelOpsReference.hgrn2(f.reshape(rows, d), x, layer, dg, dk, dx0);
        Map<String, int[]> out = new LinkedHashMap<>(Map.of("g", dg.shape, "k", dg.shape, "df", dg.shape));
        if (layer > 0) out.put("dx", x.shape);
        Map<String, Tensor> got = run(precision, inputs("f", f, "dg", dg, "dk", dk, "x", layer > 0 ? x : null, "dx", layer > 0 ? dx0 : null),
                out, "hgrn2", "" + d, "" + layer);
        String label = String.format("HGRN2 gate rows=%d D=%d layer=%d of %d", rows, d, layer, layers);
        check(suite(precision), label, "g", got.get("g"), exact.g(), tol(precision));
        check(suite(precision), label, "k", got.get("k"), exact.k(), tol(precision));
        check(suite(precision), label, "df", got.get("df"), exact.df(), tol(precision));
        if (layer > 0) check(suite(precision), label, "dlower_bounds", got.get("dx"), exact.dLowerBounds(), tol(precision));
    }

    /** Gate logits over the whole range the gates meet: N(0, 2²), and a tail out to ±30. */
    private static Tensor gateLogits(SplittableRandom rng, int n) {
        Tensor f = randn(rng, n);
        for (int i = 0; i < n; i++) f.f[i] = i % 11 == 5 ? (float) (rng.nextDouble(-30, 30)) : 2 * f.f[i];
        return f;
    }

    // ---- short convolution ----

    static List<Arguments> convCases() {
        List<Arguments> cases = new ArrayList<>();
        cases.add(Arguments.of(Precision.F32, 1, 1, 7, 4, true, false));
        cases.add(Arguments.of(Precision.F32, 2, 63, 7, 4, true, false));
        cases.add(Arguments.of(Precision.F32, 2, 65, 33, 4, false, false));
        cases.add(Arguments.of(Precision.F32, 1, 130, 7, 2, true, false));   // 3 partial sums of dw
        cases.add(Arguments.of(Precision.F32, 2, 2, 7, 4, true, true));      // T < W−1: the next cache keeps old entries
        cases.add(Arguments.of(Precision.F32, 2, 65, 7, 4, true, true));
        cases.add(Arguments.of(Precision.BF16, 2, 65, 33, 4, true, false));
        return cases;
    }

    @ParameterizedTest(name = "{0} B={1} T={2} C={3} W={4} silu={5} cache={6}")
    @MethodSource("convCases")
    void shortConvMatchesCpu(Precision precision, int b, int t, int c, int width, boolean silu, boolean withCache) throws Exception {
        SplittableRandom rng = new SplittableRandom(17L * t + c + width);
        Tensor x = randn(rng, b, t, c), w = randn(rng, c, 1, width), dy = randn(rng, b, t, c);
        Tensor cache = withCache ? randn(rng, b, width - 1, c) : null, dw0 = Tensor.zeros(c, 1, width);
        ModelOpsReference.Conv exact = ModelOpsReference.shortConv(x, w, cache, silu, dy);
        Map<String, int[]> out = new LinkedHashMap<>(Map.of("y", x.shape, "next", new int[] {b, width - 1, c}));
        if (!withCache) {
            out.put("dx", x.shape);
            out.put("dw", w.shape);
        }
        Map<String, Tensor> got = run(precision, inputs("x", x, "w", w, "cache", cache, "dy", dy, "dw", dw0), out,
                "conv", "" + b, "" + t, "" + c, "" + width, silu ? "1" : "0");
        String label = String.format("short conv B=%d T=%d C=%d W=%d silu=%b cache=%b", b, t, c, width, silu, withCache);
        check(suite(precision), label, "y", got.get("y"), exact.y(), tol(precision));
        check(suite(precision), label, "next cache", got.get("next"), exact.next(), tol(precision));
        if (!withCache) {
            check(suite(precision), label, "dx", got.get("dx"), exact.dx(), tol(precision));
            check(suite(precision), label, "dw", got.get("dw"), exact.dw(), tol(precision));
        }
    }

    // ---- cross-entropy ----

    static List<Arguments> crossEntropyCases() {
        List<Arguments> cases = new ArrayList<>();
        cases.add(Arguments.of(Precision.F32, 1, 257, 33, 32));
        cases.add(Arguments.of(Precision.F32, 63, 1000, 40, 32));
        cases.add(Arguments.of(Precision.F32, 64, 257, 33, 64));
        cases.add(Arguments.of(Precision.F32, 65, 1000, 40, 32));   // 3 row blocks, the last of 1 row
        cases.add(Arguments.of(Precision.BF16, 65, 1000, 40, 32));
        return cases;
    }

    @ParameterizedTest(name = "{0} N={1} V={2} D={3} rowsPerBlock={4}")
    @MethodSource("crossEntropyCases")
    void crossEntropyMatchesCpu(Precision precision, int n, int vocab, int d, int rowsPerBlock) throws Exception {
        SplittableRandom rng = new SplittableRandom(3L * n + vocab);
        Tensor h = randn(rng, n, d), w = scaled(randn(rng, vocab, d), 0.5f), dw0 = randn(rng, vocab, d);
        int[] targets = new int[n];
        for (int i = 0; i < n; i++) targets[i] = i % 5 == 3 ? CudaCrossEntropy.IGNORE_INDEX : rng.nextInt(vocab);
        double lossScale = 1.5;
        ModelOpsReference.CrossEntropyResult exact = ModelOpsReference.crossEntropy(h, w, targets, lossScale, dw0);
        Map<String, Tensor> got = run(precision, inputs("h", h, "w", w, "targets", ints(targets), "dw", dw0),
                Map.of("loss", new int[] {1}, "dh", h.shape, "dw", w.shape), "ce", "" + vocab, "" + d, "" + rowsPerBlock, "" + lossScale);
        String label = String.format("cross-entropy N=%d V=%d D=%d rows/block=%d", n, vocab, d, rowsPerBlock);
        check(suite(precision), label, "loss", got.get("loss"), Tensor.of(new double[] {exact.loss()}, 1), tol(precision));
        check(suite(precision), label, "dhidden", got.get("dh"), exact.dh(), tol(precision));
        check(suite(precision), label, "dweight", got.get("dw"), exact.dw(), tol(precision));
    }

    // ---- AdamW and the gradient norm ----

    @ParameterizedTest(name = "decays={0}")
    @org.junit.jupiter.params.provider.ValueSource(booleans = {true, false})
    void adamwWithClippingMatchesCpuTrainer(boolean decays) throws Exception {
        SplittableRandom rng = new SplittableRandom(decays ? 1 : 2);
        int n = 1000;
        Tensor p = randn(rng, n), e = scaled(randn(rng, 70_000), 0.1f);   // e: the rest of the gradients, two partial sums
        Tensor[] grads = {scaled(randn(rng, n), 3), scaled(randn(rng, n), 1e-3f), randn(rng, n)};
        double lr = 3e-3, wd = 0.1, beta1 = 0.9, beta2 = 0.95, eps = 1e-8, invAccum = 0.5, maxNorm = 20;   // step 1 clips, step 2 not
        ModelOpsReference.Optimizer exact = ModelOpsReference.adamw(p, e, grads, lr, wd, decays, beta1, beta2, eps, invAccum, maxNorm);
        Map<String, Tensor> in = inputs("p", p, "e", e, "g1", grads[0], "g2", grads[1], "g3", grads[2]);
        Map<String, Tensor> got = run(Precision.F32, in, Map.of("p", p.shape, "m", p.shape, "v", p.shape, "copy", p.shape,
                "norms", new int[] {grads.length}), "adamw", "" + lr, "" + wd, decays ? "1" : "0", "" + beta1, "" + beta2, "" + eps,
                "" + grads.length, "" + invAccum, "" + maxNorm);
        String label = String.format("AdamW 3 steps n=%d decays=%b", n, decays);
        check(suite(Precision.F32), label, "grad norms", got.get("norms"), Tensor.of(exact.norms(), grads.length), TOL);
        check(suite(Precision.F32), label, "p", got.get("p"), exact.p(), TOL);
        check(suite(Precision.F32), label, "m", got.get("m"), exact.m(), TOL);
        check(suite(Precision.F32), label, "v", got.get("v"), exact.v(), TOL);
        check(suite(Precision.F32), label, "bf16 copy", got.get("copy"), exact.p(), 4e-3);
        org.junit.jupiter.api.Assertions.assertTrue(exact.norms()[0] > maxNorm && exact.norms()[1] < maxNorm,
                "the case must clip in step 1 and not in step 2: norms " + java.util.Arrays.toString(exact.norms()));
    }

    // ---- helpers ----

    /** name, tensor, name, tensor, ...; null tensors are left out (the driver reads them as absent). */
    static Map<String, Tensor> inputs(Object... namesAndTensors) {
        Map<String, Tensor> in = new LinkedHashMap<>();
        for (int i = 0; i < namesAndTensors.length; i += 2) {
            if (namesAndTensors[i + 1] != null) in.put((String) namesAndTensors[i], (Tensor) namesAndTensors[i + 1]);
        }
        return in;
    }

    static Tensor ints(int[] values) {
        Tensor t = Tensor.zeros(values.length);
        for (int i = 0; i < values.length; i++) t.f[i] = values[i];
        return t;
    }

    static Tensor scaled(Tensor t, float c) {
        for (int i = 0; i < t.f.length; i++) t.f[i] *= c;
        return t;
    }

    /** [rows, a | b]: the two tensors side by side in each row. */
    static Tensor concatRows(Tensor a, Tensor b) {
        int rows = a.dim(0), w = a.dim(1);
        Tensor out = Tensor.zeros(rows, 2 * w);
        for (int r = 0; r < rows; r++) {
            System.arraycopy(a.f, r * w, out.f, 2 * r * w, w);
            System.arraycopy(b.f, r * w, out.f, (2 * r + 1) * w, w);
        }
        return out;
    }

    static Tensor[] splitRows(Tensor ab, int w) {
        int rows = ab.dim(0);
        Tensor a = Tensor.zeros(rows, w), b = Tensor.zeros(rows, w);
        for (int r = 0; r < rows; r++) {
            System.arraycopy(ab.f, 2 * r * w, a.f, r * w, w);
            System.arraycopy(ab.f, (2 * r + 1) * w, b.f, r * w, w);
        }
        return new Tensor[] {a, b};
    }

    /** Writes the inputs, runs the emulation binary on {@code op} with {@code args}, reads the named outputs. */
    private Map<String, Tensor> run(Precision precision, Map<String, Tensor> in, Map<String, int[]> outputs, String op, String... args)
            throws Exception {
        Path dir = Files.createTempDirectory(work, precision.name());
        for (Map.Entry<String, Tensor> e : in.entrySet()) write(dir.resolve(e.getKey() + ".f32"), e.getValue());
        List<String> command = new ArrayList<>(List.of(binary(precision).toString(), op, dir.toString()));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(300, TimeUnit.SECONDS) || p.exitValue() != 0) throw new AssertionError("emulation failed: " + command + "\n" + log);
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, int[]> e : outputs.entrySet()) out.put(e.getKey(), read(dir.resolve(e.getKey() + ".f32"), e.getValue()));
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
