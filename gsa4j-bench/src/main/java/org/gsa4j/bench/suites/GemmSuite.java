package org.gsa4j.bench.suites;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.tensor.Gemm;

import java.util.SplittableRandom;

/**
 * {@link Gemm#sgemmParallel} at the shapes the models use. For a linear layer y = x·Wᵀ with
 * x [T×in], W [out×in]: forward {@code NT} (T×out×in), input gradient dx = dy·W {@code NN}
 * (T×in×out), weight gradient dW = dyᵀ·x {@code TN} (out×in×T). FLOPs = 2·m·n·k per product.
 */
public final class GemmSuite {
    /** Linear layers of the train suite's ≈20M model at T=512, then the larger shapes of MatMulBench. */
    static final Object[][] LAYERS = {
            // name, tokens, in, out
            {"train20M qkvo 512x384->384", 512, 384, 384},
            {"train20M mlp-up 512x384->1024", 512, 384, 1024},
            {"train20M mlp-down 512x1024->384", 512, 1024, 384},
            {"train20M lm_head 512x384->8192", 512, 384, 8192},
            {"decode150M-prefill mlp-up 2048x768->2048", 2048, 768, 2048},
            {"T2048 d512 up 2048x512->2048", 2048, 512, 2048},
            {"T2048 d512 down 2048x2048->512", 2048, 2048, 512},
    };

    /** One product at one shape, with its operands. */
    private record Case(String layer, String product, boolean tA, boolean tB, int m, int n, int k, Runnable once, int inner) {}

    /**
     * Every shape is first run untimed for about a repetition's length (C2 compiles the packing
     * and kernel code, buffers grow), then the shapes are timed round-robin, one repetition of each
     * per round: a burst of load from other processes spreads over all shapes instead of spoiling
     * the repetitions of one.
     */
    public void run(BenchContext ctx) {
        ctx.needCeilings();
        ctx.out.println("== gemm (Gemm.sgemmParallel, " + ctx.threads + " threads)");
        int reps = ctx.quick ? 3 : 7;
        double budget = ctx.quick ? 0.02 : 0.3;
        int nLayers = ctx.quick ? 2 : LAYERS.length;
        java.util.List<Case> cases = new java.util.ArrayList<>();
        for (int li = 0; li < nLayers; li++) {
            Object[] l = LAYERS[li];
            String name = (String) l[0];
            int t = (Integer) l[1], in = (Integer) l[2], out = (Integer) l[3];
            // product, transA, transB, m, n, k
            Object[][] products = {
                    {"fwd x·Wᵀ", false, true, t, out, in},
                    {"bwd dx=dy·W", false, false, t, in, out},
                    {"bwd dW=dyᵀ·x", true, false, out, in, t},
            };
            for (Object[] p : products) {
                boolean tA = (Boolean) p[1], tB = (Boolean) p[2];
                int m = (Integer) p[3], n = (Integer) p[4], k = (Integer) p[5];
                SplittableRandom rng = new SplittableRandom(1);
                float[] a = rand(rng, m * k), b = rand(rng, k * n), c = new float[m * n];
                int lda = tA ? m : k, ldb = tB ? k : n;
                Runnable once = () -> Gemm.sgemmParallel(tA, tB, m, n, k, 1f, a, 0, lda, b, 0, ldb, 0f, c, 0, n);
                for (int w = 0; w < 3; w++) once.run();
                int inner = Measure.innerFor(budget, once);
                for (int i = 0; i < inner; i++) once.run();
                cases.add(new Case(name, (String) p[0], tA, tB, m, n, k, once, inner));
            }
        }
        double[][] times = new double[cases.size()][reps];
        double[] cpu = new double[cases.size()];
        for (int r = 0; r < reps; r++) {
            for (int ci = 0; ci < cases.size(); ci++) {
                Case cs = cases.get(ci);
                long cpu0 = Measure.processCpuNanos(), t0 = System.nanoTime();
                for (int i = 0; i < cs.inner(); i++) cs.once().run();
                times[ci][r] = (System.nanoTime() - t0) * 1e-9;
                cpu[ci] += (Measure.processCpuNanos() - cpu0) * 1e-9;
            }
        }
        for (int ci = 0; ci < cases.size(); ci++) {
            Case cs = cases.get(ci);
            double wall = 0;
            for (double x : times[ci]) wall += x;
            Measure.Stat s = Measure.of(times[ci], cpu[ci] / (wall * ctx.threads));
            int m = cs.m(), n = cs.n(), k = cs.k(), inner = cs.inner();
            String trans = (cs.tA() ? "T" : "N") + (cs.tB() ? "T" : "N");
            double gflops = 2.0 * m * n * k * inner / s.median() / 1e9;
            ObjectNode r = ctx.row("gemm", cs.layer() + " " + cs.product());
            r.put("layer", cs.layer());
            r.put("product", cs.product());
            r.put("m", m);
            r.put("n", n);
            r.put("k", k);
            r.put("trans", trans);
            r.put("gflops", gflops);
            r.put("frac_peak", gflops / ctx.peakGflops);
            r.put("calls_per_rep", inner);
            BenchContext.put(r, s);
            ctx.putPerCpu(r, 2.0 * m * n * k * inner, s);
            ctx.out.printf("  %-44s %-13s %s m=%-5d n=%-5d k=%-5d %7.1f GFLOP/s  %5.1f%% of peak  (cpu share %.2f; per CPU-second %.0f%% of peak)%n",
                    cs.layer(), cs.product(), trans, m, n, k, gflops, 100 * gflops / ctx.peakGflops, s.cpuShare(),
                    100 * r.path("frac_peak_per_cpu_s").asDouble());
        }
    }

    static float[] rand(SplittableRandom rng, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (rng.nextDouble() - 0.5);
        return x;
    }
}
