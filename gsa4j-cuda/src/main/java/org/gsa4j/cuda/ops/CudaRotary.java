package org.gsa4j.cuda.ops;

import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.CudaStream;
import org.gsa4j.ops.attention.Rotary;
import org.gsa4j.tensor.Tensor;

/**
 * The rotary position embedding on the GPU (docs/MATH.md#causal-softmax-attention), the device twin of
 * {@link Rotary}: x [B, T, H, D] rotated in place, token t at position offset + t, half-split layout. The angles are
 * the CPU engine's: its float32 inverse frequencies (uploaded once), a float32 θ = p·inv_freq, cos θ and sin θ in
 * float64 rounded to float32; so the GPU and the CPU agree to the rounding of the products. The backward of a
 * rotation is the inverse rotation ({@link #inverse}). Asynchronous on {@code stream}; call on the device's thread.
 */
public final class CudaRotary implements AutoCloseable {
    private final MixerKernels kernels;
    private final int dim;
    private final DeviceTensor invFreq;

    /** The embedding of heads of {@code dim} (even) with frequency base {@code base}. */
    public CudaRotary(CudaDevice device, Precision precision, int dim, double base) {
        this.kernels = MixerKernels.of(device, precision);
        this.dim = dim;
        Rotary cpu = new Rotary(dim, base);
        Tensor table = Tensor.zeros(dim / 2);
        for (int i = 0; i < dim / 2; i++) table.f[i] = (float) cpu.invFreq(i);
        this.invFreq = DeviceTensor.upload(device, table, Precision.F32);
    }

    /** Rotates x [B, T, H, dim] by +θ in place; token t at position {@code offset + t}. */
    public void forward(DeviceTensor x, int offset, CudaStream stream) {
        launch(x, offset, false, stream);
    }

    /** Rotates x [B, T, H, dim] by −θ in place: the backward of {@link #forward} applied to its output's gradient. */
    public void inverse(DeviceTensor x, int offset, CudaStream stream) {
        launch(x, offset, true, stream);
    }

    private void launch(DeviceTensor x, int offset, boolean inverse, CudaStream stream) {
        if (x.shape().length != 4 || x.dim(3) != dim) throw new IllegalArgumentException("rotary of dim " + dim + " takes x [B,T,H," + dim + "], got " + x);
        if (x.precision() != kernels.precision) throw new IllegalArgumentException("x is " + x + "; the kernels take " + kernels.precision);
        if (offset < 0) throw new IllegalArgumentException("negative rotary offset " + offset);
        long rows = (long) x.dim(0) * x.dim(1);
        ModelKernels.launch1d(kernels.rotary, rows * x.dim(2) * (dim / 2), stream, x.buffer(), invFreq.buffer(), rows, x.dim(1),
                x.dim(2), dim, offset, inverse ? 1 : 0);
    }

    @Override
    public void close() {
        invFreq.close();
    }
}
