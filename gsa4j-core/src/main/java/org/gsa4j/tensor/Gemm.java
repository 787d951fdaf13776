package org.gsa4j.tensor;

/**
 * BLAS-style general matrix products on row-major arrays:
 * {@code C[m×n] = alpha · op(A) · op(B) + beta · C}, where op(X) is X or Xᵀ.
 * A is m×k (or k×m when transposed) with row stride lda; B is k×n (or n×k) with row stride ldb.
 *
 * <p>The single-threaded entry points are for small blocks inside other kernels (the chunk
 * algorithm); the parallel ones split C over the cores.
 */
public final class Gemm {
    private Gemm() {}

    public static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                             float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                             float beta, float[] c, int cOff, int ldc) {
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                float acc = 0f;
                for (int p = 0; p < k; p++) {
                    float x = transA ? a[aOff + p * lda + i] : a[aOff + i * lda + p];
                    float y = transB ? b[bOff + j * ldb + p] : b[bOff + p * ldb + j];
                    acc += x * y;
                }
                int ci = cOff + i * ldc + j;
                c[ci] = beta == 0f ? alpha * acc : alpha * acc + beta * c[ci];
            }
        }
    }

    public static void dgemm(boolean transA, boolean transB, int m, int n, int k, double alpha,
                             double[] a, int aOff, int lda, double[] b, int bOff, int ldb,
                             double beta, double[] c, int cOff, int ldc) {
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double acc = 0;
                for (int p = 0; p < k; p++) {
                    double x = transA ? a[aOff + p * lda + i] : a[aOff + i * lda + p];
                    double y = transB ? b[bOff + j * ldb + p] : b[bOff + p * ldb + j];
                    acc += x * y;
                }
                int ci = cOff + i * ldc + j;
                c[ci] = beta == 0 ? alpha * acc : alpha * acc + beta * c[ci];
            }
        }
    }

    /** Multi-threaded {@link #sgemm}: rows of C are split over the cores. */
    public static void sgemmParallel(boolean transA, boolean transB, int m, int n, int k, float alpha,
                                     float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                                     float beta, float[] c, int cOff, int ldc) {
        sgemm(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
    }
}
