package org.gsa4j.cuda;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Random;
import org.gsa4j.cuda.CublasLt.Precision;
import org.gsa4j.io.SafeTensors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** cuBLASLt's row-major GEMM against a float64 product on the CPU, every transpose, awkward sizes. */
@Tag("gpu")
class CublasLtGpuTest {

    static CudaDevice device;
    static CublasLt lt;

    @BeforeAll
    static void open() {
        assumeTrue(CudaDevice.available(), CudaDevice::unavailableReason);
        device = CudaDevice.open(0);
        lt = new CublasLt(device);
        System.out.println("cuBLASLt " + lt.version());
    }

    @AfterAll
    static void close() {
        if (lt != null) {
            lt.close();
        }
        if (device != null) {
            device.close();
        }
    }

    /** Row-major rows×cols with row stride ld; padding holds garbage that must not be read. */
    private static float[] matrix(int rows, int cols, int ld, Random r, boolean bf16) {
        float[] x = new float[(rows - 1) * ld + cols];
        for (int i = 0; i < x.length; i++) {
            float v = i % ld < cols ? (float) r.nextGaussian() : Float.NaN;
            x[i] = bf16 ? SafeTensors.fromBf16(SafeTensors.toBf16(v)) : v;
        }
        return x;
    }

    private static double at(float[] x, int ld, boolean trans, int row, int col) {
        return trans ? x[col * ld + row] : x[row * ld + col];
    }

