package org.gsa4j.cuda.ops;

import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.CudaStream;

/**
 * The forget gates of the token mixers on the GPU, element-wise, forward and backward:
 * <ul>
 *   <li>GSA's slot gate (docs/MATH.md, "The slot gate"; the twin of {@code org.gsa4j.ops.gsa.SlotGate}):
 *       {@code g = logsigmoid(f)/τ}, {@code s = 1 − e^{g}} (formed as −expm1(g));</li>
 *   <li>GLA's gate (docs/MATH.md, "GLA layer"; {@code Functions.logSigmoid} then {@code Functions.clampMin}):
 *       {@code g = max(logsigmoid(x)/τ, clampMin)};</li>
 *   <li>HGRN2's gate (docs/MATH.md, "HGRN2 layer"; the twin of {@code org.gsa4j.ops.Hgrn2Gate}):
 *       {@code a = lb + (1 − lb) σ(f)}, {@code g = log a}, the key {@code k = 1 − a}, and the layer's bound
 *       {@code lb} from the model's {@code lower_bounds} (float32 [L, D]: a softmax over the layer axis).</li>
 * </ul>
 * Logits and s, and their gradients, are stored in the call's precision; g and dg are float32 (what
 * {@link CudaGla} and {@link CudaGsa} take). Asynchronous on {@code stream}; call on the device's thread.
 */
public final class CudaGates {
    private final CudaDevice device;
    private final ModelKernels kernels;

    public CudaGates(CudaDevice device, Precision precision) {
        this.device = device;
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

    /** HGRN2: g (float32) and k from the forget logits f [..., D] and the layer's bound lb (float32 [D]; null in layer 0). */
    public void hgrn2Gate(DeviceTensor f, DeviceTensor lb, DeviceTensor g, DeviceTensor k, CudaStream stream) {
        int d = hgrn2Check(f, lb, g, k);
        ModelKernels.launch1d(kernels.hgrn2Gate, f.size(), stream, f.buffer(), ModelKernels.ptr(lb), g.buffer(), k.buffer(), f.size(), d);
    }

    /** Its backward from dg (float32) and dk: df (written) and, with a bound, dlb += (float32 [D], a fixed-order sum over rows). */
    public void hgrn2GateBackward(DeviceTensor f, DeviceTensor lb, DeviceTensor dg, DeviceTensor dk, DeviceTensor df, DeviceTensor dlb,
                                  CudaStream stream) {
        int d = hgrn2Check(f, lb, dg, dk);
        kernels.requireStorage(df, "df");
        ModelKernels.requireSize(df, f.size(), "df");
        ModelKernels.launch1d(kernels.hgrn2GateBackward, f.size(), stream, f.buffer(), ModelKernels.ptr(lb), dg.buffer(), dk.buffer(),
                df.buffer(), f.size(), d);
        if (lb == null) return;
        ModelKernels.requireF32(dlb, "dlb");
        ModelKernels.requireSize(dlb, d, "dlb");
        long rows = f.size() / d;
        int perSegment = CudaRmsNorm.rowsPerSegment(rows), segments = ModelKernels.blocks(rows, perSegment);
        try (DeviceTensor partial = DeviceTensor.allocate(device, Precision.F32, segments, d)) {
            kernels.hgrn2DlbPartial.launch(new int[] {ModelKernels.blocks(d, ModelKernels.THREADS), segments, 1},
                    new int[] {ModelKernels.THREADS, 1, 1}, 0, stream, f.buffer(), lb.buffer(), dg.buffer(), dk.buffer(), partial.buffer(),
                    rows, d, perSegment);
            kernels.addColumnSums.launch(new int[] {ModelKernels.blocks(d, ModelKernels.THREADS), 1, 1},
                    new int[] {ModelKernels.THREADS, 1, 1}, 0, stream, partial.buffer(), segments, d, dlb.buffer());
        }
    }

    /** HGRN2: layer {@code layer}'s bound lb [D] (float32) from the model's lower_bounds [L, D] (float32); layer ≥ 1. */
    public void hgrn2LowerBound(DeviceTensor lowerBounds, int layer, DeviceTensor lb, CudaStream stream) {
        int layers = hgrn2LayerCheck(lowerBounds, layer, lb), d = lowerBounds.dim(1);
        ModelKernels.launch1d(kernels.hgrn2LowerBound, d, stream, lowerBounds.buffer(), lb.buffer(), layers, d, layer);
    }

    /** Its backward: dLowerBounds [L, D] += the gradient for dlb (float32, one thread per channel: fixed order). */
    public void hgrn2LowerBoundBackward(DeviceTensor lowerBounds, int layer, DeviceTensor dlb, DeviceTensor dLowerBounds, CudaStream stream) {
        int layers = hgrn2LayerCheck(lowerBounds, layer, dlb), d = lowerBounds.dim(1);
        ModelKernels.requireF32(dLowerBounds, "dLowerBounds");
        ModelKernels.requireSize(dLowerBounds, lowerBounds.size(), "dLowerBounds");
        ModelKernels.launch1d(kernels.hgrn2LowerBoundBackward, d, stream, lowerBounds.buffer(), dlb.buffer(), dLowerBounds.buffer(),
                layers, d, layer);
    }

    private int hgrn2Check(DeviceTensor f, DeviceTensor lb, DeviceTensor f32, DeviceTensor stored) {
        int d = f.dim(f.shape().length - 1);
        check(f, f32, stored);
        ModelKernels.requireF32(lb, "the lower bound");
        ModelKernels.requireSize(lb, d, "the lower bound");
        return d;
    }

    private static int hgrn2LayerCheck(DeviceTensor lowerBounds, int layer, DeviceTensor perChannel) {
        ModelKernels.requireF32(lowerBounds, "lower_bounds");
        ModelKernels.requireF32(perChannel, "the lower bound (or its gradient)");
        ModelKernels.requireSize(perChannel, lowerBounds.dim(1), "the lower bound (or its gradient)");
        int layers = lowerBounds.dim(0);
        if (layer < 1 || layer >= layers) throw new IllegalArgumentException("layer " + layer + ": a bound exists for layers 1 to " + (layers - 1));
        return layers;
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
