package org.gsa4j.bench.suites;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.config.GsaConfig;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.DecodeState;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.ops.gsa.GatedSlotAttention;
import org.gsa4j.tensor.Gemm;
import org.gsa4j.tensor.Parallel;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * How the engine's parallel work scales with the thread count, in one process: for 1, 2, 4, … up
 * to the machine's threads ({@link Parallel#useThreads}), the time of an empty parallel job, of
 * GEMM at every model shape, of the GSA operator at B=1 with H=1 and H=4, of a training step and
 * of a decoded token, with the speed-up over one thread and how many tasks each parallel job was
 * cut into (GEMM: by its plan; the rest: jobs counted while it ran). The thread counts are timed
 * round-robin, one repetition of each per round, so that other load spreads over all of them;
 * figures are medians over the rounds. {@code -Dgsa4j.bench.scalingGroups=job,gemm,op,train,decode}
 * times only the named groups, {@code -Dgsa4j.bench.scalingRounds=N} sets the rounds (5, quick 2).
 */
public final class ScalingSuite {
    /** One measured thing: a repetition runs {@code once} {@code inner} times. */
    private static final class Item {
        final String name, group;
        final Runnable once;
        /** Tasks per job as a plan gives them (GEMM), else negative: counted while running. */
        final java.util.function.IntUnaryOperator plannedTasks;
        int inner = 1;
        double[][] seconds;
        double[] cpu, wall;
        long[] jobs, chunks, calls;

        Item(String group, String name, Runnable once, java.util.function.IntUnaryOperator plannedTasks) {
            this.group = group;
            this.name = name;
            this.once = once;
            this.plannedTasks = plannedTasks;
        }
    }

