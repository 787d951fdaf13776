package org.gsa4j.bench.suites;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.config.GsaConfig;
import org.gsa4j.config.ModelSize;
import org.gsa4j.io.SafeTensors;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.train.AdamW;
import org.gsa4j.train.LmEval;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Full training steps (forward, loss, backward, AdamW) of a GSA language model of ≈21M
 * parameters at B=1, T=512, in Java and in the PyTorch peer (chunked and naive operator), on the
 * same weights (written with {@link ModelLoader#save}) and the same token batch. The losses are
 * compared first (relative 1e-4); then Java and the peers are timed alternately, one step each
 * per round, with the same thread count.
 *
 * <p>Model FLOPs per step = 6·N·tokens + 3·(GSA operator forward FLOPs, {@link Flops})·layers,
 * with N the parameters that take part in matrix products (all but the input embedding table,
 * which is a lookup). MFU = model FLOPs per second ÷ the measured FMA peak.
 */
public final class TrainSuite {
    static final double REL_TOL = 1e-4;

    /**
     * The bench's training model (about 21M parameters; {@code quick}: a tiny one), also used by the
     * JMH TrainStepBench: GSA's training preset (swish feature map, τ = 8, no short convolution).
     */
    public static GsaConfig config(boolean quick) {
        return GsaConfig.preset(quick ? new ModelSize(512, 128, 2, 2, 16, 256) : new ModelSize(8192, 384, 8, 4, 64, 1024));
    }

    public void run(BenchContext ctx) {
        ctx.needCeilings();
        GsaConfig config = config(ctx.quick);
        int batch = 1, seqLen = ctx.quick ? 128 : 512;
        CausalLM model = ModelLoader.create(config, 1);
        long params = 0;
        for (Tensor t : model.params().values()) params += t.size();
        long embed = model.params().get(model.naming.embeddings()).size();
        int d = config.hiddenSize(), heads = config.numHeads(), m = config.numSlots();
        int layers = config.numLayers(), tokens = batch * seqLen;
        double opFlops = 3 * Flops.gsaForwardPerToken(heads, d / heads, d / heads, m) * tokens * layers;
        double stepFlops = 6.0 * (params - embed) * tokens + opFlops;
        ctx.out.printf("== train (GSA LM %.1fM params: d=%d L=%d H=%d M=%d vocab=%d; B=%d T=%d; %.1f GFLOP/step)%n",
                params / 1e6, d, layers, heads, m, config.vocabSize(), batch, seqLen, stepFlops / 1e9);
        int[] ids = new int[tokens];
        SplittableRandom rng = new SplittableRandom(7);
        for (int i = 0; i < ids.length; i++) ids[i] = rng.nextInt(config.vocabSize());

        ObjectNode modelRow = ctx.row("train", "model");
        modelRow.put("params", params);
        modelRow.put("params_in_matmuls", params - embed);
        modelRow.put("batch", batch);
        modelRow.put("seq_len", seqLen);
        modelRow.put("flops_per_step", stepFlops);
        modelRow.put("op_flops_per_step", opFlops);
        modelRow.set("config", config.toJson());

        // The Java loss on the initial weights, before any update.
        Tape inf = Tape.inference();
        double javaLoss = model.loss(inf, model.bind(inf), ids, batch, seqLen).value.get(0);

        Path dir;
        try {
            dir = Files.createTempDirectory("gsa4j-bench-train");
            ModelLoader.save(model, dir, SafeTensors.DType.F32);
            ObjectNode b = BenchContext.JSON.createObjectNode();
            b.put("batch", batch);
            b.put("seq_len", seqLen);
            var arr = b.putArray("ids");
            for (int id : ids) arr.add(id);
            Files.writeString(dir.resolve("ids.json"), b.toString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }

        Runnable javaStep = javaStep(model, ids, batch, seqLen);

        Peer peer = null;
        String peerWhy = null;
        try {
            peer = Peer.start(ctx, dir, dir.resolve("ids.json"));
        } catch (IOException e) {
            peerWhy = e.getMessage();
        }
        try {
            boolean lossOk = true;
            ObjectNode check = ctx.row("train", "loss check");
            check.put("java", javaLoss);
            if (peer != null) {
                JsonNode blas = peer.ready.get("blas");
                ObjectNode pr = ctx.row("train", "peer");
                pr.put("torch", peer.ready.path("torch").asText());
                pr.put("threads", peer.ready.path("threads").asInt());
                pr.set("blas", blas);
                pr.put("python", ctx.python);
                ctx.out.printf("  peer: torch %s, %d threads, BLAS %s %s%n", peer.ready.path("torch").asText(),
                        peer.ready.path("threads").asInt(), blas.path("blas_info").asText(), blas.path("libraries"));
                for (String mode : new String[]{"chunk", "naive"}) {
                    double l = peer.call("loss " + mode).get("loss").asDouble();
                    double rel = Math.abs(l - javaLoss) / Math.abs(javaLoss);
                    check.put(mode, l);
                    check.put("rel_diff_" + mode, rel);
                    lossOk &= rel <= REL_TOL;
                    // the part of the loss above ln(vocab) (uniform prediction): a more sensitive comparison
                    double lnV = Math.log(config.vocabSize());
                    check.put("rel_diff_excess_" + mode, Math.abs((l - lnV) - (javaLoss - lnV)) / Math.abs(javaLoss - lnV));
                }
                check.put("tolerance", REL_TOL);
                if (!lossOk) check.put("status", "failed: losses differ by more than " + REL_TOL);
                ctx.out.printf("  loss on the same batch: java %.8f, chunk peer %.8f (rel %.1e; of loss - ln V %.1e), naive peer %.8f (rel %.1e; %.1e) -> %s%n",
                        javaLoss, check.get("chunk").asDouble(), check.get("rel_diff_chunk").asDouble(), check.get("rel_diff_excess_chunk").asDouble(),
                        check.get("naive").asDouble(), check.get("rel_diff_naive").asDouble(), check.get("rel_diff_excess_naive").asDouble(),
                        lossOk ? "same" : "MISMATCH");
            } else {
                check.put("note", "peer not run: " + peerWhy);
                ctx.out.printf("  loss java %.7f; PyTorch peer skipped: %s%n", javaLoss, peerWhy);
            }

            int rounds = Integer.getInteger("gsa4j.bench.trainRounds", ctx.quick ? 2 : 7);
            WarmUp w = warmUp(javaStep, ctx.quick ? 3 : 40);
            ObjectNode warm = ctx.row("train", "java warm-up");
            warm.put("steps", w.steps());
            warm.put("settled", w.settled());
            ctx.out.printf("  java warm-up: %d steps (%s)%n", w.steps(), w.settled() ? "the last one ran with under 1 ms of JIT compilation" : "still compiling at the step limit");
            if (peer != null) {
                peer.call("time chunk 1");
                peer.call("time naive 1");
            }
            List<Double> tj = new ArrayList<>(), tc = new ArrayList<>(), tn = new ArrayList<>();
            double cpuShare = 0, cpuSeconds = 0;
            for (int r = 0; r < rounds; r++) {
                Measure.Stat s = Measure.time(0, 1, ctx.threads, javaStep);
                tj.add(s.median());
                cpuShare += s.cpuShare() / rounds;
                cpuSeconds += s.cpuShare() * s.median() * ctx.threads;
                if (peer != null) {
                    tc.add(peer.call("time chunk 1").get("times").get(0).asDouble());
                    tn.add(peer.call("time naive 1").get("times").get(0).asDouble());
                }
                ctx.out.printf("    round %d/%d: java %.3f s%s%n", r + 1, rounds, tj.get(r),
                        peer == null ? "" : String.format(java.util.Locale.ROOT, ", chunk peer %.3f s, naive peer %.3f s", tc.get(r), tn.get(r)));
            }
            double javaS = med(tj);
            ObjectNode jr = stepRow(ctx, "java", javaS, tj, tokens, stepFlops);
            jr.put("cpu_share", cpuShare);
            jr.put("gflops_per_cpu_s", stepFlops * rounds / cpuSeconds / 1e9);
            jr.put("mfu_per_cpu_s", stepFlops * rounds / cpuSeconds / 1e9 / (ctx.peakGflops / ctx.threads));
            ctx.out.printf("  java per CPU-second: %.1f GFLOP (MFU %.1f%% of a core's peak per CPU-second; cpu share %.2f)%n",
                    jr.get("gflops_per_cpu_s").asDouble(), 100 * jr.get("mfu_per_cpu_s").asDouble(), cpuShare);
            // Evaluation is forward only: the same model and tokens through eval's scorer (chunks of T, the
            // recurrent state carried), against the training step's tokens/s.
            Runnable evalPass = () -> new LmEval.Scorer(model, seqLen).score(ids);
            for (int i = 0; i < 3; i++) evalPass.run();
            List<Double> te = new ArrayList<>();
            for (int r = 0; r < rounds; r++) te.add(Measure.time(0, 1, ctx.threads, evalPass).median());
            double evalS = med(te);
            ObjectNode er = ctx.row("train", "eval");
            er.put("seconds", evalS);
            er.put("tokens_per_s", tokens / evalS);
            er.put("vs_training", javaS / evalS);
            er.put("target_vs_training", 2.5);
            ctx.out.printf("  eval (forward only, eval's scorer): %.3f s, %,.0f tokens/s, %.2fx the training step's tokens/s (target 2.5x)%n",
                    evalS, tokens / evalS, javaS / evalS);
            if (peer != null) {
                double chunkS = med(tc), naiveS = med(tn);
                stepRow(ctx, "pytorch chunk", chunkS, tc, tokens, stepFlops);
                stepRow(ctx, "pytorch naive", naiveS, tn, tokens, stepFlops);
                ObjectNode ratio = ctx.row("train", "speedup");
                ratio.put("vs_chunk", chunkS / javaS);
                ratio.put("vs_naive", naiveS / javaS);
                double jMin = tj.stream().mapToDouble(Double::doubleValue).min().orElse(Double.NaN);
                ratio.put("vs_chunk_fastest", tc.stream().mapToDouble(Double::doubleValue).min().orElse(Double.NaN) / jMin);
                ratio.put("vs_naive_fastest", tn.stream().mapToDouble(Double::doubleValue).min().orElse(Double.NaN) / jMin);
                ratio.put("target_vs_chunk", 1.5);
                ratio.put("target_vs_naive", 10.0);
                if (!lossOk) ratio.put("status", "failed: loss check failed");
                ctx.out.printf("  java is %.2fx the chunked peer (target 1.5x), %.2fx the naive peer (target 10x)%n",
                        chunkS / javaS, naiveS / javaS);
            } else {
                ctx.unavailable("train", "pytorch chunk", peerWhy);
                ctx.unavailable("train", "pytorch naive", peerWhy);
            }
        } catch (IOException e) {
            ctx.unavailable("train", "pytorch peer", e.getMessage());
        } finally {
            if (peer != null) peer.close();
            deleteTree(dir);
        }
    }

    /**
     * One training step of {@code model} on the token batch: forward, loss, backward, and the
     * trainer's optimizer with the peer's settings (torch.optim.AdamW, weight decay on every parameter).
     */
    static Runnable javaStep(CausalLM model, int[] ids, int batch, int seqLen) {
        AdamW opt = new AdamW(0.9, 0.95, 1e-8, 0.1, name -> true);
        return () -> {
            Tape tape = Tape.recording();
            Map<String, Var> vars = model.bind(tape);
            Var loss = model.loss(tape, vars, ids, batch, seqLen);
            tape.backward(loss);
            Map<String, float[]> grads = new HashMap<>();
            vars.forEach((name, v) -> {
                if (v.grad() != null) grads.put(name, v.grad().f);
            });
            opt.step(model.params(), grads, 1e-4, 1.0);
        };
    }

    /** Untimed steps run before timing, and whether the JIT had gone quiet by the last one. */
    record WarmUp(int steps, boolean settled) {}

    /**
     * Runs untimed Java steps until one passes with under 1 ms of JIT compilation (at least 3, at
     * most {@code max}). After three steps C2 was still compiling: steps 4–14 took about 0.55 s,
     * later ones 0.42–0.5 s (a 30-step scratch run).
     */
    static WarmUp warmUp(Runnable step, int max) {
        var jit = ManagementFactory.getCompilationMXBean();
        boolean timed = jit != null && jit.isCompilationTimeMonitoringSupported();
        for (int n = 1; ; n++) {
            long before = timed ? jit.getTotalCompilationTime() : 0;
            step.run();
            boolean quiet = timed && jit.getTotalCompilationTime() - before < 1;
            if ((n >= 3 && quiet) || n >= max) return new WarmUp(n, quiet);
        }
    }

    private static ObjectNode stepRow(BenchContext ctx, String who, double seconds, List<Double> all, int tokens, double flops) {
        ObjectNode r = ctx.row("train", who);
        r.put("step_s", seconds);
        r.put("min_s", all.stream().mapToDouble(Double::doubleValue).min().orElse(Double.NaN));
        r.put("max_s", all.stream().mapToDouble(Double::doubleValue).max().orElse(Double.NaN));
        r.put("reps", all.size());
        r.put("tokens_per_s", tokens / seconds);
        r.put("gflops", flops / seconds / 1e9);
        r.put("mfu", flops / seconds / 1e9 / ctx.peakGflops);
        ctx.out.printf("  %-16s %8.3f s/step  %8.0f tokens/s  %6.1f GFLOP/s  MFU %5.1f%%%n",
                who, seconds, tokens / seconds, flops / seconds / 1e9, 100 * flops / seconds / 1e9 / ctx.peakGflops);
        return r;
    }

    private static double med(List<Double> x) {
        return Measure.median(x.stream().mapToDouble(Double::doubleValue).toArray());
    }

    static void deleteTree(Path dir) {
        try (var s = Files.walk(dir)) {
            s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // temp files; best effort
        }
    }
}
