package org.gsa4j.cuda.ops;

import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.CudaStream;

/**
 * The SwiGLU product of the MLP on the GPU (docs/MATH.md, "SwiGLU MLP"), the device twin of
 * {@code org.gsa4j.autograd.Functions.swiglu}: {@code y = silu(gate) ⊙ up}, element-wise over rows of width I.
 * The gate and up projections are either two tensors [..., I] or the two halves of one [..., 2I] tensor
 * (gate first), as one product with the weights concatenated gives them. Every tensor is stored in the call's
 * precision. Asynchronous on {@code stream}; call on the device's thread.
 */
public final class CudaSwiglu {
    private final ModelKernels kernels;

    public CudaSwiglu(CudaDevice device, Precision precision) {
        this.kernels = ModelKernels.of(device, precision);
    }

    public Precision precision() {
        return kernels.precision;
    }

    /** y = silu(gate) ⊙ up; gate, up, y of one shape [..., I]. */
    public void forward(DeviceTensor gate, DeviceTensor up, DeviceTensor y, CudaStream stream) {
        int width = lastDim(y);
        check(gate, up, y, y.size());
        ModelKernels.launch1d(kernels.swiglu, y.size(), stream, gate.buffer(), up.buffer(), (long) width, y.buffer(), y.size() / width, width);
    }

    /** dgate, dup (written) from dy, for {@link #forward}'s inputs. */
    public void backward(DeviceTensor gate, DeviceTensor up, DeviceTensor dy, DeviceTensor dgate, DeviceTensor dup, CudaStream stream) {
        int width = lastDim(dy);
        check(gate, up, dy, dy.size());
        check(dgate, dup, dy, dy.size());
        ModelKernels.launch1d(kernels.swigluBackward, dy.size(), stream, gate.buffer(), up.buffer(), (long) width, dy.buffer(),
                dgate.buffer(), dup.buffer(), dy.size() / width, width);
    }

    /** y [..., I] = silu(gateUp[..., :I]) ⊙ gateUp[..., I:], gateUp [..., 2I]. */
    public void forwardFused(DeviceTensor gateUp, DeviceTensor y, CudaStream stream) {
        int width = lastDim(y);
        checkFused(gateUp, y);
        long offset = (long) width * kernels.precision.bytes;
        ModelKernels.launch1d(kernels.swiglu, y.size(), stream, gateUp.buffer(), gateUp.buffer().address() + offset, 2L * width,
                y.buffer(), y.size() / width, width);
    }

    /** dGateUp [..., 2I] (written: gate's gradient in the first half of each row, up's in the second) from dy [..., I]. */
    public void backwardFused(DeviceTensor gateUp, DeviceTensor dy, DeviceTensor dGateUp, CudaStream stream) {
        int width = lastDim(dy);
        checkFused(gateUp, dy);
        checkFused(dGateUp, dy);
        long offset = (long) width * kernels.precision.bytes;
        ModelKernels.launch1d(kernels.swigluBackward, dy.size(), stream, gateUp.buffer(), gateUp.buffer().address() + offset,
                2L * width, dy.buffer(), dGateUp.buffer(), dGateUp.buffer().address() + offset, dy.size() / width, width);
    }

    private void check(DeviceTensor a, DeviceTensor b, DeviceTensor y, long size) {
        for (DeviceTensor t : new DeviceTensor[] {a, b, y}) {
            kernels.requireStorage(t, "a SwiGLU tensor");
            ModelKernels.requireSize(t, size, "a SwiGLU tensor");
        }
    }

    private void checkFused(DeviceTensor gateUp, DeviceTensor y) {
        kernels.requireStorage(gateUp, "gateUp");
        kernels.requireStorage(y, "a SwiGLU tensor");
        if (lastDim(gateUp) != 2 * lastDim(y) || gateUp.size() != 2 * y.size()) {
            throw new IllegalArgumentException("gateUp " + gateUp + " must be [..., 2I] for " + y);
        }
    }

    private static int lastDim(DeviceTensor t) {
        return t.dim(t.shape().length - 1);
    }
}
