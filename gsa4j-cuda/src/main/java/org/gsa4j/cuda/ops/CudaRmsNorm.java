package org.gsa4j.cuda.ops;

import static org.gsa4j.cuda.ops.ModelKernels.ptr;

import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.CudaStream;

/**
 * RMSNorm fused with the residual add on the GPU (docs/MATH.md, "RMSNorm" and "The block skeleton"), the device
 * twin of {@code org.gsa4j.ops.RmsNorm} with the block's {@code x ← x + f(x)} folded in:
 * <pre>
 *   h = x + residual          (the new residual stream; h = x when residual is null)
 *   y = h · rstd ⊙ w,         rstd = 1/√(mean(h²) + eps) per row
 * </pre>
 * Rows of width D = the last dimension. x, residual, h, y, w (a [D] weight, or null for none) and the gradients of
 * activations are stored in the call's precision; rstd [rows] and dw [D] are float32. Asynchronous on
 * {@code stream}; call on the device's thread.
 */
public final class CudaRmsNorm {
    private final CudaDevice device;
    private final ModelKernels kernels;

    public CudaRmsNorm(CudaDevice device, Precision precision) {
        this.device = device;
        this.kernels = ModelKernels.of(device, precision);
    }

    public Precision precision() {
        return kernels.precision;
    }

    /**
     * y = RMSNorm(x + residual) ⊙ w, the sum written to h (which may be x's or residual's buffer: an in-place
     * update of the residual stream) and rstd [rows] kept for {@link #backward}. With residual null, h is not
     * written (pass null) and the norm is of x.
     */
    public void forward(DeviceTensor x, DeviceTensor residual, DeviceTensor w, float eps, DeviceTensor y, DeviceTensor h,
                        DeviceTensor rstd, CudaStream stream) {
        int d = x.dim(x.shape().length - 1);
        long rows = x.size() / d;
        for (DeviceTensor t : new DeviceTensor[] {x, residual, y, h}) {
            kernels.requireStorage(t, "an RMSNorm activation");
            ModelKernels.requireSize(t, x.size(), "an RMSNorm activation");
        }
        kernels.requireStorage(w, "the RMSNorm weight");
        ModelKernels.requireSize(w, d, "the RMSNorm weight");
        ModelKernels.requireF32(rstd, "rstd");
        ModelKernels.requireSize(rstd, rows, "rstd");
        if ((residual == null) != (h == null)) throw new IllegalArgumentException("h is written exactly when there is a residual");
        ModelKernels.launchRows(kernels.rmsNorm, rows, 32 * 4, stream,
                x.buffer(), ptr(residual), ptr(w), y.buffer(), ptr(h), rstd.buffer(), d, eps);
    }

    /**
     * The gradients of {@code Σ y·dy + Σ h·dhNext}: dh (written; the gradient of both x and the residual) and, where
     * dw is not null, dw += Σ_rows dy ⊙ h·rstd (float32, accumulated: zero it before the first use in a step).
     * h is the forward's h (its x when there was no residual); dhNext may be null (0) and may be dh's buffer.
     */
    public void backward(DeviceTensor h, DeviceTensor w, DeviceTensor rstd, DeviceTensor dy, DeviceTensor dhNext,
                         DeviceTensor dh, DeviceTensor dw, CudaStream stream) {
        int d = h.dim(h.shape().length - 1);
        long rows = h.size() / d;
        for (DeviceTensor t : new DeviceTensor[] {h, dy, dhNext, dh}) {
            kernels.requireStorage(t, "an RMSNorm activation or gradient");
            ModelKernels.requireSize(t, h.size(), "an RMSNorm activation or gradient");
        }
        kernels.requireStorage(w, "the RMSNorm weight");
        ModelKernels.requireSize(w, d, "the RMSNorm weight");
        ModelKernels.requireF32(rstd, "rstd");
        ModelKernels.requireF32(dw, "dw");
        ModelKernels.requireSize(dw, d, "dw");
        ModelKernels.launchRows(kernels.rmsNormBackward, rows, 32 * 4, stream,
                h.buffer(), ptr(w), rstd.buffer(), dy.buffer(), ptr(dhNext), dh.buffer(), d);
        if (dw == null) return;
        int perSegment = rowsPerSegment(rows);
        int segments = ModelKernels.blocks(rows, perSegment);
        try (DeviceTensor partial = DeviceTensor.allocate(device, Precision.F32, segments, d)) {
            kernels.rmsNormDwPartial.launch(new int[] {ModelKernels.blocks(d, ModelKernels.THREADS), segments, 1},
                    new int[] {ModelKernels.THREADS, 1, 1}, 0, stream, h.buffer(), rstd.buffer(), dy.buffer(), partial.buffer(),
                    rows, d, perSegment);
            kernels.addColumnSums.launch(new int[] {ModelKernels.blocks(d, ModelKernels.THREADS), 1, 1},
                    new int[] {ModelKernels.THREADS, 1, 1}, 0, stream, partial.buffer(), segments, d, dw.buffer());
        }
    }

    /** Rows per partial sum of dw: a function of the row count only (so the sums' order is fixed), ≤ 65535 segments. */
    static int rowsPerSegment(long rows) {
        return (int) Math.max(32, (rows + 255) / 256);
    }
}
