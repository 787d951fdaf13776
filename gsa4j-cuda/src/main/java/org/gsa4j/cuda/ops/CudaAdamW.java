package org.gsa4j.cuda.ops;

import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.CudaStream;
import org.gsa4j.cuda.DeviceBuffer;

/**
 * AdamW on the GPU, one fused pass per parameter (docs/MATH.md, "AdamW and clipping"), the device twin of
 * {@code org.gsa4j.train.AdamW}: the same update, in double, in the same order of operations, with float32 master
 * weights and float32 moments, and the bf16 copy of the weights (what the products read in bf16 mode) written in
 * the same pass. The gradient's scale may come from the device ({@link CudaGradNorm#result()}: the clipping factor),
 * so a training step needs no copy to the host. Asynchronous on {@code stream}; call on the device's thread.
 */
public final class CudaAdamW {
    private final ModelKernels kernels;
    private final double beta1, beta2, eps, weightDecay;

    public CudaAdamW(CudaDevice device, double beta1, double beta2, double eps, double weightDecay) {
        this.kernels = ModelKernels.of(device, Precision.F32);
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
    }

    /**
     * Update number {@code step} (1 for the first) of one parameter: p (float32 master weights), m and v (float32
     * moments, zero before the first update) in place, from grad (float32) multiplied by {@code gradScale} and, where
     * {@code clip} is not null, by the factor {@link CudaGradNorm} left there. {@code copy} (bf16, or null) receives
     * the new weights rounded to bfloat16. {@code decays}: whether weight decay applies to this parameter.
     */
    public void update(DeviceTensor p, DeviceTensor grad, DeviceTensor m, DeviceTensor v, DeviceTensor copy, boolean decays,
                       double lr, long step, double gradScale, DeviceBuffer clip, CudaStream stream) {
        if (step < 1) throw new IllegalArgumentException("step " + step + ": updates count from 1");
        for (DeviceTensor t : new DeviceTensor[] {p, grad, m, v}) {
            ModelKernels.requireF32(t, "an AdamW tensor");
            ModelKernels.requireSize(t, p.size(), "an AdamW tensor");
        }
        if (copy != null && (copy.precision() != Precision.BF16 || copy.size() != p.size())) {
            throw new IllegalArgumentException("the weights' copy " + copy + " must be bf16 of " + p.size() + " elements");
        }
        double decay = decays ? 1 - lr * weightDecay : 1;
        double bc1 = 1 - Math.pow(beta1, step), bc2 = 1 - Math.pow(beta2, step);
        ModelKernels.launch1d(kernels.adamw, p.size(), stream, p.buffer(), grad.buffer(), m.buffer(), v.buffer(),
                copy == null ? (Object) 0L : copy.buffer(), p.size(), lr, decay, beta1, beta2, eps, bc1, bc2, gradScale,
                clip == null ? (Object) 0L : clip);
    }
}
