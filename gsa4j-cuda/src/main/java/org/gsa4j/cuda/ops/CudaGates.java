package org.gsa4j.cuda.ops;

import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.CudaStream;

/**
 * The forget gates of the token mixers on the GPU, element-wise, forward and backward:
 * <ul>
 *   <li>GSA's slot gate (docs/MATH.md, "The slot gate"; the twin of {@code org.gsa4j.ops.gsa.SlotGate}):
 *       {@code g = logsigmoid(f)/τ}, {@code s = 1 − e^{g}} (formed as −expm1(g));</li>
 *   <li>GLA's gate (docs/MATH.md, "GLA layer"; {@code Functions.logSigmoid} then {@code Functions.clampMin}):
 *       {@code g = max(logsigmoid(x)/τ, clampMin)}.</li>
 * </ul>
 * Logits and s, and their gradients, are stored in the call's precision; g and dg are float32 (what
 * {@link CudaGla} and {@link CudaGsa} take). Asynchronous on {@code stream}; call on the device's thread.
 */
public final class CudaGates {
    private final ModelKernels kernels;

    public CudaGates(CudaDevice device, Precision precision) {
        this.kernels = ModelKernels.of(device, precision);
    }

    public Precision precision() {
        return kernels.precision;
    }

    /** g (float32) and s from the forget logits f, all of one size. */
    public void slotGate(DeviceTensor f, double tau, DeviceTensor g, DeviceTensor s, CudaStream stream) {
        check(f, g, s);
        ModelKernels.launch1d(kernels.slotGate, f.size(), stream, f.buffer(), g.buffer(), s.buffer(), f.size(), (float) (1 / tau));
    }

    /** df = (dg − ds ⊙ e^{g}) ⊙ (1 − σ(f)) / τ (written), from dg (float32) and ds. */
    public void slotGateBackward(DeviceTensor f, double tau, DeviceTensor dg, DeviceTensor ds, DeviceTensor df, CudaStream stream) {
        check(f, dg, ds);
        kernels.requireStorage(df, "df");
        ModelKernels.requireSize(df, f.size(), "df");
        ModelKernels.launch1d(kernels.slotGateBackward, f.size(), stream, f.buffer(), dg.buffer(), ds.buffer(), df.buffer(), f.size(),
                (float) (1 / tau));
    }

    /** g (float32) = max(logsigmoid(x)/τ, clampMin); clampMin = −∞ for none. */
    public void logSigmoid(DeviceTensor x, double tau, float clampMin, DeviceTensor g, CudaStream stream) {
        check(x, g, null);
        ModelKernels.launch1d(kernels.logSigmoidGate, x.size(), stream, x.buffer(), g.buffer(), x.size(), (float) (1 / tau), clampMin);
    }

    /** dx = dg ⊙ (1 − σ(x)) / τ where the clamp let the value through, else 0 (written). */
    public void logSigmoidBackward(DeviceTensor x, double tau, float clampMin, DeviceTensor dg, DeviceTensor dx, CudaStream stream) {
        check(x, dg, dx);
        ModelKernels.launch1d(kernels.logSigmoidGateBackward, x.size(), stream, x.buffer(), dg.buffer(), dx.buffer(), x.size(),
                (float) (1 / tau), clampMin);
    }

    /** logits (storage precision), a float32 tensor and an optional storage-precision tensor, of one size. */
    private void check(DeviceTensor logits, DeviceTensor f32, DeviceTensor stored) {
        kernels.requireStorage(logits, "the gate logits");
        ModelKernels.requireF32(f32, "the log-decay (or its gradient)");
        ModelKernels.requireSize(f32, logits.size(), "the log-decay (or its gradient)");
        kernels.requireStorage(stored, "s (or a gradient)");
        ModelKernels.requireSize(stored, logits.size(), "s (or a gradient)");
    }
}
