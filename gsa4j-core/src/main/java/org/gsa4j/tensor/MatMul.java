package org.gsa4j.tensor;

import java.util.Arrays;

/**
 * Tensor-level matrix products in the PyTorch {@code nn.Linear} layout. x is [..., K] (leading
 * dimensions flattened to N rows, row-major), w is [M, K]. Float32 tensors run the multi-threaded
 * {@link Gemm#sgemmParallel} (deterministic); float64 tensors run the plain {@link Gemm#dgemm} loop.
 * When precisions are mixed, the computation runs in the precision of x (w is converted).
 */
public final class MatMul {
    private MatMul() {}

    /** y = x·Wᵀ: x [..., K], w [M, K] → y [..., M]. */
    public static Tensor linear(Tensor x, Tensor w) {
        if (w.rank() != 2) throw new IllegalArgumentException("weight must be [M, K], got " + w);
        int k = x.dim(-1);
        int m = w.dim(0);
        if (w.dim(1) != k) throw new IllegalArgumentException("linear: x " + x + " vs w " + w);
        int n = rowsOf(x);
        int[] outShape = Arrays.copyOf(x.shape, x.rank());
        outShape[outShape.length - 1] = m;
        Tensor y = Tensor.zerosLike(x, outShape);
        if (!x.isF64() && n <= MatVec.MAX_ROWS) { // decoding: bandwidth-bound, float32 or bfloat16 weights
            MatVec.multiply(x.f, 0, n, w, y.f, 0);
            return y;
        }
        Tensor wc = w.toPrecisionOf(x); // BF16 weights (inference) are widened for many-row inputs (prefill)
        if (x.isF64()) {
            Gemm.dgemm(false, true, n, m, k, 1.0, x.d, 0, k, wc.d, 0, k, 0.0, y.d, 0, m);
        } else {
            Gemm.sgemmParallel(false, true, n, m, k, 1f, x.f, 0, k, wc.f, 0, k, 0f, y.f, 0, m);
        }
        return y;
    }

    /**
     * Backward of {@link #linear} given dy [..., M]: {@code dx += dy·W} ([..., K]) and
     * {@code dw += dyᵀ·x} ([M, K]); either output may be null to skip it. Outputs accumulate.
     */
    public static void linearBackward(Tensor x, Tensor w, Tensor dy, Tensor dx, Tensor dw) {
        int k = x.dim(-1);
        int m = w.dim(0);
        if (w.rank() != 2 || w.dim(1) != k) throw new IllegalArgumentException("linearBackward: x " + x + " vs w " + w);
        if (dy.dim(-1) != m) throw new IllegalArgumentException("linearBackward: dy " + dy + " vs w " + w);
        int n = rowsOf(x);
        if (dy.size() != n * m) throw new IllegalArgumentException("linearBackward: dy " + dy + " vs x " + x);
        if (dx != null && dx.size() != x.size()) throw new IllegalArgumentException("linearBackward: dx " + dx + " vs x " + x);
        if (dw != null && dw.size() != w.size()) throw new IllegalArgumentException("linearBackward: dw " + dw + " vs w " + w);
        if (dx != null && dw != null && !dx.isF64() && !dw.isF64()) { // both products in one parallel job
            float[] g = dy.toF32().f;
            Gemm.sgemmParallel(new Gemm.Product(false, false, n, k, m, 1f, g, 0, m, w.toF32().f, 0, k, 1f, dx.f, 0, k),
                    new Gemm.Product(true, false, m, k, n, 1f, g, 0, m, x.toF32().f, 0, k, 1f, dw.f, 0, k));
            return;
        }
        if (dx != null) {
            if (dx.isF64()) {
                Gemm.dgemm(false, false, n, k, m, 1.0, dy.toF64().d, 0, m, w.toF64().d, 0, k, 1.0, dx.d, 0, k);
            } else {
                Gemm.sgemmParallel(false, false, n, k, m, 1f, dy.toF32().f, 0, m, w.toF32().f, 0, k, 1f, dx.f, 0, k);
            }
        }
        if (dw != null) {
            if (dw.isF64()) {
                Gemm.dgemm(true, false, m, k, n, 1.0, dy.toF64().d, 0, m, x.toF64().d, 0, k, 1.0, dw.d, 0, k);
            } else {
                Gemm.sgemmParallel(true, false, m, k, n, 1f, dy.toF32().f, 0, m, x.toF32().f, 0, k, 1f, dw.f, 0, k);
            }
        }
    }

    private static int rowsOf(Tensor x) {
        int n = 1;
        for (int i = 0; i < x.rank() - 1; i++) n *= x.shape[i];
        return n;
    }
}
