package org.gsa4j.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;
import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.ops.GatedSlotAttentionOp;
import org.gsa4j.tensor.Tensor;

/**
 * Quick timing probes (median of repetitions, one process) for profiling work between JMH runs:
 * <pre>java --add-modules jdk.incubator.vector -cp gsa4j-benchmarks.jar org.gsa4j.bench.Probe op|train|gemm [reps]</pre>
 */
public final class Probe {
    public static void main(String[] args) throws Exception {
        String what = args.length > 0 ? args[0] : "op";
        int reps = args.length > 1 ? Integer.parseInt(args[1]) : 5;
        switch (what) {
            case "fma" -> fma(reps);
            case "op" -> op(args.length > 2 ? Integer.parseInt(args[2]) : 2048, reps);
            case "train" -> train(reps);
            case "gemm" -> gemm(reps, args.length > 2 ? Integer.parseInt(args[2]) : 2048);
            default -> throw new IllegalArgumentException(what);
        }
    }

    /** FMA loop per thread CPU-second (robust to a loaded machine): cold (OSR) first call, then warmed. */
    static void fma(int reps) {
        java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
        long iters = 20_000_000L;
        for (int r = 0; r < reps; r++) {
            long c0 = mx.getCurrentThreadCpuTime(), w0 = System.nanoTime();
            float x = GemmCeiling.fmaLoop(iters);
            long c1 = mx.getCurrentThreadCpuTime(), w1 = System.nanoTime();
            double fl = 2.0 * 12 * 16 * iters;
            System.out.printf("call %d: %.1f GFLOP per CPU-s, %.1f GFLOP/s wall (%s)%n", r, fl / (c1 - c0), fl / (w1 - w0), x);
            if (r == 0) for (int i = 0; i < 20_000; i++) x += GemmCeiling.fmaLoop(200);
        }
        for (int i = 0; i < 20_000; i++) fma24(200);
        for (int r = 0; r < reps; r++) {
            long c0 = mx.getCurrentThreadCpuTime();
            float x = fma24(iters / 2);
            long c1 = mx.getCurrentThreadCpuTime();
            System.out.printf("24 chains: %.1f GFLOP per CPU-s (%s)%n", 2.0 * 24 * 16 * (iters / 2) / (c1 - c0), x);
        }
        System.out.printf("FMA peak all threads (wall) %.1f GFLOP/s%n", GemmCeiling.fmaPeak(org.gsa4j.tensor.Parallel.threads(), reps));
    }

