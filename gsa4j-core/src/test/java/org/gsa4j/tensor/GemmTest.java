package org.gsa4j.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class GemmTest {
    static final int[] SIZES = {1, 3, 15, 16, 17, 63, 64, 65, 130};
    static final float SENTINEL = 12345.5f;

    /** One random problem laid out with offsets and padded strides; checks sgemm (or sgemmParallel) against dgemm. */
    static void check(SplittableRandom rng, boolean tA, boolean tB, int m, int n, int k,
                      float alpha, float beta, boolean parallel) {
        check(rng, tA, tB, m, n, k, alpha, beta, parallel ? 3 : -1);
    }

    /** path: -1 = sgemm, 3 = sgemmParallel, 0/1/2 = forced small / blocked / blocked-parallel. */
    static void check(SplittableRandom rng, boolean tA, boolean tB, int m, int n, int k,
                      float alpha, float beta, int path) {
        int aRows = tA ? k : m, aCols = tA ? m : k;
        int bRows = tB ? n : k, bCols = tB ? k : n;
        int lda = aCols + rng.nextInt(3), ldb = bCols + rng.nextInt(3), ldc = n + rng.nextInt(3);
        int aOff = rng.nextInt(5), bOff = rng.nextInt(5), cOff = rng.nextInt(5);
        float[] a = rand(rng, aOff + aRows * lda + 3);
        float[] b = rand(rng, bOff + bRows * ldb + 3);
        float[] c = new float[cOff + m * ldc + 3];
        Arrays.fill(c, SENTINEL);
        float[] c0 = c.clone();
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                int ci = cOff + i * ldc + j;
                c0[ci] = (float) (rng.nextDouble() * 2 - 1);
                // beta == 0 must not read C: plant NaN there.
                c[ci] = beta == 0f ? Float.NaN : c0[ci];
            }
        }
        double[] ad = toD(a), bd = toD(b), cd = toD(c0);
        double[] aAbs = abs(ad), bAbs = abs(bd);
        double[] bound = new double[cd.length];
        Gemm.dgemm(tA, tB, m, n, k, alpha, ad, aOff, lda, bd, bOff, ldb, beta, cd, cOff, ldc);
        Gemm.dgemm(tA, tB, m, n, k, Math.abs(alpha), aAbs, aOff, lda, bAbs, bOff, ldb, 0, bound, cOff, ldc);
        if (path == 3) Gemm.sgemmParallel(tA, tB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
        else if (path == -1) Gemm.sgemm(tA, tB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
        else Gemm.sgemmPath(path, tA, tB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
        double eps = 6.0e-8;
        for (int idx = 0; idx < c.length; idx++) {
            int rel = idx - cOff;
            boolean inside = rel >= 0 && rel / ldc < m && rel % ldc < n;
            if (!inside) {
                if (c[idx] != SENTINEL) fail("wrote outside C at " + idx + " " + desc(tA, tB, m, n, k, beta));
                continue;
            }
            double tol = (k + 4) * eps * (bound[idx] + Math.abs(beta * c0[idx])) + 1e-30;
            double err = Math.abs(c[idx] - cd[idx]);
            if (!(err <= tol)) {
                fail("C[" + rel / ldc + "," + rel % ldc + "] = " + c[idx] + " expected " + cd[idx]
                        + " (tol " + tol + ") " + desc(tA, tB, m, n, k, beta) + " path=" + path);
            }
        }
    }

    static String desc(boolean tA, boolean tB, int m, int n, int k, float beta) {
        return "tA=" + tA + " tB=" + tB + " m=" + m + " n=" + n + " k=" + k + " beta=" + beta;
    }

    static float[] rand(SplittableRandom rng, int len) {
        float[] x = new float[len];
        for (int i = 0; i < len; i++) x[i] = (float) (rng.nextDouble() * 2 - 1);
        return x;
    }

    static double[] toD(float[] x) {
        double[] d = new double[x.length];
        for (int i = 0; i < x.length; i++) d[i] = x[i];
        return d;
    }

    static double[] abs(double[] x) {
        double[] d = new double[x.length];
        for (int i = 0; i < x.length; i++) d[i] = Math.abs(x[i]);
        return d;
    }

    @Test
    void sgemmMatchesDoubleReferenceAllTransposesAndAwkwardSizes() {
        SplittableRandom rng = new SplittableRandom(42);
        for (int t = 0; t < 4; t++) {
            boolean tA = (t & 1) != 0, tB = (t & 2) != 0;
            for (int i = 0; i < SIZES.length; i++) {
                for (int j = 0; j < SIZES.length; j++) {
                    int k = SIZES[(i + 2 * j + t) % SIZES.length];
                    check(rng, tA, tB, SIZES[i], SIZES[j], k, 1f, 0f, false);
                    check(rng, tA, tB, SIZES[i], SIZES[j], k, 1f, 1f, false);
                }
            }
        }
    }

    @Test
    void everyCodePathMatchesDoubleReference() {
        SplittableRandom rng = new SplittableRandom(99);
        int[] sizes = {1, 3, 15, 16, 17, 33, 65};
        for (int path = 0; path <= 2; path++) {
            for (int t = 0; t < 4; t++) {
                boolean tA = (t & 1) != 0, tB = (t & 2) != 0;
                for (int i = 0; i < sizes.length; i++) {
                    for (int j = 0; j < sizes.length; j++) {
                        int k = sizes[(3 * i + j + t) % sizes.length];
                        check(rng, tA, tB, sizes[i], sizes[j], k, 1f, (i + j) % 2 == 0 ? 0f : 1f, path);
                    }
                }
                check(rng, tA, tB, 37, 70, Gemm.KC + 3, 0.5f, 0.5f, path); // two k blocks
                check(rng, tA, tB, 130, 100, 64, 1f, 0f, path); // several row blocks and column strips
            }
        }
    }

    @Test
    void sgemmDeepKSpansSeveralBlocksAndScalesAlphaBeta() {
        SplittableRandom rng = new SplittableRandom(7);
        for (int t = 0; t < 4; t++) {
            boolean tA = (t & 1) != 0, tB = (t & 2) != 0;
            check(rng, tA, tB, 17, 33, Gemm.KC + 45, 1f, 0f, false);
            check(rng, tA, tB, 9, 40, 2 * Gemm.KC + 1, 0.5f, 1f, false);
            check(rng, tA, tB, 130, 65, 300, -1.5f, 0.25f, false);
            check(rng, tA, tB, Gemm.MC + 5, 3, 20, 2f, 0f, false);
        }
    }

    @Test
    void sgemmDegenerateShapes() {
        SplittableRandom rng = new SplittableRandom(3);
        check(rng, false, false, 5, 7, 0, 1f, 0f, false); // k = 0, beta 0: C becomes 0 (not NaN)
        check(rng, false, true, 5, 7, 0, 1f, 0.5f, false);
        check(rng, true, false, 4, 6, 9, 0f, 1f, false); // alpha 0
        Gemm.sgemm(false, false, 0, 5, 5, 1f, new float[0], 0, 5, new float[25], 0, 5, 0f, new float[0], 0, 5);
    }

    @Test
    void sgemmParallelMatchesDoubleReference() {
        SplittableRandom rng = new SplittableRandom(11);
        for (int t = 0; t < 4; t++) {
            check(rng, (t & 1) != 0, (t & 2) != 0, 130, 257, 300, 1f, 0f, true);
            check(rng, (t & 1) != 0, (t & 2) != 0, 65, 1000, 64, 1f, 1f, true);
        }
    }

    @Test
    void sgemmParallelIsBitIdenticalToSgemmAndDeterministic() {
        SplittableRandom rng = new SplittableRandom(5);
        int[][] shapes = {{300, 200, 513}, {129, 700, 64}, {1000, 17, 300}};
        for (int[] s : shapes) {
            for (int t = 0; t < 4; t++) {
                boolean tA = (t & 1) != 0, tB = (t & 2) != 0;
                int m = s[0], n = s[1], k = s[2];
                float[] a = rand(rng, m * k), b = rand(rng, k * n), c0 = rand(rng, m * n);
                int lda = tA ? m : k, ldb = tB ? k : n;
                float[] serial = c0.clone(), p1 = c0.clone(), p2 = c0.clone();
                Gemm.sgemm(tA, tB, m, n, k, 0.75f, a, 0, lda, b, 0, ldb, 0.5f, serial, 0, n);
                Gemm.sgemmParallel(tA, tB, m, n, k, 0.75f, a, 0, lda, b, 0, ldb, 0.5f, p1, 0, n);
                Gemm.sgemmParallel(tA, tB, m, n, k, 0.75f, a, 0, lda, b, 0, ldb, 0.5f, p2, 0, n);
                assertArrayEquals(serial, p1, 0f, "parallel vs serial " + Arrays.toString(s) + " t=" + t);
                for (int i = 0; i < p1.length; i++) {
                    assertEquals(Float.floatToRawIntBits(p1[i]), Float.floatToRawIntBits(p2[i]), "run-to-run at " + i);
                    assertEquals(Float.floatToRawIntBits(serial[i]), Float.floatToRawIntBits(p1[i]), "serial bits at " + i);
                }
            }
        }
        assertTrue(Parallel.threads() >= 1);
    }

    @Test
    void nestedParallelCallsFromPoolTasksAreCorrect() {
        SplittableRandom rng = new SplittableRandom(8);
        int m = 200, n = 150, k = 600, jobs = 6;
        float[][] as = new float[jobs][], bs = new float[jobs][], expect = new float[jobs][], got = new float[jobs][];
        for (int j = 0; j < jobs; j++) {
            as[j] = rand(rng, m * k);
            bs[j] = rand(rng, n * k);
            expect[j] = new float[m * n];
            got[j] = new float[m * n];
            Gemm.sgemm(false, true, m, n, k, 1f, as[j], 0, k, bs[j], 0, k, 0f, expect[j], 0, n);
        }
        // Each pool task runs a parallel gemm. While waiting, a thread may run another task that also
        // calls sgemmParallel; Gemm then must not share its thread-local B buffer between them. Work
        // stealing is not deterministic, so this checks nested use is correct, but cannot force the
        // re-entrant case every run.
        Parallel.forRange(jobs, j -> Gemm.sgemmParallel(false, true, m, n, k, 1f, as[j], 0, k, bs[j], 0, k,
                0f, got[j], 0, n));
        for (int j = 0; j < jobs; j++) assertArrayEquals(expect[j], got[j], 0f, "job " + j);
    }

    @Test
    void smallAndBlockedPathsAreBitIdentical() {
        SplittableRandom rng = new SplittableRandom(12);
        int[][] shapes = {{16, 16, 16}, {17, 33, 5}, {64, 40, 64}, {3, 70, 100}};
        for (int[] s : shapes) {
            for (int t = 0; t < 4; t++) {
                boolean tA = (t & 1) != 0, tB = (t & 2) != 0;
                int m = s[0], n = s[1], k = s[2];
                if (k > Gemm.KC) continue; // sgemm takes the small path only for k <= KC
                float[] a = rand(rng, m * k), b = rand(rng, k * n), c0 = rand(rng, m * n);
                int lda = tA ? m : k, ldb = tB ? k : n;
                for (float beta : new float[] {0f, 1f, 0.5f}) {
                    float[] small = c0.clone(), blocked = c0.clone();
                    Gemm.sgemmPath(0, tA, tB, m, n, k, 1.5f, a, 0, lda, b, 0, ldb, beta, small, 0, n);
                    Gemm.sgemmPath(1, tA, tB, m, n, k, 1.5f, a, 0, lda, b, 0, ldb, beta, blocked, 0, n);
                    for (int i = 0; i < small.length; i++) {
                        assertEquals(Float.floatToRawIntBits(blocked[i]), Float.floatToRawIntBits(small[i]),
                                "element " + i + " " + desc(tA, tB, m, n, k, beta));
                    }
                }
            }
        }
    }

    @Test
    void skinnyTimesTransposedRunsAsDotProducts() {
        SplittableRandom rng = new SplittableRandom(13);
        // m <= 4, A·Bᵀ: the dot-product path (decode-time matrix-vector products), serial and parallel.
        for (int m = 1; m <= 5; m++) {
            for (int k : new int[] {16, 17, 100, 600}) {
                check(rng, false, true, m, 37, k, 1f, 0f, false);
                check(rng, false, true, m, 38, k, 0.5f, 1.5f, false);
            }
            check(rng, false, true, m, 3001, 515, 1f, 0f, true);
            check(rng, false, true, m, 1027, 1024, 1f, 1f, true);
        }
        int m = 3, n = 2050, k = 700;
        float[] a = rand(rng, m * k), b = rand(rng, n * k), c0 = rand(rng, m * n);
        float[] serial = c0.clone(), p1 = c0.clone(), p2 = c0.clone();
        Gemm.sgemm(false, true, m, n, k, 1f, a, 0, k, b, 0, k, 0.5f, serial, 0, n);
        Gemm.sgemmParallel(false, true, m, n, k, 1f, a, 0, k, b, 0, k, 0.5f, p1, 0, n);
        Gemm.sgemmParallel(false, true, m, n, k, 1f, a, 0, k, b, 0, k, 0.5f, p2, 0, n);
        for (int i = 0; i < serial.length; i++) {
            assertEquals(Float.floatToRawIntBits(serial[i]), Float.floatToRawIntBits(p1[i]), "serial vs parallel at " + i);
            assertEquals(Float.floatToRawIntBits(p1[i]), Float.floatToRawIntBits(p2[i]), "run to run at " + i);
        }
    }

    /** The linear layers of the bench's models (tokens, in, out): 21M training model at T=512, 150M decode model's prefill, T=2048 d=512. */
    static final int[][] MODEL_LAYERS = {{512, 384, 384}, {512, 384, 1024}, {512, 1024, 384}, {512, 384, 8192},
            {2048, 768, 2048}, {2048, 512, 2048}, {2048, 2048, 512}};

    /**
     * By construction every product at the models' shapes is cut into at least four tasks per
     * thread, for every thread count up to 64, and the tasks of a plan cover C exactly once.
     */
    @Test
    void modelShapesGetFourTasksPerThreadUpTo64Threads() {
        for (int[] l : MODEL_LAYERS) {
            int t = l[0], in = l[1], out = l[2];
            int[][] products = {{0, 1, t, out, in}, {0, 0, t, in, out}, {1, 0, out, in, t}}; // fwd NT, dx NN, dW TN
            for (int[] p : products) {
                boolean tA = p[0] == 1, tB = p[1] == 1;
                int m = p[2], n = p[3], k = p[4];
                for (int threads = 1; threads <= 64; threads++) {
                    int tasks = Gemm.tasksFor(tA, tB, m, n, k, threads);
                    String what = m + "x" + n + "x" + k + " on " + threads + " threads";
                    if (threads == 1) assertEquals(1, tasks, what);
                    else assertTrue(tasks >= Gemm.TASKS_PER_THREAD * threads, what + ": " + tasks + " tasks");
                    if (threads == 2 || threads == 3 || threads == 16 || threads == 64) {
                        assertCoversOnce(Gemm.Plan.of(m, n, k, Gemm.TASKS_PER_THREAD * threads), what);
                    }
                }
            }
        }
    }

    /** Every element of C belongs to exactly one task of the plan. */
    private static void assertCoversOnce(Gemm.Plan p, String what) {
        int[] owner = new int[p.m() * p.n()];
        int stripsPerBlock = (Math.min(p.n(), Gemm.NC) + Gemm.NR - 1) / Gemm.NR;
        for (int t = 0; t < p.tasks(); t++) {
            int ib = t % p.rowBlocks(), g = (t / p.rowBlocks()) % p.groups(), jb = t / (p.rowBlocks() * p.groups());
            int jc = jb * Gemm.NC, nc = Math.min(Gemm.NC, p.n() - jc), strips = (nc + Gemm.NR - 1) / Gemm.NR;
            assertTrue(strips <= stripsPerBlock, what);
            int c0 = jc + g * strips / p.groups() * Gemm.NR, c1 = Math.min(p.n(), jc + (g + 1) * strips / p.groups() * Gemm.NR);
            for (int i = ib * p.mc(); i < Math.min(p.m(), (ib + 1) * p.mc()); i++)
                for (int j = c0; j < c1; j++) owner[i * p.n() + j]++;
        }
        for (int i = 0; i < owner.length; i++) assertEquals(1, owner[i], what + ": element " + i);
    }

    /** sgemmParallel gives the serial bits whatever the thread count the work is cut for. */
    @Test
    void sgemmParallelIsTheSameBitsForEveryThreadCount() {
        SplittableRandom rng = new SplittableRandom(21);
        int[][] shapes = {{512, 384, 384}, {384, 1000, 520}, {65, 2100, 70}, {3, 3001, 515}};
        try {
            for (int[] s : shapes) {
                for (int t = 0; t < 4; t++) {
                    boolean tA = (t & 1) != 0, tB = (t & 2) != 0;
                    int m = s[0], n = s[1], k = s[2];
                    float[] a = rand(rng, m * k), b = rand(rng, k * n), c0 = rand(rng, m * n);
                    int lda = tA ? m : k, ldb = tB ? k : n;
                    float[] serial = c0.clone();
                    Gemm.sgemm(tA, tB, m, n, k, 0.75f, a, 0, lda, b, 0, ldb, 0.5f, serial, 0, n);
                    for (int threads : new int[] {1, 2, 3, 7, 16, 64}) {
                        Parallel.useThreads(threads);
                        float[] c = c0.clone();
                        Gemm.sgemmParallel(tA, tB, m, n, k, 0.75f, a, 0, lda, b, 0, ldb, 0.5f, c, 0, n);
                        for (int i = 0; i < c.length; i++) {
                            assertEquals(Float.floatToRawIntBits(serial[i]), Float.floatToRawIntBits(c[i]),
                                    Arrays.toString(s) + " t=" + t + " threads=" + threads + " at " + i);
                        }
                    }
                }
            }
        } finally {
            Parallel.useThreads(Parallel.machineThreads());
        }
    }

    /** Several products in one job give each product's own bits, small ones (run on the caller) included. */
    @Test
    void productsInOneJobAreTheBitsOfSeparateCalls() {
        SplittableRandom rng = new SplittableRandom(33);
        int[][] shapes = {{300, 200, 513}, {129, 700, 64}, {5, 6, 7}, {2, 900, 300}};
        boolean[][] trans = {{false, false}, {true, false}, {false, true}, {false, true}};
        Gemm.Product[] joint = new Gemm.Product[shapes.length];
        float[][] separate = new float[shapes.length][];
        for (int i = 0; i < shapes.length; i++) {
            int m = shapes[i][0], n = shapes[i][1], k = shapes[i][2];
            boolean tA = trans[i][0], tB = trans[i][1];
            float[] a = rand(rng, m * k), b = rand(rng, k * n), c0 = rand(rng, m * n);
            int lda = tA ? m : k, ldb = tB ? k : n;
            separate[i] = c0.clone();
            Gemm.sgemmParallel(tA, tB, m, n, k, 1.25f, a, 0, lda, b, 0, ldb, 1f, separate[i], 0, n);
            joint[i] = new Gemm.Product(tA, tB, m, n, k, 1.25f, a, 0, lda, b, 0, ldb, 1f, c0, 0, n);
        }
        Gemm.sgemmParallel(joint);
        for (int i = 0; i < shapes.length; i++) {
            for (int j = 0; j < separate[i].length; j++) {
                assertEquals(Float.floatToRawIntBits(separate[i][j]), Float.floatToRawIntBits(joint[i].c()[j]),
                        "product " + i + " element " + j);
            }
        }
    }
}
