package org.gsa4j.cuda.ops;

import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.CudaStream;
import org.gsa4j.ops.attention.Rotary;

/**
 * The rotary position embedding on the GPU (docs/MATH.md#causal-softmax-attention), the device twin of
 * {@link Rotary}: x [B, T, H, D] rotated in place, token t at position offset + t, half-split layout. The angles are
 * the CPU engine's: its float32 inverse frequencies ({@link #inverseFrequencies}, uploaded by the caller where its
 * activations live), a float32 θ = p·inv_freq, cos θ and sin θ in float64 rounded to float32; so the GPU and the
 * CPU agree to the rounding of the products. The backward of a rotation is the inverse rotation
 * ({@link #inverse}). Asynchronous on {@code stream}; call on the device's thread.
 */
public final class CudaRotary {
    private final MixerKernels kernels;

    public CudaRotary(CudaDevice device, Precision precision) {
        this.kernels = MixerKernels.of(device, precision);
    }

    /** The CPU engine's float32 inverse frequencies of heads of {@code dim} (even) with base {@code base}: [dim/2]. */
    public static float[] inverseFrequencies(int dim, double base) {
        Rotary cpu = new Rotary(dim, base);
        float[] table = new float[dim / 2];
        for (int i = 0; i < table.length; i++) table[i] = (float) cpu.invFreq(i);
        return table;
    }

    /** Rotates x [B, T, H, D] by +θ in place; token t at position {@code offset + t}; invFreq float32 [D/2]. */
    public void forward(DeviceTensor x, DeviceTensor invFreq, int offset, CudaStream stream) {
        launch(x, invFreq, offset, false, stream);
    }

    /** Rotates x by −θ in place: the backward of {@link #forward} applied to its output's gradient. */
    public void inverse(DeviceTensor x, DeviceTensor invFreq, int offset, CudaStream stream) {
        launch(x, invFreq, offset, true, stream);
    }

    private void launch(DeviceTensor x, DeviceTensor invFreq, int offset, boolean inverse, CudaStream stream) {
        int dim = x.shape().length == 4 ? x.dim(3) : -1;
        if (dim < 2 || dim % 2 != 0) throw new IllegalArgumentException("rotary takes x [B,T,H,D] with D even, got " + x);
        if (x.precision() != kernels.precision) throw new IllegalArgumentException("x is " + x + "; the kernels take " + kernels.precision);
        ModelKernels.requireF32(invFreq, "the inverse frequencies");
        ModelKernels.requireSize(invFreq, dim / 2, "the inverse frequencies");
        if (offset < 0) throw new IllegalArgumentException("negative rotary offset " + offset);
        long rows = (long) x.dim(0) * x.dim(1);
        ModelKernels.launch1d(kernels.rotary, rows * x.dim(2) * (dim / 2), stream, x.buffer(), invFreq.buffer(), rows, x.dim(1),
                x.dim(2), dim, offset, inverse ? 1 : 0);
    }
}
