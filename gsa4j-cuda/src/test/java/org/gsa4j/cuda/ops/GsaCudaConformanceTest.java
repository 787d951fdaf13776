package org.gsa4j.cuda.ops;

import static org.gsa4j.cuda.ops.GpuTestSupport.check;
import static org.gsa4j.cuda.ops.GpuTestSupport.f64;
import static org.gsa4j.cuda.ops.GpuTestSupport.onDevice;
import static org.gsa4j.cuda.ops.GpuTestSupport.randn;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.CudaStream;
import org.gsa4j.cuda.ops.GpuTestSupport.Strength;
import org.gsa4j.io.SafeTensors;
import org.gsa4j.ops.gsa.GatedSlotAttention;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The GPU GSA operator against the CPU engine: float32 mode against the float64 recurrence with
 * back-propagation through time (1e-5 relative; dq and dk at strong decay against the CPU chunk
 * form's own figure, docs/MATH.md "Float32-stable sub-blocks"), every reference op case in the
 * reference folder at the CPU's tolerance, bfloat16 mode against float32 mode at the head shapes of
 * the benchmarks (2e-2), and the fused decoding step against the recurrence.
 */
@Tag("gpu")
class GsaCudaConformanceTest {
    private static final double TOL = 1e-5;
    /** What the CPU chunk form is held to for dq, dk at strong decay (its ChunkVsRecurrenceTest). */
    private static final double TOL_STRONG_DQ_DK = 2e-4;
    private static final double TOL_BF16 = 2e-2;

    record Outputs(Tensor o, Tensor hkT, Tensor hvT, Tensor dq, Tensor dk, Tensor dv, Tensor ds, Tensor dg, Tensor dhk0, Tensor dhv0) {}

    static List<Arguments> cases() {
        List<Arguments> cases = new ArrayList<>();
        int[][] dims = {{7, 9, 5}, {32, 48, 16}, {128, 128, 64}};
        for (int t : new int[] {1, 63, 64, 65, 1000}) {
            for (int[] d : dims) {
                for (Strength strength : Strength.values()) cases.add(Arguments.of(t, d, strength, (t + d[2]) % 2 == 1));
            }
        }
        cases.add(Arguments.of(8192, new int[] {64, 64, 64}, Strength.WEAK, true));
        return cases;
    }

    @ParameterizedTest(name = "T={0} dims={1} {2} states={3}")
    @MethodSource("cases")
    void matchesFloat64Recurrence(int T, int[] dims, Strength strength, boolean states) {
        int K = dims[0], V = dims[1], M = dims[2], B = K < 16 ? 2 : 1, H = K < 16 ? 2 : (K >= 128 ? 1 : 2);
        SplittableRandom rng = new SplittableRandom(77L * T + K + strength.ordinal() * 3 + (states ? 1 : 0));
        Tensor q = randn(rng, B, T, H, K), k = randn(rng, B, T, H, K), v = randn(rng, B, T, H, V);
        Tensor g = GpuTestSupport.logDecay(rng, strength, B, T, H, M), s = GpuTestSupport.oneMinusExp(g);
        Tensor hk0 = states ? randn(rng, B, H, K, M) : null, hv0 = states ? randn(rng, B, H, M, V) : null;
        Tensor dO = randn(rng, B, T, H, V);
        Tensor dhkT = states ? randn(rng, B, H, K, M) : null, dhvT = states ? randn(rng, B, H, M, V) : null;
        double scale = 1 / Math.sqrt(K);

        GatedSlotAttention.Result exact = GatedSlotAttention.forward(f64(q), f64(k), f64(v), f64(s), f64(g), scale, f64(hk0), f64(hv0));
        GatedSlotAttention.Grads exactGrads = GatedSlotAttention.backward(exact, f64(dO), f64(dhkT), f64(dhvT));
        Outputs gpu = run(Precision.F32, q, k, v, s, g, (float) scale, hk0, hv0, dO, dhkT, dhvT);
        String label = String.format("T=%d K=%d V=%d M=%d %s states=%b", T, K, V, M, strength, states);
        double tolQK = strength == Strength.STRONG ? TOL_STRONG_DQ_DK : TOL;
        if (strength == Strength.STRONG) {
            GatedSlotAttention.Result cpu = GatedSlotAttention.forward(q, k, v, s, g, scale, hk0, hv0);
            GatedSlotAttention.Grads cpuGrads = GatedSlotAttention.backward(cpu, dO, dhkT, dhvT);
            System.out.printf("  %s: CPU float32 chunk form dq %.3e, dk %.3e (the same comparison)%n", label,
                    Tensor.relErr(cpuGrads.dq(), exactGrads.dq()), Tensor.relErr(cpuGrads.dk(), exactGrads.dk()));
            check("gsa-cpu-f32", label, "dq", cpuGrads.dq(), exactGrads.dq(), TOL_STRONG_DQ_DK);
            check("gsa-cpu-f32", label, "dk", cpuGrads.dk(), exactGrads.dk(), TOL_STRONG_DQ_DK);
        }
        check("gsa-f32", label, "o", gpu.o(), exact.o(), TOL);
        check("gsa-f32", label, "hk final", gpu.hkT(), exact.hkT(), TOL);
        check("gsa-f32", label, "hv final", gpu.hvT(), exact.hvT(), TOL);
        check("gsa-f32", label, "dq", gpu.dq(), exactGrads.dq(), tolQK);
        check("gsa-f32", label, "dk", gpu.dk(), exactGrads.dk(), tolQK);
        check("gsa-f32", label, "dv", gpu.dv(), exactGrads.dv(), TOL);
        check("gsa-f32", label, "ds", gpu.ds(), exactGrads.ds(), TOL);
        check("gsa-f32", label, "dg", gpu.dg(), exactGrads.dg(), TOL);
        check("gsa-f32", label, "dhk0", gpu.dhk0(), exactGrads.dhk0(), tolQK);
        check("gsa-f32", label, "dhv0", gpu.dhv0(), exactGrads.dhv0(), TOL);
    }

    static Stream<String> referenceCases() throws IOException {
        try (Stream<Path> files = Files.list(GpuTestSupport.referenceDir().resolve("ops"))) {
            List<String> names = files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".safetensors"))
                    .map(n -> n.substring(0, n.length() - ".safetensors".length())).sorted().toList();
            System.out.println("reference op cases: " + names.size() + " " + names);
            return names.stream();
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("referenceCases")
    void matchesReferenceCase(String name) throws IOException {
        Path dir = GpuTestSupport.referenceDir().resolve("ops");
        double scale = new ObjectMapper().readTree(dir.resolve(name + ".json").toFile()).get("scale").asDouble();
        try (SafeTensors st = SafeTensors.open(dir.resolve(name + ".safetensors"))) {
            java.util.function.Function<String, Tensor> in = n -> st.contains(n) ? st.f64(n).toF32() : null;
            Outputs gpu = run(Precision.F32, in.apply("q"), in.apply("k"), in.apply("v"), in.apply("s"), in.apply("g"), (float) scale,
                    in.apply("hk0"), in.apply("hv0"), in.apply("do"), in.apply("dhk_final"), in.apply("dhv_final"));
            check("reference-ops", name, "o", gpu.o(), st.f64("o"), TOL);
            check("reference-ops", name, "hk_final", gpu.hkT(), st.f64("hk_final"), TOL);
            check("reference-ops", name, "hv_final", gpu.hvT(), st.f64("hv_final"), TOL);
            check("reference-ops", name, "grad_q", gpu.dq(), st.f64("grad_q"), TOL);
            check("reference-ops", name, "grad_k", gpu.dk(), st.f64("grad_k"), TOL);
            check("reference-ops", name, "grad_v", gpu.dv(), st.f64("grad_v"), TOL);
            check("reference-ops", name, "grad_s", gpu.ds(), st.f64("grad_s"), TOL);
            check("reference-ops", name, "grad_g", gpu.dg(), st.f64("grad_g"), TOL);
            if (st.contains("grad_hk0")) check("reference-ops", name, "grad_hk0", gpu.dhk0(), st.f64("grad_hk0"), TOL);
            if (st.contains("grad_hv0")) check("reference-ops", name, "grad_hv0", gpu.dhv0(), st.f64("grad_hv0"), TOL);
        }
    }

    /** bfloat16 against float32 on the GPU at the benchmark head shapes (K = V = 128 and 512, M = 64). */
    @ParameterizedTest(name = "K=V={0}")
    @MethodSource("benchHeads")
    void bf16MatchesF32(int K) {
        int B = 1, T = 2048, H = 2, M = 64;
        SplittableRandom rng = new SplittableRandom(K);
        Tensor q = randn(rng, B, T, H, K), k = randn(rng, B, T, H, K), v = randn(rng, B, T, H, K);
        Tensor g = GpuTestSupport.logDecay(rng, Strength.WEAK, B, T, H, M), s = GpuTestSupport.oneMinusExp(g);
        Tensor dO = randn(rng, B, T, H, K);
        float scale = (float) (1 / Math.sqrt(K));
        Outputs f32 = run(Precision.F32, q, k, v, s, g, scale, null, null, dO, null, null);
        Outputs bf16 = run(Precision.BF16, q, k, v, s, g, scale, null, null, dO, null, null);
        String label = "T=2048 K=V=" + K + " M=64 weak";
        check("gsa-bf16-vs-f32", label, "o", bf16.o(), f32.o(), TOL_BF16);
        check("gsa-bf16-vs-f32", label, "dq", bf16.dq(), f32.dq(), TOL_BF16);
        check("gsa-bf16-vs-f32", label, "dk", bf16.dk(), f32.dk(), TOL_BF16);
        check("gsa-bf16-vs-f32", label, "dv", bf16.dv(), f32.dv(), TOL_BF16);
        check("gsa-bf16-vs-f32", label, "ds", bf16.ds(), f32.ds(), TOL_BF16);
        check("gsa-bf16-vs-f32", label, "dg", bf16.dg(), f32.dg(), TOL_BF16);
    }

    static Stream<Integer> benchHeads() {
        return Stream.of(128, 512);
    }

    /** The fused one-token step, 16 steps from random states, against the float64 recurrence. */
    @Test
    void stepMatchesRecurrence() {
        int B = 2, T = 16, H = 3, K = 40, V = 72, M = 24;
        SplittableRandom rng = new SplittableRandom(5);
        Tensor q = randn(rng, B, T, H, K), k = randn(rng, B, T, H, K), v = randn(rng, B, T, H, V);
        Tensor g = GpuTestSupport.logDecay(rng, Strength.WEAK, B, T, H, M), s = GpuTestSupport.oneMinusExp(g);
        Tensor hk0 = randn(rng, B, H, K, M), hv0 = randn(rng, B, H, M, V);
        double scale = 0.3;
        GatedSlotAttention.Result exact = GatedSlotAttention.forward(f64(q), f64(k), f64(v), f64(s), f64(g), scale, f64(hk0), f64(hv0));
        Tensor[] out = onDevice(() -> {
            CudaDevice dev = GpuTestSupport.device();
            CudaStream stream = dev.stream();
            CudaGsa gsa = new CudaGsa(dev, Precision.F32);
            Tensor o = Tensor.zeros(B, T, H, V);
            try (DeviceTensor hk = DeviceTensor.upload(dev, hk0, Precision.F32); DeviceTensor hv = DeviceTensor.upload(dev, hv0, Precision.F32)) {
                for (int t = 0; t < T; t++) {
                    try (DeviceTensor qt = DeviceTensor.upload(dev, slice(q, t), Precision.F32);
                         DeviceTensor kt = DeviceTensor.upload(dev, slice(k, t), Precision.F32);
                         DeviceTensor vt = DeviceTensor.upload(dev, slice(v, t), Precision.F32);
                         DeviceTensor st = DeviceTensor.upload(dev, slice(s, t), Precision.F32);
                         DeviceTensor gt = DeviceTensor.upload(dev, slice(g, t), Precision.F32);
                         DeviceTensor ot = DeviceTensor.allocate(dev, Precision.F32, B, H, V)) {
                        gsa.step(qt, kt, vt, st, gt, (float) scale, hk, hv, ot, stream);
                        stream.synchronize();
                        Tensor oh = ot.download();
                        for (int b = 0; b < B; b++) System.arraycopy(oh.f, b * H * V, o.f, (b * T + t) * H * V, H * V);
                    }
                }
                return new Tensor[] {o, hk.download(), hv.download()};
            }
        });
        check("gsa-step-f32", "B=2 H=3 K=40 V=72 M=24, 16 steps", "o", out[0], exact.o(), TOL);
        check("gsa-step-f32", "B=2 H=3 K=40 V=72 M=24, 16 steps", "hk", out[1], exact.hkT(), TOL);
        check("gsa-step-f32", "B=2 H=3 K=40 V=72 M=24, 16 steps", "hv", out[2], exact.hvT(), TOL);
    }

    /** Row t of a [B,T,H,D] tensor as [B,H,D]. */
    static Tensor slice(Tensor x, int t) {
        int B = x.dim(0), T = x.dim(1), H = x.dim(2), D = x.dim(3);
        Tensor out = Tensor.zeros(B, H, D);
        for (int b = 0; b < B; b++) System.arraycopy(x.f, ((b * T) + t) * H * D, out.f, b * H * D, H * D);
        return out;
    }

    static Outputs run(Precision precision, Tensor q, Tensor k, Tensor v, Tensor s, Tensor g, float scale,
                       Tensor hk0, Tensor hv0, Tensor dO, Tensor dhkT, Tensor dhvT) {
        return onDevice(() -> {
            CudaDevice dev = GpuTestSupport.device();
            CudaStream stream = dev.stream();
            CudaGsa gsa = new CudaGsa(dev, precision);
            int B = q.dim(0), T = q.dim(1), H = q.dim(2), K = q.dim(3), V = v.dim(3), M = s.dim(3);
            try (DeviceTensor dq_ = DeviceTensor.upload(dev, q, precision);
                 DeviceTensor dk_ = DeviceTensor.upload(dev, k, precision);
                 DeviceTensor dv_ = DeviceTensor.upload(dev, v, precision);
                 DeviceTensor ds_ = DeviceTensor.upload(dev, s, precision);
                 DeviceTensor dg_ = DeviceTensor.upload(dev, g, Precision.F32);
                 DeviceTensor dhk0 = hk0 == null ? null : DeviceTensor.upload(dev, hk0, Precision.F32);
                 DeviceTensor dhv0 = hv0 == null ? null : DeviceTensor.upload(dev, hv0, Precision.F32);
                 DeviceTensor ddO = DeviceTensor.upload(dev, dO, precision);
                 DeviceTensor ddhkT = dhkT == null ? null : DeviceTensor.upload(dev, dhkT, Precision.F32);
                 DeviceTensor ddhvT = dhvT == null ? null : DeviceTensor.upload(dev, dhvT, Precision.F32);
                 DeviceTensor o = DeviceTensor.allocate(dev, precision, B, T, H, V);
                 DeviceTensor hkT = DeviceTensor.allocate(dev, Precision.F32, B, H, K, M);
                 DeviceTensor hvT = DeviceTensor.allocate(dev, Precision.F32, B, H, M, V);
                 DeviceTensor gq = DeviceTensor.allocate(dev, precision, B, T, H, K);
                 DeviceTensor gk = DeviceTensor.allocate(dev, precision, B, T, H, K);
                 DeviceTensor gv = DeviceTensor.allocate(dev, precision, B, T, H, V);
                 DeviceTensor gs = DeviceTensor.allocate(dev, precision, B, T, H, M);
                 DeviceTensor gg = DeviceTensor.allocate(dev, Precision.F32, B, T, H, M);
                 DeviceTensor ghk0 = DeviceTensor.allocate(dev, Precision.F32, B, H, K, M);
                 DeviceTensor ghv0 = DeviceTensor.allocate(dev, Precision.F32, B, H, M, V);
                 CudaGsa.Saved saved = gsa.forward(dq_, dk_, dv_, ds_, dg_, scale, dhk0, dhv0, o, hkT, hvT, stream)) {
                gsa.backward(dq_, dk_, dv_, ds_, dg_, scale, saved, ddO, ddhkT, ddhvT, gq, gk, gv, gs, gg, ghk0, ghv0, stream);
                stream.synchronize();
                return new Outputs(o.download(), hkT.download(), hvT.download(), gq.download(), gk.download(), gv.download(),
                        gs.download(), gg.download(), ghk0.download(), ghv0.download());
            }
        });
    }
}
