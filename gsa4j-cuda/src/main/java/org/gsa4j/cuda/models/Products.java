package org.gsa4j.cuda.models;

import org.gsa4j.cuda.CublasLt;
import org.gsa4j.cuda.CudaStream;
import org.gsa4j.cuda.ops.DeviceTensor;

/**
 * The three matrix products of a linear layer {@code y = x Wᵀ} (x [N, in], W [out, in], y [N, out]: the
 * CPU engine's and PyTorch's weight layout) through cuBLASLt, and of its backward: {@code dW += dyᵀ x} and
 * {@code dx (+)= dy W}. float32 mode multiplies in float32 throughout (no TF32).
 */
final class Products {
    private final CublasLt blas;
    private final CublasLt.Precision precision;

    Products(CublasLt blas, CublasLt.Precision precision) {
        this.blas = blas;
        this.precision = precision;
    }

    /** y = x Wᵀ over {@code rows} rows, or y += x Wᵀ when {@code accumulate}. */
    void forward(DeviceTensor x, DeviceTensor w, DeviceTensor y, int rows, boolean accumulate, CudaStream stream) {
        int out = w.dim(0), in = w.dim(1);
        blas.gemm(precision, false, true, rows, out, in, 1f, x.buffer(), in, w.buffer(), in, accumulate ? 1f : 0f, y.buffer(), out, stream);
    }

    /** dW += dyᵀ x: dy [rows, out], x [rows, in]. */
    void weightGradient(DeviceTensor dy, DeviceTensor x, DeviceTensor dw, int rows, CudaStream stream) {
        int out = dw.dim(0), in = dw.dim(1);
        blas.gemm(precision, true, false, out, in, rows, 1f, dy.buffer(), out, x.buffer(), in, 1f, dw.buffer(), in, stream);
    }

    /** dx = dy W, or dx += dy W when {@code accumulate}: dy [rows, out], W [out, in], dx [rows, in]. */
    void inputGradient(DeviceTensor dy, DeviceTensor w, DeviceTensor dx, int rows, boolean accumulate, CudaStream stream) {
        int out = w.dim(0), in = w.dim(1);
        blas.gemm(precision, false, false, rows, in, out, 1f, dy.buffer(), out, w.buffer(), in, accumulate ? 1f : 0f, dx.buffer(), in, stream);
    }
}
