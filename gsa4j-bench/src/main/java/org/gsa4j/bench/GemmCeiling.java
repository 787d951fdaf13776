package org.gsa4j.bench;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.DoubleAdder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.gsa4j.tensor.Gemm;
import org.gsa4j.tensor.Parallel;

/**
 * Standalone GFLOP/s probe: FP32 FMA peak of a register-only Vector-API loop on all threads,
 * then sgemmParallel (and single-thread sgemm) at a few shapes, each as the median of several
 * timed repetitions, with the ratio to the measured peak. The machine may be shared: besides wall
 * GFLOP/s it prints flops per (process CPU time / threads), i.e. the rate the code would reach on
 * otherwise idle cores (pessimistic: it counts pool threads spinning for work).
 *
 * <pre>java --add-modules jdk.incubator.vector -cp gsa4j-bench/target/gsa4j-benchmarks.jar org.gsa4j.bench.GemmCeiling [reps]</pre>
 */
public final class GemmCeiling {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    public static void main(String[] args) {
        int reps = args.length > 0 ? Integer.parseInt(args[0]) : 7;
        int threads = Parallel.threads();
        System.out.printf("species %s, threads %d%n", S, threads);
        double[] pk = fmaPeak(threads, reps);
        double peak = pk[0];
        System.out.printf("FMA peak (%d threads): %.1f GFLOP/s wall, %.1f summed over threads' CPU time%n", threads, pk[0], pk[1]);
        double[] pk1 = fmaPeak(1, reps);
        double peak1 = pk1[0];
        System.out.printf("FMA peak (1 thread):  %.1f GFLOP/s wall, %.1f per CPU-second%n", pk1[0], pk1[1]);
        // name, transA, transB, m, n, k
        Object[][] shapes = {
                {"1024^3 NN", false, false, 1024, 1024, 1024},
                {"2048x512x512 NN", false, false, 2048, 512, 512},
                {"linear x[2048x512]*W^T[2048x512]", false, true, 2048, 2048, 512},
                {"linear x[2048x2048]*W^T[512x2048]", false, true, 2048, 512, 2048},
                {"dx = dy[2048x2048]*W[2048x512]", false, false, 2048, 512, 2048},
                {"dW = dy^T[2048x2048]*x[2048x512]", true, false, 2048, 512, 2048},
                {"decode x[1x512]*W^T[2048x512]", false, true, 1, 2048, 512},
        };
        for (Object[] s : shapes) {
            boolean tA = (Boolean) s[1], tB = (Boolean) s[2];
            int m = (Integer) s[3], n = (Integer) s[4], k = (Integer) s[5];
            double[] gp = gemm(true, tA, tB, m, n, k, reps);
            System.out.printf("sgemmParallel %-36s %7.1f GFLOP/s wall (%.0f%% of peak), %7.1f per %d CPU-seconds%n",
                    s[0], gp[0], 100 * gp[0] / peak, gp[1], threads);
        }
        double[] g1 = gemm(false, false, false, 1024, 1024, 1024, Math.max(3, reps / 2));
        System.out.printf("sgemm 1 thread 1024^3 NN %7.1f GFLOP/s wall (%.0f%% of 1-thread peak), %7.1f per CPU-second%n",
                g1[0], 100 * g1[0] / peak1, g1[1] / threads);
        double gs = smallGemm(reps);
        System.out.printf("sgemm 1 thread 64x128x64 (chunk block, many calls) %7.1f GFLOP/s%n", gs);
    }

    /** {median wall GFLOP/s, median GFLOP per (process CPU time / threads)}. */
    static double[] gemm(boolean parallel, boolean tA, boolean tB, int m, int n, int k, int reps) {
        SplittableRandom rng = new SplittableRandom(1);
        float[] a = new float[m * k], b = new float[k * n], c = new float[m * n];
        for (int i = 0; i < a.length; i++) a[i] = (float) rng.nextDouble();
        for (int i = 0; i < b.length; i++) b[i] = (float) rng.nextDouble();
        int lda = tA ? m : k, ldb = tB ? k : n;
        double flops = 2.0 * m * n * k;
        int inner = (int) Math.max(1, 2e10 / flops / (parallel ? 1 : 2));
        for (int w = 0; w < 3; w++) run(parallel, tA, tB, m, n, k, a, lda, b, ldb, c, inner);
        double[] g = new double[reps], gc = new double[reps];
        int threads = Parallel.threads();
        for (int r = 0; r < reps; r++) {
            long c0 = cpuNanos();
            long t0 = System.nanoTime();
            run(parallel, tA, tB, m, n, k, a, lda, b, ldb, c, inner);
            g[r] = flops * inner / (System.nanoTime() - t0);
            gc[r] = flops * inner / ((cpuNanos() - c0) / (double) threads);
        }
        return new double[] {median(g), median(gc)};
    }

