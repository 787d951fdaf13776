package org.gsa4j.tensor;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The decode matvec against float64 loops on awkward sizes, float32 and bfloat16 weights. */
class MatVecTest {
    // k: below one vector, one vector ± 1, four vectors (one pass of the four FMA chains) ± 1, long with every tail
    private static final int[] SIZES = {1, 15, 16, 17, 63, 64, 65, 1000};

    @Test
    void matchesFloat64LoopsOnAwkwardSizes() {
        SplittableRandom rng = new SplittableRandom(7);
        for (int m : SIZES)
            for (int k : SIZES)
                for (int n : new int[] {1, 3, MatVec.MAX_ROWS}) {
                    Tensor x = Tensor.randn(rng, 1, n, k), w = Tensor.randn(rng, 1, m, k);
                    for (Tensor wt : new Tensor[] {w, w.toBf16()}) {
                        float[] y = new float[n * m];
                        MatVec.multiply(x.f, 0, n, wt, y, 0);
                        for (int r = 0; r < n; r++)
                            for (int j = 0; j < m; j++) {
                                double want = 0, mag = 0;
                                for (int i = 0; i < k; i++) {
                                    double p = (double) x.f[r * k + i] * wt.get(j * k + i);
                                    want += p;
                                    mag += Math.abs(p);
                                }
                                double err = Math.abs(y[r * m + j] - want);
                                assertTrue(err <= 1e-6 * mag + 1e-30,
                                        wt + " n=" + n + " m=" + m + " k=" + k + " at " + r + "," + j + ": " + y[r * m + j] + " vs " + want);
                            }
                    }
                }
    }

    @Test
    void bf16EqualsItsValuesWidenedToF32BitForBit() {
        SplittableRandom rng = new SplittableRandom(8);
        for (int k : SIZES) {
            int m = 1037, n = 2; // large enough to run on the team, odd to leave tails
            Tensor x = Tensor.randn(rng, 1, n, k), h = Tensor.randn(rng, 1, m, k).toBf16();
            float[] a = new float[n * m], b = new float[n * m];
            MatVec.multiply(x.f, 0, n, h, a, 0);
            MatVec.multiply(x.f, 0, n, h.toF32(), b, 0);
            assertArrayEquals(b, a, "k=" + k);
        }
    }

    /**
     * Several rows of x go through the blocked kernel (two weight rows × two rows of x), one row
     * through the row-by-row kernel: every output element must be bit for bit the one-row result,
     * whatever the row count (odd ones leave a row outside the blocks), for every output range a
     * chunk can take (odd starts and ends leave a weight row outside the blocks), float32 and
     * bfloat16. This is what keeps batched decoding equal to solo decoding.
     */
    @Test
    void severalRowsEqualEachRowAloneBitForBit() {
        SplittableRandom rng = new SplittableRandom(11);
        for (int m : new int[] {1, 2, 3, 63, 64, 65})
            for (int k : SIZES)
                for (int n : new int[] {2, 3, 4, 5, 16, 17}) {
                    Tensor x = Tensor.randn(rng, 1, n, k), w = Tensor.randn(rng, 1, m, k);
                    for (Tensor wt : new Tensor[] {w, w.toBf16()}) {
                        float[] alone = new float[n * m];
                        for (int r = 0; r < n; r++) {
                            float[] y = new float[m];
                            MatVec.rows(x.f, r * k, 1, k, wt, 0, m, y, 0);
                            System.arraycopy(y, 0, alone, r * m, m);
                        }
                        float[] all = new float[n * m];
                        MatVec.multiply(x.f, 0, n, wt, all, 0);
                        assertArrayEquals(alone, all, wt + " n=" + n + " m=" + m + " k=" + k);
                        // one output range with odd ends, as a chunk of the parallel cut may have
                        int j0 = m / 3, j1 = m - m / 4;
                        float[] part = new float[n * m];
                        MatVec.rows(x.f, 0, n, k, wt, j0, j1, part, 0);
                        for (int r = 0; r < n; r++)
                            for (int j = 0; j < m; j++)
                                if (j >= j0 && j < j1) assertEquals(alone[r * m + j], part[r * m + j], wt + " rows [" + j0 + "," + j1 + ") n=" + n + " k=" + k);
                                else assertEquals(0f, part[r * m + j], "outside the range");
                    }
                }
    }

