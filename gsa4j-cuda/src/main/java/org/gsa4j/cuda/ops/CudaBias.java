package org.gsa4j.cuda.ops;

import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.CudaStream;

/**
 * A bias on the rows of a projection on the GPU ({@code y += b}, the CPU engine's {@code Functions.addBias}) and its
 * gradient {@code db += Σ_rows dy}, summed in row order by one thread per column (the same bits for any launch).
 * y and dy in the call's precision, b and db float32. Asynchronous on {@code stream}; call on the device's thread.
 */
public final class CudaBias {
    private final MixerKernels kernels;

    public CudaBias(CudaDevice device, Precision precision) {
        this.kernels = MixerKernels.of(device, precision);
    }

    /** y [..., W] += bias [W]. */
    public void add(DeviceTensor y, DeviceTensor bias, CudaStream stream) {
        int width = check(y, bias, "bias");
        ModelKernels.launch1d(kernels.addRowBias, y.size(), stream, y.buffer(), bias.buffer(), y.size() / width, width);
    }

    /** db [W] += the column sums of dy [..., W]. */
    public void gradient(DeviceTensor dy, DeviceTensor db, CudaStream stream) {
        int width = check(dy, db, "the bias gradient");
        ModelKernels.launch1d(kernels.biasGradient, width, stream, dy.buffer(), db.buffer(), dy.size() / width, width);
    }

    private int check(DeviceTensor rows, DeviceTensor perColumn, String name) {
        int width = rows.dim(rows.shape().length - 1);
        if (rows.precision() != kernels.precision) {
            throw new IllegalArgumentException("the rows are " + rows + "; the " + kernels.precision + " kernels take them in " + kernels.precision);
        }
        ModelKernels.requireF32(perColumn, name);
        ModelKernels.requireSize(perColumn, width, name);
        return width;
    }
}