    private static void run(boolean parallel, boolean tA, boolean tB, int m, int n, int k,
                            float[] a, int lda, float[] b, int ldb, float[] c, int inner) {
        for (int i = 0; i < inner; i++) {
            if (parallel) Gemm.sgemmParallel(tA, tB, m, n, k, 1f, a, 0, lda, b, 0, ldb, 0f, c, 0, n);
            else Gemm.sgemm(tA, tB, m, n, k, 1f, a, 0, lda, b, 0, ldb, 0f, c, 0, n);
        }
    }

    /** CPU time of the whole process (all threads), or wall time where unavailable. */
    static long cpuNanos() {
        if (java.lang.management.ManagementFactory.getOperatingSystemMXBean()
                instanceof com.sun.management.OperatingSystemMXBean os) {
            long t = os.getProcessCpuTime();
            if (t >= 0) return t;
        }
        return System.nanoTime();
    }

    static double smallGemm(int reps) {
        int m = 64, n = 128, k = 64;
        float[] a = new float[m * k], b = new float[k * n], c = new float[m * n];
        Arrays.fill(a, 0.5f);
        Arrays.fill(b, 0.25f);
        int inner = 20000;
        double[] g = new double[reps];
        for (int r = -2; r < reps; r++) {
            long t0 = System.nanoTime();
            for (int i = 0; i < inner; i++) Gemm.sgemm(false, false, m, n, k, 1f, a, 0, k, b, 0, n, 1f, c, 0, n);
            double v = 2.0 * m * n * k * inner / (System.nanoTime() - t0);
            if (r >= 0) g[r] = v;
        }
        return median(g);
    }

    /** 12 independent FMA chains per thread on registers only: {median wall GFLOP/s, median Σ per-thread-CPU rate}. */
    static double[] fmaPeak(int threads, int reps) {
        long iters = 20_000_000L;
        double[] g = new double[reps], gc = new double[reps];
        java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
        for (int r = -1; r < reps; r++) {
            DoubleAdder sink = new DoubleAdder();
            DoubleAdder rate = new DoubleAdder();
            Thread[] ts = new Thread[threads];
            long t0 = System.nanoTime();
            for (int t = 0; t < threads; t++) {
                ts[t] = new Thread(() -> {
                    long c0 = mx.getCurrentThreadCpuTime();
                    sink.add(fmaLoop(iters));
                    rate.add(2.0 * 12 * S.length() * iters / (mx.getCurrentThreadCpuTime() - c0));
                });
                ts[t].start();
            }
            for (Thread t : ts) {
                try {
                    t.join();
                } catch (InterruptedException e) {
                    throw new RuntimeException(e);
                }
            }
            double v = 2.0 * 12 * S.length() * iters * threads / (System.nanoTime() - t0);
            if (r >= 0) {
                g[r] = v;
                gc[r] = rate.sum();
            }
            if (sink.sum() == 42) System.out.print("");
        }
        return new double[] {median(g), median(gc)};
    }

    static float fmaLoop(long iters) {
        FloatVector m = FloatVector.broadcast(S, 0.999999f), a = FloatVector.broadcast(S, 1e-7f);
        FloatVector c0 = FloatVector.broadcast(S, 1f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
        FloatVector c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (long i = 0; i < iters; i++) {
            c0 = c0.fma(m, a); c1 = c1.fma(m, a); c2 = c2.fma(m, a); c3 = c3.fma(m, a);
            c4 = c4.fma(m, a); c5 = c5.fma(m, a); c6 = c6.fma(m, a); c7 = c7.fma(m, a);
            c8 = c8.fma(m, a); c9 = c9.fma(m, a); c10 = c10.fma(m, a); c11 = c11.fma(m, a);
        }
        return c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).add(c8).add(c9).add(c10).add(c11)
                .reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
    }

    static double median(double[] x) {
        double[] s = x.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    }
}