    /** The slice form (a float32 matrix stored from an offset, output stride ldy, as the KV cache uses it). */
    @Test
    void sliceFormEqualsEachRowAloneBitForBit() {
        SplittableRandom rng = new SplittableRandom(12);
        for (int k : new int[] {1, 17, 64, 65})
            for (int n : new int[] {1, 2, 3, 5}) {
                int rows = 37, wOff = 29, ldy = 41;
                Tensor x = Tensor.randn(rng, 1, n, k), w = Tensor.randn(rng, 1, wOff + rows * k + 3);
                float[] all = new float[n * ldy];
                MatVec.rows(x.f, 0, n, k, w.f, wOff, rows, all, 0, ldy);
                for (int r = 0; r < n; r++) {
                    float[] y = new float[rows];
                    MatVec.rows(x.f, r * k, 1, k, w.f, wOff, rows, y, 0, rows);
                    assertArrayEquals(y, java.util.Arrays.copyOfRange(all, r * ldy, r * ldy + rows), "n=" + n + " k=" + k + " row " + r);
                }
            }
    }

    @Test
    void guidedChunksTileTheRowsInShrinkingPieces() {
        for (int rows : new int[] {1, 15, 16, 17, 63, 64, 65, 1000, 2560, 32000}) {
            int count = MatVec.chunkCount(rows);
            assertTrue(count >= 1, "rows=" + rows);
            assertTrue(MatVec.chunkStart(rows, 0) == 0 && MatVec.chunkStart(rows, count) == rows, "rows=" + rows);
            int previous = Integer.MAX_VALUE;
            for (int c = 0; c < count; c++) {
                int size = MatVec.chunkStart(rows, c + 1) - MatVec.chunkStart(rows, c);
                assertTrue(size > 0 && size <= previous, "rows=" + rows + " chunk " + c + " of " + size + " after " + previous);
                assertTrue(size >= 16 || c == count - 1, "rows=" + rows + " chunk " + c + " of " + size);
                previous = size;
            }
            // shrinking: the last chunk is a small share of the first (the threads end together)
            if (rows >= 1000) assertTrue(previous * 8 <= MatVec.chunkStart(rows, 1), "rows=" + rows);
        }
    }

    @Test
    void fusedAndParallelEqualSerialPerMatrix() {
        SplittableRandom rng = new SplittableRandom(9);
        int k = 515;
        Tensor x = Tensor.randn(rng, 1, 1, k);
        Tensor[] ws = {Tensor.randn(rng, 1, 301, k), Tensor.randn(rng, 1, 1026, k).toBf16(), Tensor.randn(rng, 1, 7, k)};
        float[][] ys = {new float[301], new float[1026], new float[7]};
        MatVec.multiply(x.f, 0, 1, ws, ys, 0);
        for (int i = 0; i < ws.length; i++) {
            float[] serial = new float[ws[i].dim(0)];
            MatVec.rows(x.f, 0, 1, k, ws[i], 0, ws[i].dim(0), serial, 0);
            assertArrayEquals(serial, ys[i], "matrix " + i);
        }
    }

    @Test
    void matMulLinearTakesBf16Weights() {
        SplittableRandom rng = new SplittableRandom(10);
        Tensor x = Tensor.randn(rng, 1, 40, 33), w = Tensor.randn(rng, 1, 17, 33).toBf16();
        Tensor a = MatMul.linear(x, w), b = MatMul.linear(x, w.toF32());
        assertTrue(Tensor.relErr(a, b) == 0, "many rows: bf16 widened then gemm");
        Tensor x1 = Tensor.randn(rng, 1, 1, 33);
        assertArrayEquals(MatMul.linear(x1, w.toF32()).f, MatMul.linear(x1, w).f);
    }
}
