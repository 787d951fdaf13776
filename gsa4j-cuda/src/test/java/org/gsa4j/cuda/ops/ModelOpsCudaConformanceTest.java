package org.gsa4j.cuda.ops;

import static org.gsa4j.cuda.ops.GpuTestSupport.check;
import static org.gsa4j.cuda.ops.GpuTestSupport.onDevice;
import static org.gsa4j.cuda.ops.GpuTestSupport.randn;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.CudaStream;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The GPU model kernels (RMSNorm with the residual add, SwiGLU, the embedding, the gates) against the CPU engine's
 * ops in float64 ({@link ModelOpsReference}): float32 mode within 1e-5 relative, bfloat16 mode within 2e-2, at
 * awkward sizes and at the 340M and 1.3B shapes' widths; the deterministic reductions (the embedding's and the norm
 * weight's gradients) bit-identical over two runs. Every comparison is logged for docs/GPU.md.
 */
@Tag("gpu")
class ModelOpsCudaConformanceTest {
    private static final double TOL = 1e-5;
    private static final double TOL_BF16 = 2e-2;

    private static String suite(Precision p) {
        return p == Precision.F32 ? "model-ops-f32" : "model-ops-bf16";
    }

    private static double tol(Precision p) {
        return p == Precision.F32 ? TOL : TOL_BF16;
    }

    static List<Arguments> rowCases() {
        List<Arguments> cases = new ArrayList<>();
        for (Precision p : Precision.values()) {
            for (int rows : new int[] {1, 63, 64, 65, 4096}) {
                for (int d : new int[] {7, 300, 1024, 2048}) {
                    if (rows == 4096 && d < 1024) continue;
                    cases.add(Arguments.of(p, rows, d));
                }
            }
        }
        return cases;
    }

    @ParameterizedTest(name = "{0} rows={1} D={2}")
    @MethodSource("rowCases")
    void rmsNormWithResidual(Precision precision, int rows, int d) {
        SplittableRandom rng = new SplittableRandom(31L * rows + d);
        Tensor x = randn(rng, rows, d), res = randn(rng, rows, d), w = randn(rng, d), dy = randn(rng, rows, d), dhNext = randn(rng, rows, d);
        ModelOpsReference.RmsNorm exact = ModelOpsReference.rmsNorm(x, res, w, 1e-6, dy, dhNext);
        Tensor[] got = onDevice(() -> {
            CudaDevice dev = GpuTestSupport.device();
            CudaStream stream = dev.stream();
            CudaRmsNorm norm = new CudaRmsNorm(dev, precision);
            try (DeviceTensor xd = DeviceTensor.upload(dev, x, precision); DeviceTensor rd = DeviceTensor.upload(dev, res, precision);
                 DeviceTensor wd = DeviceTensor.upload(dev, w, precision); DeviceTensor dyd = DeviceTensor.upload(dev, dy, precision);
                 DeviceTensor dnd = DeviceTensor.upload(dev, dhNext, precision);
                 DeviceTensor y = DeviceTensor.allocate(dev, precision, rows, d); DeviceTensor h = DeviceTensor.allocate(dev, precision, rows, d);
                 DeviceTensor rstd = DeviceTensor.allocate(dev, Precision.F32, rows);
                 DeviceTensor dh = DeviceTensor.allocate(dev, precision, rows, d);
                 DeviceTensor dw = DeviceTensor.zeros(dev, Precision.F32, d); DeviceTensor dw2 = DeviceTensor.zeros(dev, Precision.F32, d)) {
                norm.forward(xd, rd, wd, 1e-6f, y, h, rstd, stream);
                norm.backward(h, wd, rstd, dyd, dnd, dh, dw, stream);
                norm.backward(h, wd, rstd, dyd, dnd, dh, dw2, stream);
                stream.synchronize();
                return new Tensor[] {y.download(), h.download(), dh.download(), dw.download(), dw2.download()};
            }
        });
        String label = String.format("RMSNorm+residual rows=%d D=%d", rows, d);
        check(suite(precision), label, "y", got[0], exact.y(), tol(precision));
        check(suite(precision), label, "h", got[1], exact.h(), tol(precision));
        check(suite(precision), label, "dh", got[2], exact.dh(), tol(precision));
        check(suite(precision), label, "dw", got[3], exact.dw(), tol(precision));
        assertArrayEquals(got[3].f, got[4].f, label + ": dw differs between two runs");
    }

