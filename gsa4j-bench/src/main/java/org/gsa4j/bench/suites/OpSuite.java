package org.gsa4j.bench.suites;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.ops.gsa.GatedSlotAttention;
import org.gsa4j.ops.gsa.SlotGate;
import org.gsa4j.tensor.Tensor;

import java.util.SplittableRandom;

/**
 * The GSA operator alone ({@link GatedSlotAttention}), B=1, H=4, K=V=128, M=64: chunk form
 * forward and forward+backward at T ∈ {512, 2048, 8192}, tokens/s and GFLOP/s ({@link Flops}),
 * and the recurrent step's time per token. Gates as in the layer: g = logsigmoid(f)/8, s = 1 − exp(g).
 */
public final class OpSuite {
    public static final int H = 4, K = 128, V = 128, M = 64;

    public void run(BenchContext ctx) {
        ctx.needCeilings();
        ctx.out.println("== op (GSA operator, B=1 H=4 K=V=128 M=64, chunk C=64)");
        int[] lengths = ctx.quick ? new int[]{256} : new int[]{512, 2048, 8192};
        int reps = ctx.quick ? 3 : 7;
        // Untimed first (C2 compiles the chunk kernels): else the first case, forward at the
        // shortest T, measured partly interpreted code (62 ms against 42 ms for forward+backward).
        Inputs warm = new Inputs(lengths[0]);
        long until = System.nanoTime() + (ctx.quick ? 200_000_000L : 2_000_000_000L);
        while (System.nanoTime() < until) {
            GatedSlotAttention.Result r = GatedSlotAttention.forward(warm.q, warm.k, warm.v, warm.s, warm.g, 1.0, null, null);
            GatedSlotAttention.backward(r, warm.dO, null, null);
        }
        for (int t : lengths) {
            Inputs in = new Inputs(t);
            double fwdFlops = Flops.gsaForwardPerToken(H, K, V, M) * t;
            Runnable fwd = () -> GatedSlotAttention.forward(in.q, in.k, in.v, in.s, in.g, 1.0, null, null);
            Runnable fb = () -> {
                GatedSlotAttention.Result r = GatedSlotAttention.forward(in.q, in.k, in.v, in.s, in.g, 1.0, null, null);
                GatedSlotAttention.backward(r, in.dO, null, null);
            };
            report(ctx, "forward T=" + t, "forward", t, fwdFlops, timed(ctx, fwd, reps));
            report(ctx, "forward+backward T=" + t, "forward+backward", t, 3 * fwdFlops, timed(ctx, fb, reps));
        }
        // Recurrent step: one token at a time through the fixed-size state.
        SplittableRandom rng = new SplittableRandom(2);
        Tensor q1 = Tensor.randn(rng, 1, 1, H, K), k1 = Tensor.randn(rng, 1, 1, H, K), v1 = Tensor.randn(rng, 1, 1, H, V);
        Tensor g1 = Tensor.zeros(1, H, M), s1 = Tensor.zeros(1, H, M);
        g1.fill(-0.05);
        s1.fill(1 - Math.exp(-0.05));
        Tensor hk = Tensor.zeros(1, H, K, M), hv = Tensor.zeros(1, H, M, V), o1 = Tensor.zeros(1, H, V);
        Runnable step = () -> GatedSlotAttention.step(q1, k1, v1, s1, g1, 1.0, hk, hv, o1);
        for (int i = 0; i < 20_000; i++) step.run();
        int inner = ctx.quick ? 2_000 : 20_000;
        Measure.Stat s = Measure.time(1, reps, ctx.threads, () -> { for (int i = 0; i < inner; i++) step.run(); });
        double perToken = s.median() / inner;
        double gflops = Flops.gsaStepPerToken(H, K, V, M) / perToken / 1e9;
        ObjectNode r = ctx.row("op", "recurrent step");
        r.put("kind", "step");
        r.put("seconds_per_token", perToken);
        r.put("tokens_per_s", 1 / perToken);
        r.put("gflops", gflops);
        r.put("frac_peak", gflops / ctx.peakGflops);
        long stateBytes = 4L * H * (K * M + M * V);
        r.put("state_bytes", stateBytes);
        // The step reads and writes both memories once: its bandwidth bound if they were in DRAM.
        r.put("state_gbs", 2.0 * stateBytes / perToken / 1e9);
        BenchContext.put(r, s);
        ctx.putPerCpu(r, Flops.gsaStepPerToken(H, K, V, M) * inner, s);
        ctx.out.printf("  %-30s %9.2f µs/token  %7.1f GFLOP/s  %5.1f%% of peak  (state %d KiB, cpu share %.2f)%n",
                "recurrent step", perToken * 1e6, gflops, 100 * gflops / ctx.peakGflops, stateBytes >> 10, s.cpuShare());
    }

    private static Measure.Stat timed(BenchContext ctx, Runnable body, int reps) {
        int inner = Measure.innerFor(ctx.quick ? 0.02 : 0.25, body);
        return Measure.time(1, reps, ctx.threads, () -> { for (int i = 0; i < inner; i++) body.run(); }).scaled(inner);
    }

    private static void report(BenchContext ctx, String name, String kind, int t, double flops, Measure.Stat s) {
        double gflops = flops / s.median() / 1e9;
        ObjectNode r = ctx.row("op", name);
        r.put("kind", kind);
        r.put("T", t);
        r.put("tokens_per_s", t / s.median());
        r.put("gflops", gflops);
        r.put("frac_peak", gflops / ctx.peakGflops);
        r.put("flops", flops);
        BenchContext.put(r, s);
        ctx.putPerCpu(r, flops, s);
        ctx.out.printf("  %-30s %10.0f tokens/s  %7.1f GFLOP/s  %5.1f%% of peak  (%.2f ms, cpu share %.2f; per CPU-second %.1f%% of peak)%n",
                name, t / s.median(), gflops, 100 * gflops / ctx.peakGflops, s.median() * 1e3, s.cpuShare(), 100 * r.path("frac_peak_per_cpu_s").asDouble());
    }

    /** Operator inputs of length T with the layer's gate parameterisation (shared with the JMH GsaOpBench). */
    public static final class Inputs {
        public final Tensor q, k, v, s, g, dO;

        public Inputs(int t) {
            this(t, H);
        }

        /** B=1, h heads. */
        public Inputs(int t, int h) {
            SplittableRandom rng = new SplittableRandom(1);
            q = Tensor.randn(rng, 1, 1, t, h, K);
            k = Tensor.randn(rng, 1, 1, t, h, K);
            v = Tensor.randn(rng, 1, 1, t, h, V);
            Tensor f = Tensor.randn(rng, 1, 1, t, h, M);
            g = Tensor.zeros(1, t, h, M);
            s = Tensor.zeros(1, t, h, M);
            SlotGate.forward(f.f, g.f, s.f, 0, f.size(), 1f / 8);
            dO = Tensor.randn(rng, 1, 1, t, h, V);
        }
    }
}