    /** 1, 2, 4, … below {@code max}, then {@code max}. */
    static int[] threadCounts(int max) {
        List<Integer> out = new ArrayList<>();
        for (int t = 1; t < max; t *= 2) out.add(t);
        out.add(max);
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    public void run(BenchContext ctx) {
        int[] counts = threadCounts(ctx.threads);
        ctx.out.println("== scaling (thread counts " + java.util.Arrays.toString(counts) + "; speed-up over 1 thread; tasks per parallel job)");
        List<Item> items = new ArrayList<>();
        java.util.Set<String> groups = java.util.Set.of(System.getProperty("gsa4j.bench.scalingGroups", "job,gemm,op,train,decode").split(","));
        if (groups.contains("job")) items.add(new Item("job", "empty parallel job (4 tasks per thread)",
                () -> Parallel.forRange(4 * Parallel.threads(), i -> { }), t -> t == 1 ? 0 : 4 * t));
        if (groups.contains("gemm")) gemmItems(ctx, items);
        if (groups.contains("op")) opItems(ctx, items);
        if (groups.contains("train")) trainItem(ctx, items);
        if (groups.contains("decode")) decodeItem(ctx, items);

        int rounds = Integer.getInteger("gsa4j.bench.scalingRounds", ctx.quick ? 2 : 5);
        double budget = ctx.quick ? 0.01 : 0.2;
        int before = Parallel.threads();
        try {
            for (Item it : items) { // warm up at every count, then size a repetition by the 1-thread time
                for (int t : counts) {
                    Parallel.useThreads(t);
                    it.once.run();
                }
                Parallel.useThreads(1);
                it.inner = Measure.innerFor(budget, it.once);
                it.seconds = new double[counts.length][rounds];
                it.cpu = new double[counts.length];
                it.wall = new double[counts.length];
                it.jobs = new long[counts.length];
                it.chunks = new long[counts.length];
                it.calls = new long[counts.length];
            }
            for (int r = 0; r < rounds; r++) {
                for (Item it : items) {
                    for (int ti = 0; ti < counts.length; ti++) {
                        Parallel.useThreads(counts[ti]);
                        long j0 = Parallel.jobsRun(), c0 = Parallel.chunksRun();
                        long cpu0 = Measure.processCpuNanos(), t0 = System.nanoTime();
                        for (int i = 0; i < it.inner; i++) it.once.run();
                        long t1 = System.nanoTime();
                        it.cpu[ti] += (Measure.processCpuNanos() - cpu0) * 1e-9;
                        it.wall[ti] += (t1 - t0) * 1e-9;
                        it.seconds[ti][r] = (t1 - t0) * 1e-9 / it.inner;
                        it.jobs[ti] += Parallel.jobsRun() - j0;
                        it.chunks[ti] += Parallel.chunksRun() - c0;
                        it.calls[ti] += it.inner;
                    }
                }
            }
        } finally {
            Parallel.useThreads(before);
        }
        for (Item it : items) report(ctx, it, counts);
    }

    private static void report(BenchContext ctx, Item it, int[] counts) {
        ObjectNode r = ctx.row("scaling", it.name);
        r.put("group", it.group);
        ArrayNode threads = r.putArray("threads"), secs = r.putArray("seconds"), speedup = r.putArray("speedup"),
                share = r.putArray("cpu_share"), jobs = r.putArray("jobs_per_call"), tasks = r.putArray("tasks_per_job");
        double one = Measure.median(it.seconds[0]);
        StringBuilder line = new StringBuilder(String.format(java.util.Locale.ROOT, "  %-52s", it.name));
        for (int ti = 0; ti < counts.length; ti++) {
            int t = counts[ti];
            double s = Measure.median(it.seconds[ti]);
            double cpuShare = it.cpu[ti] / (it.wall[ti] * t);
            double jobsPerCall = it.jobs[ti] / (double) it.calls[ti];
            double tasksPerJob = it.plannedTasks != null ? it.plannedTasks.applyAsInt(t)
                    : it.jobs[ti] == 0 ? 0 : it.chunks[ti] / (double) it.jobs[ti];
            threads.add(t);
            secs.add(s);
            speedup.add(one / s);
            share.add(cpuShare);
            jobs.add(jobsPerCall);
            tasks.add(tasksPerJob);
            line.append(String.format(java.util.Locale.ROOT, " | %d: %s ×%.2f share %.2f, %s tasks/job", t, time(s), one / s, cpuShare,
                    tasksPerJob == 0 ? "no" : String.format(java.util.Locale.ROOT, "%.0f", tasksPerJob)));
        }
        ctx.out.println(line);
    }

    static String time(double s) {
        if (s < 1e-3) return String.format(java.util.Locale.ROOT, "%.2f µs", s * 1e6);
        if (s < 1) return String.format(java.util.Locale.ROOT, "%.2f ms", s * 1e3);
        return String.format(java.util.Locale.ROOT, "%.3f s", s);
    }

    private static void gemmItems(BenchContext ctx, List<Item> items) {
        int layers = ctx.quick ? 1 : GemmSuite.LAYERS.length;
        for (int li = 0; li < layers; li++) {
            Object[] l = GemmSuite.LAYERS[li];
            int tokens = (Integer) l[1], in = (Integer) l[2], out = (Integer) l[3];
            if (ctx.quick) tokens = 128;
            Object[][] products = {
                    {"fwd", false, true, tokens, out, in},
                    {"dx", false, false, tokens, in, out},
                    {"dW", true, false, out, in, tokens}};
            for (Object[] p : products) {
                boolean tA = (Boolean) p[1], tB = (Boolean) p[2];
                int m = (Integer) p[3], n = (Integer) p[4], k = (Integer) p[5];
                SplittableRandom rng = new SplittableRandom(1);
                float[] a = GemmSuite.rand(rng, m * k), b = GemmSuite.rand(rng, k * n), c = new float[m * n];
                int lda = tA ? m : k, ldb = tB ? k : n;
                items.add(new Item("gemm", String.format(java.util.Locale.ROOT, "GEMM %s %d×%d×%d (%s)", p[0], m, n, k, ((String) l[0]).split(" ")[0]),
                        () -> Gemm.sgemmParallel(tA, tB, m, n, k, 1f, a, 0, lda, b, 0, ldb, 0f, c, 0, n),
                        t -> Gemm.tasksFor(tA, tB, m, n, k, t)));
            }
        }
    }

    private static void opItems(BenchContext ctx, List<Item> items) {
        int t = ctx.quick ? 256 : 8192;
        for (int h : new int[] {1, 4}) {
            OpSuite.Inputs in = new OpSuite.Inputs(t, h);
            items.add(new Item("op", "GSA operator B=1 H=" + h + " T=" + t + " forward",
                    () -> GatedSlotAttention.forward(in.q, in.k, in.v, in.s, in.g, 1.0, null, null), null));
            items.add(new Item("op", "GSA operator B=1 H=" + h + " T=" + t + " forward+backward", () -> {
                GatedSlotAttention.Result r = GatedSlotAttention.forward(in.q, in.k, in.v, in.s, in.g, 1.0, null, null);
                GatedSlotAttention.backward(r, in.dO, null, null);
            }, null));
        }
    }

    private static void trainItem(BenchContext ctx, List<Item> items) {
        GsaConfig config = TrainSuite.config(ctx.quick);
        int seqLen = ctx.quick ? 128 : 512;
        CausalLM model = ModelLoader.create(config, 1);
        int[] ids = new int[seqLen];
        SplittableRandom rng = new SplittableRandom(7);
        for (int i = 0; i < ids.length; i++) ids[i] = rng.nextInt(config.vocabSize());
        Runnable step = TrainSuite.javaStep(model, ids, 1, seqLen);
        TrainSuite.warmUp(step, ctx.quick ? 2 : 20);
        items.add(new Item("train", "training step (21M GSA LM, B=1, T=" + seqLen + ")", step, null));
    }

    private static void decodeItem(BenchContext ctx, List<Item> items) {
        CausalLM model = ModelLoader.withWeights(ModelLoader.create(DecodeSuite.gsaConfig(ctx.quick), 3), ModelLoader.WeightFormat.F32);
        DecodeState state = model.newState(1);
        int context = ctx.quick ? 64 : 1024;
        int[] prompt = new int[context];
        SplittableRandom rng = new SplittableRandom(11);
        for (int i = 0; i < prompt.length; i++) prompt[i] = rng.nextInt(model.config.vocabSize());
        model.feed(prompt, 1, context, state);
        int[] id = new int[1], last = {prompt[context - 1]};
        items.add(new Item("decode", "decoding, GSA F32 (" + String.format(java.util.Locale.ROOT, "%.1fM", paramsOf(model) / 1e6)
                + " params), per token at context " + context, () -> last[0] = DecodeSuite.decodeOne(model, last[0], state, id), null));
    }

    private static long paramsOf(CausalLM model) {
        long n = 0;
        for (var t : model.params().values()) n += t.size();
        return n;
    }
}