    static float fma24(long iters) {
        jdk.incubator.vector.VectorSpecies<Float> S = jdk.incubator.vector.FloatVector.SPECIES_512;
        jdk.incubator.vector.FloatVector m = jdk.incubator.vector.FloatVector.broadcast(S, 0.999999f), a = jdk.incubator.vector.FloatVector.broadcast(S, 1e-7f);
        jdk.incubator.vector.FloatVector c0 = jdk.incubator.vector.FloatVector.broadcast(S, 1f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0, c12 = c0, c13 = c0, c14 = c0, c15 = c0, c16 = c0, c17 = c0, c18 = c0, c19 = c0, c20 = c0, c21 = c0, c22 = c0, c23 = c0;
        for (long i = 0; i < iters; i++) {
            c0 = c0.fma(m, a); c1 = c1.fma(m, a); c2 = c2.fma(m, a); c3 = c3.fma(m, a); c4 = c4.fma(m, a); c5 = c5.fma(m, a); c6 = c6.fma(m, a); c7 = c7.fma(m, a); c8 = c8.fma(m, a); c9 = c9.fma(m, a); c10 = c10.fma(m, a); c11 = c11.fma(m, a); c12 = c12.fma(m, a); c13 = c13.fma(m, a); c14 = c14.fma(m, a); c15 = c15.fma(m, a); c16 = c16.fma(m, a); c17 = c17.fma(m, a); c18 = c18.fma(m, a); c19 = c19.fma(m, a); c20 = c20.fma(m, a); c21 = c21.fma(m, a); c22 = c22.fma(m, a); c23 = c23.fma(m, a); 
        }
        return c0.add(c1).add(c2).add(c23).reduceLanes(jdk.incubator.vector.VectorOperators.ADD) + c5.add(c7).add(c11).add(c13).add(c17).add(c19).add(c3).add(c4).add(c6).add(c8).add(c9).add(c10).add(c12).add(c14).add(c15).add(c16).add(c18).add(c20).add(c21).add(c22).reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
    }

    static final com.sun.management.OperatingSystemMXBean OS =
            (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();

    /** Process CPU nanoseconds (all threads): a load-robust cost measure next to wall time. */
    static long cpu() {
        return OS.getProcessCpuTime();
    }

    /** FMA loop GFLOP per thread-CPU-second, single thread (the per-core ceiling). */
    static double fmaPerCpu() {
        java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
        for (int i = 0; i < 20_000; i++) GemmCeiling.fmaLoop(200);
        double[] g = new double[3];
        for (int r = 0; r < 3; r++) {
            long c0 = mx.getCurrentThreadCpuTime();
            GemmCeiling.fmaLoop(10_000_000L);
            g[r] = 2.0 * 12 * 16 * 10_000_000L / (mx.getCurrentThreadCpuTime() - c0);
        }
        return GemmCeiling.median(g);
    }

    /** sgemmParallel at the model's shapes (forward x·Wᵀ, dx = dy·W, dW = dyᵀ·x), GFLOP per CPU-s vs the FMA loop. */
    static void gemm(int reps, int n) {
        double peak = fmaPerCpu();
        System.out.printf("FMA loop: %.1f GFLOP per CPU-s (one core)%n", peak);
        int[][] dims = {{512, 512}, {512, 1536}, {1536, 512}, {512, 4096}};  // {in, out}
        SplittableRandom rng = new SplittableRandom(1);
        for (int[] io : dims) {
            int in = io[0], out = io[1];
            float[] x = new float[n * in], w = new float[out * in], y = new float[n * out], dx = new float[n * in], dw = new float[out * in];
            for (int i = 0; i < x.length; i++) x[i] = (float) rng.nextDouble();
            for (int i = 0; i < w.length; i++) w[i] = (float) rng.nextDouble();
            for (int i = 0; i < y.length; i++) y[i] = (float) rng.nextDouble();
            String[] names = {"fwd y=x·Wᵀ", "dx=dy·W", "dW=dyᵀ·x"};
            for (int which = 0; which < 3; which++) {
                double[] g = new double[reps], gw = new double[reps];
                double flops = 2.0 * n * in * out;
                int inner = (int) Math.max(1, 8e9 / flops);
                for (int r = -2; r < reps; r++) {
                    long c0 = cpu(), t0 = System.nanoTime();
                    for (int it = 0; it < inner; it++) switch (which) {
                        case 0 -> org.gsa4j.tensor.Gemm.sgemmParallel(false, true, n, out, in, 1f, x, 0, in, w, 0, in, 0f, y, 0, out);
                        case 1 -> org.gsa4j.tensor.Gemm.sgemmParallel(false, false, n, in, out, 1f, y, 0, out, w, 0, in, 1f, dx, 0, in);
                        default -> org.gsa4j.tensor.Gemm.sgemmParallel(true, false, out, in, n, 1f, y, 0, out, x, 0, in, 1f, dw, 0, in);
                    }
                    long c1 = cpu(), t1 = System.nanoTime();
                    if (r >= 0) {
                        g[r] = flops * inner / (c1 - c0);
                        gw[r] = flops * inner / (t1 - t0);
                    }
                }
                double m = GemmCeiling.median(g);
                System.out.printf("N=%d %4d->%-4d %-10s %6.1f GFLOP per CPU-s (%3.0f%% of FMA loop), wall %6.1f GFLOP/s%n",
                        n, in, out, names[which], m, 100 * m / peak, GemmCeiling.median(gw));
            }
        }
    }

    static void op(int T, int reps) {
        int H = 4, K = 128, V = 128, M = 64;
        SplittableRandom rng = new SplittableRandom(1);
        Tensor q = Tensor.randn(rng, 1, 1, T, H, K), k = Tensor.randn(rng, 1, 1, T, H, K), v = Tensor.randn(rng, 1, 1, T, H, V);
        Tensor f = Tensor.randn(rng, 1, 1, T, H, M), g = Tensor.zeros(1, T, H, M), s = Tensor.zeros(1, T, H, M);
        for (int i = 0; i < f.size(); i++) {
            double logSig = Math.min(f.f[i], 0) - Math.log1p(Math.exp(-Math.abs(f.f[i])));
            g.f[i] = (float) (logSig / 8);
            s.f[i] = (float) (1 - Math.exp(g.f[i]));
        }
        Tensor dO = Tensor.randn(rng, 1, 1, T, H, V);
        double[] fw = new double[reps], fb = new double[reps], cf = new double[reps], cb = new double[reps];
        int inner = Math.max(1, 8192 / T);
        for (int r = -5; r < reps; r++) {
            long c0 = cpu(), t0 = System.nanoTime();
            for (int i = 0; i < inner; i++) GatedSlotAttentionOp.forward(q, k, v, s, g, 1.0, null, null);
            long c1 = cpu(), t1 = System.nanoTime();
            for (int i = 0; i < inner; i++) {
                GatedSlotAttentionOp.Result res = GatedSlotAttentionOp.forward(q, k, v, s, g, 1.0, null, null);
                GatedSlotAttentionOp.backward(res, dO, null, null);
            }
            long c2 = cpu(), t2 = System.nanoTime();
            if (r >= 0) {
                fw[r] = (t1 - t0) / 1e6 / inner;
                fb[r] = (t2 - t1) / 1e6 / inner;
                cf[r] = (c1 - c0) / 1e6 / inner;
                cb[r] = (c2 - c1) / 1e6 / inner;
            }
        }
        double mf = GemmCeiling.median(fw), mb = GemmCeiling.median(fb);
        System.out.printf("GSA op T=%d H=4 K=V=128 M=64: forward %.1f ms wall (%.0f tok/s), %.1f CPU-ms; fwd+bwd %.1f ms wall (%.0f tok/s), %.1f CPU-ms%n",
                T, mf, T / mf * 1e3, GemmCeiling.median(cf), mb, T / mb * 1e3, GemmCeiling.median(cb));
    }

    public static ObjectNode config() {
        ObjectNode c = new ObjectMapper().createObjectNode();
        c.put("model_type", "gsa");
        c.put("hidden_size", 512);
        c.put("num_hidden_layers", 6);
        c.put("num_heads", 4);
        c.put("num_slots", 64);
        c.put("vocab_size", 4096);
        c.put("hidden_ratio", 4);
        c.putNull("intermediate_size");
        c.put("expand_k", 1);
        c.put("expand_v", 1);
        c.put("feature_map", "swish");
        c.put("gate_logit_normalizer", 8);
        c.put("norm_eps", 1e-6);
        c.put("use_norm", true);
        c.put("use_output_gate", false);
        c.put("use_short_conv", false);
        c.put("conv_size", 4);
        c.put("elementwise_affine", true);
        c.put("tie_word_embeddings", false);
        c.put("initializer_range", 0.02);
        c.put("hidden_act", "swish");
        c.putNull("num_kv_heads");
        c.putNull("attn");
        return c;
    }

    /** {@link TrainStepBench}'s step (forward, backward, AdamW), timed in wall and process-CPU time. */
    static void train(int reps) {
        int batch = TrainStepBench.BATCH, T = TrainStepBench.SEQ;
        TrainStepBench bench = new TrainStepBench();
        bench.setup();
        long nParams = 0;
        for (Tensor t : bench.model.params().values()) nParams += t.size();
        double[] ms = new double[reps];
        double[] cms = new double[reps];
        for (int r = -2; r < reps; r++) {
            long c0 = cpu();
            long t0 = System.nanoTime();
            double loss = bench.step();
            long t2 = System.nanoTime();
            long c2 = cpu();
            if (r >= 0) {
                cms[r] = (c2 - c0) / 1e6;
                ms[r] = (t2 - t0) / 1e6;
            }
            if (r == -2) System.out.printf("params %d, loss %.4f%n", nParams, loss);
        }
        double m = GemmCeiling.median(ms);
        double tokS = batch * T / m * 1e3;
        double cm = GemmCeiling.median(cms);
        System.out.printf("train step B=%d T=%d: %.0f ms wall = %.0f tok/s, 6N flops ≈ %.1f GFLOP/s; %.0f CPU-ms = %.1f GFLOP per CPU-s%n",
                batch, T, m, tokS, 6.0 * nParams * tokS / 1e9, cm, 6.0 * nParams * batch * T / cm / 1e6);
    }
}