    /** Checks C (row-major m×n, stride ldc) = alpha op(A) op(B) + beta C0 within tol · Σ|a||b| (+ |beta c0|). */
    private static void check(float[] c, float[] c0, float[] a, float[] b, boolean ta, boolean tb, int m, int n, int k,
                              int lda, int ldb, int ldc, float alpha, float beta, double tol, String what) {
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double sum = 0;
                double scale = 0;
                for (int p = 0; p < k; p++) {
                    double term = at(a, lda, ta, i, p) * at(b, ldb, tb, p, j);
                    sum += term;
                    scale += Math.abs(term);
                }
                double expected = alpha * sum + beta * c0[i * ldc + j];
                double bound = tol * (Math.abs(alpha) * scale + Math.abs(beta * c0[i * ldc + j])) + 1e-30;
                double got = c[i * ldc + j];
                if (!(Math.abs(got - expected) <= bound)) {
                    throw new AssertionError(what + ": C[" + i + "][" + j + "] = " + got + ", expected " + expected
                            + " (bound " + bound + ")");
                }
            }
        }
    }

    @Test
    void float32MatchesFloat64OnAwkwardShapes() {
        int[][] shapes = {{1, 1, 1}, {63, 65, 17}, {64, 128, 256}, {127, 33, 65}, {5, 300, 1000}};
        device.run(() -> {
            Random r = new Random(3);
            for (int[] s : shapes) {
                for (int t = 0; t < 4; t++) {
                    boolean ta = (t & 1) != 0;
                    boolean tb = (t & 2) != 0;
                    int m = s[0];
                    int n = s[1];
                    int k = s[2];
                    int lda = (ta ? m : k) + 3;
                    int ldb = (tb ? k : n) + 1;
                    int ldc = n + 2;
                    float[] a = matrix(ta ? k : m, ta ? m : k, lda, r, false);
                    float[] b = matrix(tb ? n : k, tb ? k : n, ldb, r, false);
                    float[] c0 = matrix(m, n, ldc, r, false);
                    for (int i = 0; i < c0.length; i++) {
                        c0[i] = Float.isNaN(c0[i]) ? 0 : c0[i];
                    }
                    float[] c = run(Precision.FLOAT32, ta, tb, m, n, k, 0.75f, a, lda, b, ldb, -0.5f, c0, ldc);
                    check(c, c0, a, b, ta, tb, m, n, k, lda, ldb, ldc, 0.75f, -0.5f, 1e-5,
                            "float32 " + m + "x" + n + "x" + k + " ta=" + ta + " tb=" + tb);
                }
            }
            System.out.println("float32 GEMM computeType " + lt.computeTypeUsed(Precision.FLOAT32)
                    + " (69 = CUBLAS_COMPUTE_32F_PEDANTIC, 68 = CUBLAS_COMPUTE_32F)");
        });
    }

    @Test
    void bf16WithFloat32AccumulationMatchesFloat64() {
        int[][] shapes = {{1, 8, 8}, {63, 72, 24}, {128, 256, 512}, {127, 40, 1000}};
        device.run(() -> {
            Random r = new Random(4);
            for (int[] s : shapes) {
                for (int t = 0; t < 4; t++) {
                    boolean ta = (t & 1) != 0;
                    boolean tb = (t & 2) != 0;
                    int m = s[0];
                    int n = s[1];
                    int k = s[2];
                    int lda = roundUp8(ta ? m : k);
                    int ldb = roundUp8(tb ? k : n);
                    int ldc = roundUp8(n);
                    float[] a = matrix(ta ? k : m, ta ? m : k, lda, r, true);
                    float[] b = matrix(tb ? n : k, tb ? k : n, ldb, r, true);
                    float[] zero = new float[(m - 1) * ldc + n];
                    String what = m + "x" + n + "x" + k + " ta=" + ta + " tb=" + tb;
                    float[] c32 = run(Precision.BF16_FLOAT32_OUT, ta, tb, m, n, k, 1f, a, lda, b, ldb, 0f, zero, ldc);
                    check(c32, zero, a, b, ta, tb, m, n, k, lda, ldb, ldc, 1f, 0f, 1e-4, "bf16 in, float32 out " + what);
                    float[] c16 = run(Precision.BF16, ta, tb, m, n, k, 1f, a, lda, b, ldb, 0f, zero, ldc);
                    check(c16, zero, a, b, ta, tb, m, n, k, lda, ldb, ldc, 1f, 0f, 1.0 / 128, "bf16 " + what);
                }
            }
        });
    }

    @Test
    void stridedBatchesAndPlanReuse() {
        device.run(() -> {
            Random r = new Random(5);
            int batch = 3;
            int m = 33;
            int n = 20;
            int k = 47;
            float[] a = matrix(batch * m, k, k, r, false);
            float[] b = matrix(batch * k, n, n, r, false);
            float[] c = new float[batch * m * n];
            try (DeviceBuffer da = device.allocate(4L * a.length); DeviceBuffer db = device.allocate(4L * b.length);
                 DeviceBuffer dc = device.allocate(4L * c.length)) {
                da.copyFrom(a);
                db.copyFrom(b);
                for (int rep = 0; rep < 2; rep++) {
                    lt.gemmStridedBatched(Precision.FLOAT32, false, false, m, n, k, 1f, da.address(), k, (long) m * k,
                            db.address(), n, (long) k * n, 0f, dc.address(), n, (long) m * n, batch, device.stream());
                }
                dc.copyTo(c);
            }
            for (int i = 0; i < batch; i++) {
                float[] ai = java.util.Arrays.copyOfRange(a, i * m * k, (i + 1) * m * k);
                float[] bi = java.util.Arrays.copyOfRange(b, i * k * n, (i + 1) * k * n);
                float[] ci = java.util.Arrays.copyOfRange(c, i * m * n, (i + 1) * m * n);
                check(ci, new float[m * n], ai, bi, false, false, m, n, k, k, n, n, 1f, 0f, 1e-5, "batch " + i);
            }
        });
    }

    @Test
    void shapesThatDoNotFitAreRefused() {
        device.run(() -> {
            try (DeviceBuffer small = device.allocate(64); DeviceBuffer big = device.allocate(1 << 20)) {
                var e = assertThrows(IndexOutOfBoundsException.class, () ->
                        lt.gemm(Precision.FLOAT32, false, false, 16, 16, 16, 1f, small, 16, big, 16, 0f, big, 16));
                assertTrue(e.getMessage().contains("matrix A"), e.getMessage());
                assertThrows(IllegalArgumentException.class, () ->
                        lt.gemm(Precision.FLOAT32, false, false, 16, 16, 16, 1f, big, 15, big, 16, 0f, big, 16));
                assertThrows(IllegalArgumentException.class, () ->
                        lt.gemm(Precision.FLOAT32, false, false, 0, 16, 16, 1f, big, 16, big, 16, 0f, big, 16));
            }
        });
    }

    private static int roundUp8(int x) {
        return (x + 7) / 8 * 8;
    }

    private static float[] run(Precision p, boolean ta, boolean tb, int m, int n, int k, float alpha, float[] a, int lda,
                               float[] b, int ldb, float beta, float[] c0, int ldc) {
        int in = p == Precision.FLOAT32 ? 4 : 2;
        int out = p == Precision.BF16 ? 2 : 4;
        try (DeviceBuffer da = device.allocate((long) in * a.length); DeviceBuffer db = device.allocate((long) in * b.length);
             DeviceBuffer dc = device.allocate((long) out * c0.length)) {
            if (in == 4) {
                da.copyFrom(a);
                db.copyFrom(b);
            } else {
                da.copyFromBf16(a);
                db.copyFromBf16(b);
            }
            if (out == 4) {
                dc.copyFrom(c0);
            } else {
                dc.copyFromBf16(c0);
            }
            lt.gemm(p, ta, tb, m, n, k, alpha, da, lda, db, ldb, beta, dc, ldc);
            float[] c = new float[c0.length];
            if (out == 4) {
                dc.copyTo(c);
            } else {
                dc.copyToFromBf16(c);
            }
            return c;
        }
    }
}