    @ParameterizedTest(name = "{0} rows={1} I={2}")
    @MethodSource("rowCases")
    void swiglu(Precision precision, int rows, int width) {
        SplittableRandom rng = new SplittableRandom(7L * rows + width);
        Tensor a = EmulatedModelKernelsTest.scaled(randn(rng, rows, width), 3), b = randn(rng, rows, width), dy = randn(rng, rows, width);
        ModelOpsReference.Swiglu exact = ModelOpsReference.swiglu(a, b, dy);
        Tensor[] got = onDevice(() -> {
            CudaDevice dev = GpuTestSupport.device();
            CudaStream stream = dev.stream();
            CudaSwiglu op = new CudaSwiglu(dev, precision);
            try (DeviceTensor ad = DeviceTensor.upload(dev, a, precision); DeviceTensor bd = DeviceTensor.upload(dev, b, precision);
                 DeviceTensor abd = DeviceTensor.upload(dev, EmulatedModelKernelsTest.concatRows(a, b), precision);
                 DeviceTensor dyd = DeviceTensor.upload(dev, dy, precision);
                 DeviceTensor y = DeviceTensor.allocate(dev, precision, rows, width), yf = DeviceTensor.allocate(dev, precision, rows, width);
                 DeviceTensor da = DeviceTensor.allocate(dev, precision, rows, width), db = DeviceTensor.allocate(dev, precision, rows, width);
                 DeviceTensor dab = DeviceTensor.allocate(dev, precision, rows, 2 * width)) {
                op.forward(ad, bd, y, stream);
                op.backward(ad, bd, dyd, da, db, stream);
                op.forwardFused(abd, yf, stream);
                op.backwardFused(abd, dyd, dab, stream);
                stream.synchronize();
                Tensor[] halves = EmulatedModelKernelsTest.splitRows(dab.download(), width);
                return new Tensor[] {y.download(), da.download(), db.download(), yf.download(), halves[0], halves[1]};
            }
        });
        String label = String.format("SwiGLU rows=%d I=%d", rows, width);
        check(suite(precision), label, "y", got[0], exact.y(), tol(precision));
        check(suite(precision), label, "dgate", got[1], exact.da(), tol(precision));
        check(suite(precision), label, "dup", got[2], exact.db(), tol(precision));
        check(suite(precision), label + " fused", "y", got[3], exact.y(), tol(precision));
        check(suite(precision), label + " fused", "dgate", got[4], exact.da(), tol(precision));
        check(suite(precision), label + " fused", "dup", got[5], exact.db(), tol(precision));
    }

    static List<Arguments> embeddingCases() {
        List<Arguments> cases = new ArrayList<>();
        for (Precision p : Precision.values()) {
            cases.add(Arguments.of(p, 1, 50, 33));
            cases.add(Arguments.of(p, 65, 50, 33));
            cases.add(Arguments.of(p, 16384, 32000, 1024));
        }
        return cases;
    }

