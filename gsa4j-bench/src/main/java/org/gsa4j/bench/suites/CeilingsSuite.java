package org.gsa4j.bench.suites;

import com.fasterxml.jackson.databind.node.ObjectNode;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.management.ManagementFactory;
import java.util.concurrent.atomic.DoubleAdder;

/**
 * The machine's ceilings, measured in this process: the FP32 FMA peak of all threads (a
 * register-only Vector-API loop with 12 independent accumulator chains per thread, compiled by C2
 * before it is timed) and DRAM bandwidth (a STREAM triad and a read-only sum over arrays far
 * larger than the last-level cache). The bandwidth kernels are compiled before timing too and are
 * called on blocks of {@code BLOCK} floats: one call over a whole 128 MiB array would run an
 * on-stack-replacement version of the loop, which read about 25 % below what the cores fetch
 * (26.5 against 33 GB/s on Zen 4).
 *
 * <p>Besides the wall-clock rate, the FMA figure is also given per CPU-second of the measuring
 * threads: on a machine shared with other work the wall-clock rate drops with the share of the
 * cores we get, the per-CPU-second rate does not, so it tells what the core itself can do.
 */
public final class CeilingsSuite {
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int CHAINS = 12;

    public void run(BenchContext ctx) {
        ctx.out.println("== ceilings");
        measure(ctx, ctx.quick);
    }

    void measure(BenchContext ctx, boolean quick) {
        warmFma();
        int reps = quick ? 3 : 7;
        int iters = quick ? 2_000_000 : 50_000_000;
        double[] all = fma(ctx.threads, iters, reps);
        double[] one = fma(1, iters, reps);
        // The reference peak for every fraction: the per-CPU-second rate times the threads, i.e. what
        // the cores deliver when the bench has them to itself. On an idle machine it equals the
        // wall-clock rate; under other load the wall-clock rate falls with the CPU share we get.
        ctx.peakGflops = all[1] * ctx.threads;
        ObjectNode r = ctx.row("ceilings", "fma_peak");
        r.put("threads", ctx.threads);
        r.put("lanes", S.length());
        r.put("chains", CHAINS);
        r.put("gflops", all[0]);
        r.put("peak_gflops_used", ctx.peakGflops);
        r.put("gflops_per_cpu_s", all[1]);
        r.put("gflops_1thread", one[0]);
        r.put("gflops_1thread_per_cpu_s", one[1]);
        r.put("cpu_share", all[2]);
        ctx.out.printf("  FMA peak %d threads %8.1f GFLOP/s wall (%.1f per CPU-second, cpu share %.2f); 1 thread %.1f (%.1f per CPU-s); peak used for fractions %.1f%n",
                ctx.threads, all[0], all[1], all[2], one[0], one[1], ctx.peakGflops);

        long n = quick ? 4L << 20 : 32L << 20; // floats per array: 16 MiB (quick) or 128 MiB each
        float[] a = new float[(int) n], b = new float[(int) n], c = new float[(int) n];
        java.util.Arrays.fill(b, 1f);
        java.util.Arrays.fill(c, 2f);
        int threads = ctx.threads;
        DoubleAdder sink = new DoubleAdder();
        warmBandwidth(sink);
        Measure.Stat triad = Measure.time(1, reps, threads, () -> split(threads, (int) n, (lo, hi) -> {
            for (int i = lo; i < hi; i += BLOCK) triad(a, b, c, i, Math.min(hi, i + BLOCK));
        }));
        Measure.Stat read = Measure.time(1, reps, threads, () -> split(threads, (int) n, (lo, hi) -> sink.add(sumBlocks(b, lo, hi) + sumBlocks(c, lo, hi))));
        ctx.triadGBs = 3.0 * 4 * n / triad.median() / 1e9;
        ctx.readGBs = 2.0 * 4 * n / read.median() / 1e9;
        ObjectNode t = ctx.row("ceilings", "dram_triad");
        t.put("array_mib", 4 * n / (1 << 20));
        t.put("gbs", ctx.triadGBs);
        BenchContext.put(t, triad);
        ObjectNode rd = ctx.row("ceilings", "dram_read");
        rd.put("array_mib", 4 * n / (1 << 20));
        rd.put("gbs", ctx.readGBs);
        BenchContext.put(rd, read);
        ctx.out.printf("  DRAM triad a=b+s*c %.1f GB/s (3 arrays of %d MiB, STREAM counting); read-only sum %.1f GB/s%n",
                ctx.triadGBs, 4 * n / (1 << 20), ctx.readGBs);
        if (sink.sum() == 42) ctx.out.print("");
    }

    interface Range { void run(int lo, int hi); }

