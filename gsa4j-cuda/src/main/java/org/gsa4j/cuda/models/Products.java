package org.gsa4j.cuda.models;

import org.gsa4j.cuda.CublasLt;
import org.gsa4j.cuda.CudaStream;
import org.gsa4j.cuda.ops.DeviceTensor;
import org.gsa4j.cuda.ops.Precision;

/**
 * The three matrix products of a linear layer {@code y = x Wᵀ} (x [N, in], W [out, in], y [N, out]: the
 * CPU engine's and PyTorch's weight layout) through cuBLASLt, and of its backward: {@code dW += dyᵀ x} and
 * {@code dx (+)= dy W}. float32 mode multiplies in float32 throughout (no TF32). bf16 mode multiplies bfloat16
 * operands on the tensor cores with float32 accumulation; x, y, dy, dx and W (the weights' bf16 copy) are
 * bfloat16, and the weight gradient dW stays float32: cuBLASLt adds the float32 product to it unrounded.
 */
final class Products {
    private final CublasLt blas;
    private final CublasLt.Precision io, intoFloat32;

    /** Products of tensors stored in {@code storage}. */
    Products(CublasLt blas, Precision storage) {
        this.blas = blas;
        boolean f32 = storage == Precision.F32;
        this.io = f32 ? CublasLt.Precision.FLOAT32 : CublasLt.Precision.BF16;
        this.intoFloat32 = f32 ? CublasLt.Precision.FLOAT32 : CublasLt.Precision.BF16_FLOAT32_OUT;
    }

    /** The cuBLASLt precision of products whose output is float32 (the logits, the weight gradients). */
    CublasLt.Precision intoFloat32() {
        return intoFloat32;
    }

    /** y = x Wᵀ over {@code rows} rows, or y += x Wᵀ when {@code accumulate}; y in the storage precision. */
    void forward(DeviceTensor x, DeviceTensor w, DeviceTensor y, int rows, boolean accumulate, CudaStream stream) {
        int out = w.dim(0), in = w.dim(1);
        blas.gemm(io, false, true, rows, out, in, 1f, x.buffer(), in, w.buffer(), in, accumulate ? 1f : 0f, y.buffer(), out, stream);
    }

    /** y = x Wᵀ into a float32 y (the logits). */
    void forwardIntoFloat32(DeviceTensor x, DeviceTensor w, DeviceTensor y, int rows, CudaStream stream) {
        int out = w.dim(0), in = w.dim(1);
        blas.gemm(intoFloat32, false, true, rows, out, in, 1f, x.buffer(), in, w.buffer(), in, 0f, y.buffer(), out, stream);
    }

    /** dW += dyᵀ x: dy [rows, out], x [rows, in], dW float32. */
    void weightGradient(DeviceTensor dy, DeviceTensor x, DeviceTensor dw, int rows, CudaStream stream) {
        int out = dw.dim(0), in = dw.dim(1);
        blas.gemm(intoFloat32, true, false, out, in, rows, 1f, dy.buffer(), out, x.buffer(), in, 1f, dw.buffer(), in, stream);
    }

    /** dx = dy W, or dx += dy W when {@code accumulate}: dy [rows, out], W [out, in], dx [rows, in]. */
    void inputGradient(DeviceTensor dy, DeviceTensor w, DeviceTensor dx, int rows, boolean accumulate, CudaStream stream) {
        int out = w.dim(0), in = w.dim(1);
        blas.gemm(io, false, false, rows, in, out, 1f, dy.buffer(), out, w.buffer(), in, accumulate ? 1f : 0f, dx.buffer(), in, stream);
    }
}