    @ParameterizedTest(name = "{0} n={1} V={2} D={3}")
    @MethodSource("embeddingCases")
    void embedding(Precision precision, int n, int vocab, int d) {
        SplittableRandom rng = new SplittableRandom(13L * n + vocab);
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = i % 3 == 0 ? 7 : rng.nextInt(vocab);
        Tensor table = randn(rng, vocab, d), dx = randn(rng, n, d), dtable0 = randn(rng, vocab, d);
        ModelOpsReference.Embedding exact = ModelOpsReference.embedding(table, ids, dx, dtable0);
        Tensor[] got = onDevice(() -> {
            CudaDevice dev = GpuTestSupport.device();
            CudaStream stream = dev.stream();
            CudaEmbedding op = new CudaEmbedding(dev, precision);
            try (CudaEmbedding.Tokens tokens = op.upload(ids, vocab); DeviceTensor td = DeviceTensor.upload(dev, table, precision);
                 DeviceTensor dxd = DeviceTensor.upload(dev, dx, precision); DeviceTensor x = DeviceTensor.allocate(dev, precision, n, d);
                 DeviceTensor dt = DeviceTensor.upload(dev, dtable0, Precision.F32);
                 DeviceTensor dt2 = DeviceTensor.upload(dev, dtable0, Precision.F32)) {
                op.forward(tokens, td, x, stream);
                op.backward(tokens, dxd, dt, stream);
                op.backward(tokens, dxd, dt2, stream);
                stream.synchronize();
                return new Tensor[] {x.download(), dt.download(), dt2.download()};
            }
        });
        String label = String.format("embedding n=%d V=%d D=%d", n, vocab, d);
        check(suite(precision), label, "x", got[0], exact.x(), tol(precision));
        check(suite(precision), label, "dtable", got[1], exact.dtable(), tol(precision));
        assertArrayEquals(got[1].f, got[2].f, label + ": dtable differs between two runs");
    }

    @Test
    void embeddingRefusesAnIdOutsideTheVocabulary() {
        IllegalArgumentException e = onDevice(() -> org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> new CudaEmbedding(GpuTestSupport.device(), Precision.F32).upload(new int[] {1, 50}, 50)));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("token id 50 at position 1"), e.getMessage());
    }

    static List<Arguments> gateCases() {
        List<Arguments> cases = new ArrayList<>();
        for (Precision p : Precision.values()) {
            for (int n : new int[] {1, 65 * 7, 16384 * 64}) cases.add(Arguments.of(p, n));
        }
        return cases;
    }

    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("gateCases")
    void gates(Precision precision, int n) {
        SplittableRandom rng = new SplittableRandom(n);
        Tensor f = randn(rng, n), dg = randn(rng, n), ds = randn(rng, n);
        for (int i = 0; i < n; i++) f.f[i] = i % 11 == 5 ? (float) rng.nextDouble(-30, 30) : 2 * f.f[i];
        ModelOpsReference.SlotGate slot = ModelOpsReference.slotGate(f, 8, dg, ds);
        ModelOpsReference.GlaGate gla = ModelOpsReference.glaGate(f, 16, -0.05, dg);
        Tensor[] got = onDevice(() -> {
            CudaDevice dev = GpuTestSupport.device();
            CudaStream stream = dev.stream();
            CudaGates op = new CudaGates(dev, precision);
            try (DeviceTensor fd = DeviceTensor.upload(dev, f, precision); DeviceTensor dgd = DeviceTensor.upload(dev, dg, Precision.F32);
                 DeviceTensor dsd = DeviceTensor.upload(dev, ds, precision);
                 DeviceTensor g = DeviceTensor.allocate(dev, Precision.F32, n); DeviceTensor s = DeviceTensor.allocate(dev, precision, n);
                 DeviceTensor df = DeviceTensor.allocate(dev, precision, n); DeviceTensor gg = DeviceTensor.allocate(dev, Precision.F32, n);
                 DeviceTensor dx = DeviceTensor.allocate(dev, precision, n)) {
                op.slotGate(fd, 8, g, s, stream);
                op.slotGateBackward(fd, 8, dgd, dsd, df, stream);
                op.logSigmoid(fd, 16, -0.05f, gg, stream);
                op.logSigmoidBackward(fd, 16, -0.05f, dgd, dx, stream);
                stream.synchronize();
                return new Tensor[] {g.download(), s.download(), df.download(), gg.download(), dx.download()};
            }
        });
        String label = String.format("gates n=%d", n);
        check(suite(precision), label, "slot g", got[0], slot.g(), tol(precision));
        check(suite(precision), label, "slot s", got[1], slot.s(), tol(precision));
        check(suite(precision), label, "slot df", got[2], slot.df(), tol(precision));
        check(suite(precision), label, "gla g", got[3], gla.g(), tol(precision));
        check(suite(precision), label, "gla dx", got[4], gla.dx(), tol(precision));
    }
}