    static void split(int threads, int n, Range body) {
        int per = (n / threads + S.length() - 1) / S.length() * S.length();
        Thread[] ts = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            int lo = Math.min(n, t * per), hi = Math.min(n, lo + per);
            ts[t] = Thread.ofPlatform().start(() -> body.run(lo, hi));
        }
        join(ts);
    }

    static void triad(float[] a, float[] b, float[] c, int lo, int hi) {
        FloatVector s = FloatVector.broadcast(S, 3f);
        int i = lo;
        for (; i + S.length() <= hi; i += S.length()) {
            FloatVector.fromArray(S, c, i).fma(s, FloatVector.fromArray(S, b, i)).intoArray(a, i);
        }
        for (; i < hi; i++) a[i] = b[i] + 3f * c[i];
    }

    static double sum(float[] x, int lo, int hi) {
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0;
        int L = S.length(), i = lo;
        for (; i + 4 * L <= hi; i += 4 * L) {
            a0 = a0.add(FloatVector.fromArray(S, x, i));
            a1 = a1.add(FloatVector.fromArray(S, x, i + L));
            a2 = a2.add(FloatVector.fromArray(S, x, i + 2 * L));
            a3 = a3.add(FloatVector.fromArray(S, x, i + 3 * L));
        }
        double s = a0.add(a1).add(a2).add(a3).reduceLanes(VectorOperators.ADD);
        for (; i < hi; i++) s += x[i];
        return s;
    }

    /** Floats per call of the bandwidth kernels (64 KiB). */
    static final int BLOCK = 1 << 14;

    /** Σ x[lo, hi) through {@link #sum} on blocks of {@code BLOCK} floats (the read-bandwidth pass). */
    static double sumBlocks(float[] x, int lo, int hi) {
        double s = 0;
        for (int i = lo; i < hi; i += BLOCK) s += sum(x, i, Math.min(hi, i + BLOCK));
        return s;
    }

    /** Compiles the triad and sum kernels with C2 (many short calls on cache-resident arrays). */
    static void warmBandwidth(DoubleAdder sink) {
        float[] a = new float[BLOCK], b = new float[BLOCK], c = new float[BLOCK];
        double s = 0;
        for (int i = 0; i < 20_000; i++) {
            triad(a, b, c, 0, BLOCK);
            s += sum(b, 0, BLOCK);
        }
        sink.add(s);
    }

    /** Compiles the FMA loop with C2 through many short calls, so the timed calls do not run an OSR version. */
    static void warmFma() {
        float s = 0;
        for (int i = 0; i < 20_000; i++) s += fmaLoop(500);
        if (s == 42) System.out.print("");
    }

    /** {wall GFLOP/s, GFLOP per CPU-second of the measuring threads, cpu share}: medians. */
    static double[] fma(int threads, int iters, int reps) {
        double[] wall = new double[reps], perCpu = new double[reps], share = new double[reps];
        var mx = ManagementFactory.getThreadMXBean();
        for (int r = 0; r < reps; r++) {
            DoubleAdder sink = new DoubleAdder(), cpu = new DoubleAdder();
            Thread[] ts = new Thread[threads];
            long t0 = System.nanoTime();
            for (int t = 0; t < threads; t++) {
                ts[t] = Thread.ofPlatform().start(() -> {
                    long c0 = mx.getCurrentThreadCpuTime();
                    sink.add(fmaLoop(iters));
                    cpu.add((mx.getCurrentThreadCpuTime() - c0) * 1e-9);
                });
            }
            join(ts);
            double dt = (System.nanoTime() - t0) * 1e-9;
            double flops = 2.0 * CHAINS * S.length() * (double) iters * threads;
            wall[r] = flops / dt / 1e9;
            perCpu[r] = flops / cpu.sum() / 1e9;
            share[r] = cpu.sum() / (dt * threads);
            if (sink.sum() == 42) System.out.print("");
        }
        return new double[]{Measure.median(wall), Measure.median(perCpu), Measure.median(share)};
    }

    static float fmaLoop(int iters) {
        FloatVector m = FloatVector.broadcast(S, 0.999999f), a = FloatVector.broadcast(S, 1e-7f);
        FloatVector c0 = FloatVector.broadcast(S, 1f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
        FloatVector c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (int i = 0; i < iters; i++) {
            c0 = c0.fma(m, a); c1 = c1.fma(m, a); c2 = c2.fma(m, a); c3 = c3.fma(m, a);
            c4 = c4.fma(m, a); c5 = c5.fma(m, a); c6 = c6.fma(m, a); c7 = c7.fma(m, a);
            c8 = c8.fma(m, a); c9 = c9.fma(m, a); c10 = c10.fma(m, a); c11 = c11.fma(m, a);
        }
        return c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).add(c8).add(c9).add(c10).add(c11)
                .reduceLanes(VectorOperators.ADD);
    }

    static void join(Thread[] ts) {
        for (Thread t : ts) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new RuntimeException(e);
            }
        }
    }

}
