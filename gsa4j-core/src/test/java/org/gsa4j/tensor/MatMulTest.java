package org.gsa4j.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class MatMulTest {
    /** y[n,m] = Σ_k x[n,k]·w[m,k], in double. */
    static double[] refLinear(double[] x, double[] w, int n, int m, int k) {
        double[] y = new double[n * m];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < m; j++) {
                double s = 0;
                for (int p = 0; p < k; p++) s += x[i * k + p] * w[j * k + p];
                y[i * m + j] = s;
            }
        return y;
    }

    @Test
    void linearF32MatchesDoubleLoopsAndKeepsLeadingDims() {
        SplittableRandom rng = new SplittableRandom(1);
        int[][] cases = {{2, 3, 17, 33}, {1, 1, 1, 1}, {4, 50, 65, 130}, {1, 300, 256, 96}};
        for (int[] cs : cases) {
            int b = cs[0], t = cs[1], k = cs[2], m = cs[3];
            Tensor x = Tensor.randn(rng, 1.0, b, t, k);
            Tensor w = Tensor.randn(rng, 0.1, m, k);
            Tensor y = MatMul.linear(x, w);
            assertArrayEquals(new int[] {b, t, m}, y.shape);
            assertTrue(!y.isF64());
            Tensor ref = Tensor.of(refLinear(x.toF64().d, w.toF64().d, b * t, m, k), b, t, m);
            double err = Tensor.relErr(y, ref);
            assertTrue(err < 1e-6, "relErr " + err);
            // float64 path
            Tensor y64 = MatMul.linear(x.toF64(), w.toF64());
            assertTrue(y64.isF64());
            assertTrue(Tensor.relErr(y64, ref) < 1e-14);
        }
    }

    @Test
    void linearBackwardMatchesDoubleLoopsAndAccumulates() {
        SplittableRandom rng = new SplittableRandom(2);
        int[][] cases = {{3, 5, 17, 33}, {2, 70, 64, 130}, {1, 1, 3, 1}};
        for (int[] cs : cases) {
            int b = cs[0], t = cs[1], k = cs[2], m = cs[3];
            int n = b * t;
            Tensor x = Tensor.randn(rng, 1.0, b, t, k);
            Tensor w = Tensor.randn(rng, 0.1, m, k);
            Tensor dy = Tensor.randn(rng, 1.0, b, t, m);
            Tensor dx = Tensor.randn(rng, 1.0, b, t, k);
            Tensor dw = Tensor.randn(rng, 1.0, m, k);
            double[] xd = x.toF64().d, wd = w.toF64().d, dyd = dy.toF64().d;
            double[] dxRef = dx.toF64().d.clone(), dwRef = dw.toF64().d.clone();
            for (int i = 0; i < n; i++)
                for (int p = 0; p < k; p++) {
                    double s = 0;
                    for (int j = 0; j < m; j++) s += dyd[i * m + j] * wd[j * k + p];
                    dxRef[i * k + p] += s;
                }
            for (int j = 0; j < m; j++)
                for (int p = 0; p < k; p++) {
                    double s = 0;
                    for (int i = 0; i < n; i++) s += dyd[i * m + j] * xd[i * k + p];
                    dwRef[j * k + p] += s;
                }
            Tensor dx64 = dx.toF64().copy(), dw64 = dw.toF64().copy();
            MatMul.linearBackward(x, w, dy, dx, dw);
            assertTrue(Tensor.relErr(dx, Tensor.of(dxRef, b, t, k)) < 1e-6);
            assertTrue(Tensor.relErr(dw, Tensor.of(dwRef, m, k)) < 1e-6);
            MatMul.linearBackward(x.toF64(), w.toF64(), dy.toF64(), dx64, dw64);
            assertTrue(Tensor.relErr(dx64, Tensor.of(dxRef, b, t, k)) < 1e-13);
            assertTrue(Tensor.relErr(dw64, Tensor.of(dwRef, m, k)) < 1e-13);
        }
    }

    @Test
    void linearBackwardSkipsNullOutputs() {
        SplittableRandom rng = new SplittableRandom(3);
        Tensor x = Tensor.randn(rng, 1.0, 4, 8);
        Tensor w = Tensor.randn(rng, 1.0, 5, 8);
        Tensor dy = Tensor.randn(rng, 1.0, 4, 5);
        Tensor dw = Tensor.zeros(5, 8);
        MatMul.linearBackward(x, w, dy, null, dw);
        Tensor dw2 = Tensor.zeros(5, 8);
        MatMul.linearBackward(x, w, dy, Tensor.zeros(4, 8), dw2);
        assertArrayEquals(dw2.f, dw.f, 0f);
        Tensor dx = Tensor.zeros(4, 8);
        MatMul.linearBackward(x, w, dy, dx, null);
        assertEquals(0.0, Tensor.relErr(dx, MatMul.linear(dy, transpose(w))), 1e-6);
    }

    static Tensor transpose(Tensor w) {
        int r = w.dim(0), c = w.dim(1);
        Tensor t = Tensor.zeros(c, r);
        for (int i = 0; i < r; i++) for (int j = 0; j < c; j++) t.f[j * r + i] = w.f[i * c + j];
        return t;
    }
}
