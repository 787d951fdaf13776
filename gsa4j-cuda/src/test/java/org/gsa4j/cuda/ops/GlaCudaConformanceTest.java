package org.gsa4j.cuda.ops;

import static org.gsa4j.cuda.ops.GpuTestSupport.check;
import static org.gsa4j.cuda.ops.GpuTestSupport.onDevice;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.CudaStream;
import org.gsa4j.cuda.ops.GpuTestSupport.PrimitiveCase;
import org.gsa4j.cuda.ops.GpuTestSupport.Strength;
import org.gsa4j.ops.gla.GatedLinearAttention.Decay;
import org.gsa4j.tensor.Tensor;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The GPU primitive against the CPU engine's float64 recurrence with back-propagation through time, on
 * the same float32 inputs: every output and gradient within 1e-5 relative in float32 mode; bfloat16
 * mode within 2e-2 of float32 mode. T ∈ {1, 63, 64, 65, 1000, 8192}; odd head dims (7, 9), dims that
 * span several 64-wide tiles with padding (96 × 80) and one full tile (64 × 64); weak decay and strong
 * decay (≈ −3 per step: b ≈ −190 at row 64, beyond float32's exponent range without the sub-blocks).
 */
@Tag("gpu")
class GlaCudaConformanceTest {
    private static final double TOL = 1e-5;
    private static final double TOL_BF16 = 2e-2;

    static List<Arguments> cases() {
        List<Arguments> cases = new ArrayList<>();
        int[][] dims = {{7, 9}, {96, 80}};
        for (Decay decay : Decay.values()) {
            for (int t : new int[] {1, 63, 64, 65, 1000}) {
                for (int[] d : dims) {
                    for (Strength strength : Strength.values()) {
                        if (decay == Decay.SCALAR && strength == Strength.STRONG) continue;   // RetNet's γ is fixed
                        cases.add(Arguments.of(decay, t, d[0], d[1], strength, (t + d[0]) % 2 == 1));
                    }
                }
            }
            cases.add(Arguments.of(decay, 8192, 64, 64, decay == Decay.SCALAR ? Strength.WEAK : Strength.STRONG, true));
        }
        return cases;
    }

    @ParameterizedTest(name = "{0} T={1} Dk={2} Dv={3} {4} states={5}")
    @MethodSource("cases")
    void matchesFloat64Recurrence(Decay decay, int T, int Dk, int Dv, Strength strength, boolean states) {
        int B = Dk < 16 ? 2 : 1, H = Dk < 16 ? 3 : 2;
        PrimitiveCase c = PrimitiveCase.random(new SplittableRandom(1000L * T + 31L * Dk + decay.ordinal() * 7 + strength.ordinal()),
                decay, B, T, H, Dk, Dv, strength, states);
        Tensor[] f32 = run(Precision.F32, c);
        String label = String.format("%s T=%d Dk=%d Dv=%d %s states=%b", decay, T, Dk, Dv, strength, states);
        check("primitive-f32", label, "o", f32[0], c.exact().o(), TOL);
        check("primitive-f32", label, "final S", f32[1], c.exact().sT(), TOL);
        check("primitive-f32", label, "dq", f32[2], c.exactDq(), TOL);
        check("primitive-f32", label, "dk", f32[3], c.grads().dk(), TOL);
        check("primitive-f32", label, "dv", f32[4], c.grads().dv(), TOL);
        if (decay != Decay.SCALAR) check("primitive-f32", label, "dg", f32[5], c.grads().dg(), TOL);
        check("primitive-f32", label, "dS0", f32[6], c.grads().ds0(), TOL);

        if (T >= 64 && Dk >= 64) {
            Tensor[] bf16 = run(Precision.BF16, c);
            String[] names = {"o", "final S", "dq", "dk", "dv", "dg", "dS0"};
            for (int i = 0; i < names.length; i++) {
                if (f32[i] != null) check("primitive-bf16-vs-f32", label, names[i], bf16[i], f32[i], TOL_BF16);
            }
        }
    }

    /** o, final S, dq, dk, dv, dg (or null), dS0 from the GPU in {@code precision}. */
    static Tensor[] run(Precision precision, PrimitiveCase c) {
        Decay decay = c.decay();
        Tensor q = c.q(), k = c.k(), v = c.v(), g = c.g(), logGamma = c.logGammaTensor(), s0 = c.s0(), dO = c.dO(), dST = c.dST();
        float scale = (float) c.scale();
        return onDevice(() -> {
            CudaDevice dev = GpuTestSupport.device();
            CudaStream stream = dev.stream();
            CudaGla gla = new CudaGla(dev, precision);
            int B = q.dim(0), T = q.dim(1), H = q.dim(2), Dk = q.dim(3), Dv = v.dim(3);
            try (DeviceTensor dq_ = DeviceTensor.upload(dev, q, precision);
                 DeviceTensor dk_ = DeviceTensor.upload(dev, k, precision);
                 DeviceTensor dv_ = DeviceTensor.upload(dev, v, precision);
                 DeviceTensor dg_ = g == null ? null : DeviceTensor.upload(dev, g, Precision.F32);
                 DeviceTensor lg = decay == Decay.SCALAR ? DeviceTensor.upload(dev, logGamma, Precision.F32) : null;
                 DeviceTensor ds0 = s0 == null ? null : DeviceTensor.upload(dev, s0, Precision.F32);
                 DeviceTensor ddO = DeviceTensor.upload(dev, dO, precision);
                 DeviceTensor ddST = dST == null ? null : DeviceTensor.upload(dev, dST, Precision.F32);
                 DeviceTensor o = DeviceTensor.allocate(dev, precision, B, T, H, Dv);
                 DeviceTensor oStrict = DeviceTensor.allocate(dev, Precision.F32, B, T, H, Dv);
                 DeviceTensor sT = DeviceTensor.allocate(dev, Precision.F32, B, H, Dk, Dv);
                 DeviceTensor gq = DeviceTensor.allocate(dev, precision, B, T, H, Dk);
                 DeviceTensor gk = DeviceTensor.allocate(dev, precision, B, T, H, Dk);
                 DeviceTensor gv = DeviceTensor.allocate(dev, precision, B, T, H, Dv);
                 DeviceTensor gg = g == null ? null : DeviceTensor.allocate(dev, Precision.F32, g.shape);
                 DeviceTensor gs0 = DeviceTensor.allocate(dev, Precision.F32, B, H, Dk, Dv)) {
                gla.forward(decay, dq_, dk_, dv_, dg_, lg, ds0, scale, o, oStrict, sT, stream);
                gla.backward(decay, dq_, dk_, dv_, dg_, lg, ds0, scale, oStrict, ddO, ddST, gq, gk, gv, gg, gs0, stream);
                stream.synchronize();
                return new Tensor[] {o.download(), sT.download(), gq.download(), gk.download(), gv.download(),
                        gg == null ? null : gg.download(), gs0.download()};
            }
        });
    }
}
