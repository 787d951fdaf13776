package org.gsa4j.tensor;

/** Matrix products in PyTorch's Linear layout (placeholder over Gemm until the fast kernels land). */
public final class MatMul {
    private MatMul() {}

    /** x [..., K] · wᵀ with w [M, K] → [..., M]. */
    public static Tensor linear(Tensor x, Tensor w) {
        int k = w.dim(1), m = w.dim(0);
        int n = x.size() / k;
        int[] shape = x.shape.clone();
        shape[shape.length - 1] = m;
        Tensor y = Tensor.zerosLike(x, shape);
        if (x.isF64()) Gemm.dgemm(false, true, n, m, k, 1, x.d, 0, k, w.toF64().d, 0, k, 0, y.d, 0, m);
        else Gemm.sgemmParallel(false, true, n, m, k, 1f, x.f, 0, k, w.toF32().f, 0, k, 0f, y.f, 0, m);
        return y;
    }

    /** dx += dy · w, dw += dyᵀ · x (either may be null). */
    public static void linearBackward(Tensor x, Tensor w, Tensor dy, Tensor dx, Tensor dw) {
        int k = w.dim(1), m = w.dim(0);
        int n = x.size() / k;
        if (x.isF64()) {
            if (dx != null) Gemm.dgemm(false, false, n, k, m, 1, dy.d, 0, m, w.d, 0, k, 1, dx.d, 0, k);
            if (dw != null) Gemm.dgemm(true, false, m, k, n, 1, dy.d, 0, m, x.d, 0, k, 1, dw.d, 0, k);
        } else {
            if (dx != null) Gemm.sgemmParallel(false, false, n, k, m, 1f, dy.f, 0, m, w.f, 0, k, 1f, dx.f, 0, k);
            if (dw != null) Gemm.sgemmParallel(true, false, m, k, n, 1f, dy.f, 0, m, x.f, 0, k, 1f, dw.f, 0, k);
        }
    }
}
