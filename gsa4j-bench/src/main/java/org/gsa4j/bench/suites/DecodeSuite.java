package org.gsa4j.bench.suites;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.config.GsaConfig;
import org.gsa4j.config.ModelConfig;
import org.gsa4j.config.ModelSize;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.DecodeState;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.models.ModelRegistry;
import org.gsa4j.tensor.Tensor;

import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.util.SplittableRandom;

/**
 * Batch-1 generation of a ≈150M-parameter GSA model and a Llama of the same size (random
 * weights), at several context lengths: per decoded token the time, the bandwidth roofline
 * (bytes read per token ÷ measured read bandwidth), the state / KV-cache memory, and the
 * allocation and GC activity of the decode loop.
 *
 * <p>Reaching a long context: the first {@code min(L, prefill)} tokens are real (fed through
 * {@link CausalLM#feed} in chunks); the rest is advanced without computing it
 * ({@link DecodeState#skip}) — for GSA the position counter moves on (the recurrent state has a
 * fixed size and the step's work does not depend on the position); for Llama random keys and
 * values are appended to every layer's KV cache (so each decoded token attends over L cached
 * tokens, as it would after a real prefill). Only the decode steps after that are timed.
 *
 * <p>Bytes read per token ({@link DecodeState#bytesReadPerToken}): every weight matrix once except
 * the input embedding table (one row), plus for GSA the recurrent state read and written, for
 * Llama the whole KV cache read.
 */
public final class DecodeSuite {
    /** GSA's training preset (swish feature map, τ = 8, no short convolution) of the decoding model's size. */
    static ModelConfig gsaConfig(boolean quick) {
        return GsaConfig.preset(quick ? new ModelSize(512, 128, 2, 2, 16, 256) : new ModelSize(32000, 768, 14, 4, 64, 2048));
    }

    static ObjectNode llamaConfig(boolean quick) {
        ObjectNode c = BenchContext.JSON.createObjectNode();
        c.put("model_type", "llama");
        c.put("architectures", "LlamaForCausalLM");
        c.put("vocab_size", quick ? 512 : 32000);
        c.put("hidden_size", quick ? 128 : 768);
        c.put("num_hidden_layers", quick ? 2 : 14);
        c.put("num_attention_heads", quick ? 2 : 12);
        c.put("num_key_value_heads", quick ? 2 : 12);
        c.put("head_dim", 64);
        c.put("intermediate_size", quick ? 256 : 2048);
        c.put("rms_norm_eps", 1e-6);
        c.put("hidden_act", "silu");
        c.put("attention_bias", false);
        c.put("mlp_bias", false);
        c.put("rope_theta", 10000.0);
        c.put("max_position_embeddings", 1 << 20);
        c.put("tie_word_embeddings", false);
        c.put("initializer_range", 0.02);
        return c;
    }

    public void run(BenchContext ctx) {
        ctx.needCeilings();
        int[] contexts = ctx.quick ? new int[]{256, 1024} : new int[]{1024, 16384, 262144, 1048576};
        String only = System.getProperty("gsa4j.bench.decodeContexts"); // e.g. for profiling one length
        if (only != null) contexts = java.util.Arrays.stream(only.split(",")).mapToInt(x -> Integer.parseInt(x.trim())).toArray();
        int prefill = ctx.quick ? 32 : 1024;
        int steps = Integer.getInteger("gsa4j.bench.decodeSteps", ctx.quick ? 8 : 128);
        ctx.out.printf("== decode (batch 1, F32 and BF16 weights; %d decoded tokens per point; first %d context tokens prefilled for real)%n",
                steps, prefill);
        for (ModelLoader.WeightFormat format : ModelLoader.WeightFormat.values()) {
            model(ctx, "gsa", gsaConfig(ctx.quick), format, contexts, prefill, steps);
            model(ctx, "llama", ModelRegistry.fromJson(llamaConfig(ctx.quick)), format, contexts, prefill, steps);
        }
    }

    private void model(BenchContext ctx, String arch, ModelConfig config, ModelLoader.WeightFormat format, int[] contexts, int prefill, int steps) {
        CausalLM model;
        try {
            model = ModelLoader.withWeights(ModelLoader.create(config, 3), format);
        } catch (RuntimeException e) {
            ctx.unavailable("decode", arch + " " + format, "this build cannot create a '" + arch + "' model: " + e.getMessage());
            return;
        }
        long params = 0, weightBytes = model.weightBytesReadPerToken();
        for (Tensor t : model.params().values()) params += t.size();
        ctx.out.printf("  %s: %.1fM params, %.1f MB of weights read per token (%s)%n", arch, params / 1e6, weightBytes / 1e6, format);
        long maxHeap = Runtime.getRuntime().maxMemory();
        // The contexts are reached one after the other (the real prefill happens once, each longer
        // context continues from a copy of the previous one) and kept, then timed round-robin.
        DecodeState state = model.newState(1);
        SplittableRandom rng = new SplittableRandom(11);
        java.util.List<Point> points = new java.util.ArrayList<>();
        Runnable stop = null;
        for (int len : contexts) {
            String name = arch + " " + format + " ctx=" + len;
            long perTokenKv = state.bytesPerContextToken();
            if (perTokenKv > 0) {
                long cap = Long.highestOneBit(Math.max(1, len + steps + 256)) * 2;
                long need = perTokenKv * cap * 3 / 2;
                Runtime rt = Runtime.getRuntime();
                long free = maxHeap - (rt.totalMemory() - rt.freeMemory());
                if (need > free * 0.9) {
                    int at = len;
                    String note = String.format(java.util.Locale.ROOT, "KV cache %.1f GiB (%.1f GiB allocated while it grows) > %.1f GiB of free heap (-Xmx %.1f GiB, machine %.1f GiB): stopped here",
                            perTokenKv * (double) len / (1L << 30), need / (double) (1L << 30), free / (double) (1L << 30),
                            maxHeap / (double) (1L << 30), BenchRunner.memTotal() / (double) (1L << 30));
                    stop = () -> {
                        ObjectNode r = ctx.row("decode", name);
                        r.put("arch", arch);
                        r.put("context", at);
                        r.put("status", "does not fit");
                        r.put("kv_bytes", perTokenKv * at);
                        r.put("kv_bytes_needed_peak", need);
                        r.put("heap_free_bytes", free);
                        r.put("note", note);
                        ctx.out.printf("  %-28s %s%n", name, note);
                    };
                    break;
                }
            }
            try {
                if (!points.isEmpty()) state = state.copy();
                reach(model, state, rng, len, prefill);
                points.add(new Point(name, len, state));
            } catch (OutOfMemoryError e) {
                state = null;
                System.gc();
                int at = len;
                stop = () -> {
                    ObjectNode r = ctx.row("decode", name);
                    r.put("arch", arch);
                    r.put("context", at);
                    r.put("status", "does not fit");
                    r.put("note", "OutOfMemoryError while building the context (-Xmx " + (maxHeap >> 20) + " MiB): stopped here");
                    ctx.out.printf("  %-28s %s%n", name, r.get("note").asText());
                };
                break;
            } catch (RuntimeException e) {
                String why = "cannot reach context " + len + ": " + e;
                stop = () -> ctx.unavailable("decode", name, why);
                break;
            }
        }
        if (!points.isEmpty()) time(ctx, model, arch, format, points, prefill, steps, params);
        if (stop != null) stop.run(); // the length that could not be reached, after the measured ones
    }

    /** A context length reached, with its own state. */
    private record Point(String name, int context, DecodeState state) {}

    /** Brings the state to {@code len} tokens of context: real prefill up to {@code prefill}, the rest advanced. */
    private static void reach(CausalLM model, DecodeState state, SplittableRandom rng, int len, int prefill) {
        int vocab = model.config.vocabSize();
        int real = (int) Math.max(0, Math.min(len, prefill) - state.position()), chunk = 256;
        for (int done = 0; done < real; done += chunk) {
            int n = Math.min(chunk, real - done);
            int[] ids = new int[n];
            for (int i = 0; i < n; i++) ids[i] = rng.nextInt(vocab);
            model.feed(ids, 1, n, state);
        }
        if (len > state.position()) state.skip((int) (len - state.position()), rng.nextLong());
        if (state.position() != len) throw new IllegalStateException("position " + state.position() + " != " + len);
    }

    /** Timed rounds: each round measures the read bandwidth, then decodes a few tokens at every context. */
    static final int ROUNDS = 8;

    /**
     * Times decoding at every point, round-robin: per round the read-only bandwidth is measured
     * (the roofline of that moment: on a shared machine it moves by ±20 % within minutes), then
     * {@code steps / ROUNDS} tokens are decoded at each context in turn, so that a burst of other
     * load spreads over all lengths instead of one. Per point: the median over its tokens, against
     * the median bandwidth of the same rounds and against the ceilings suite's.
     */
    private void time(BenchContext ctx, CausalLM model, String arch, ModelLoader.WeightFormat format, java.util.List<Point> points,
                      int prefill, int steps, long params) {
        int vocab = model.config.vocabSize(), n = points.size(), per = Math.max(1, steps / ROUNDS);
        var tmx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        int[] id = new int[1];
        int[] next = new int[n];
        SplittableRandom rng = new SplittableRandom(13);
        for (int i = 0; i < n; i++) next[i] = rng.nextInt(vocab);
        // Warm-up (on the first point) until C2 has compiled the step: interpreted Vector-API code
        // boxes every vector (about a megabyte per token here), compiled code allocates nothing.
        // The tape path (architectures without a single-token step) never gets there and warms up fully.
        int burst = 16;
        long perToken = Long.MAX_VALUE;
        for (int round = 0; round < (ctx.quick ? 40 : 25) && perToken > 1024; round++) {
            long before = tmx.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < burst; i++) next[0] = decodeOne(model, next[0], points.get(0).state(), id);
            perToken = (tmx.getCurrentThreadAllocatedBytes() - before) / burst;
        }
        // a copied state makes its step buffers at its first step: not part of the steady state
        for (int i = 1; i < n; i++)
            for (int k = 0; k < 2; k++) next[i] = decodeOne(model, next[i], points.get(i).state(), id);
        long[] from = new long[n];
        for (int i = 0; i < n; i++) from[i] = points.get(i).state().position();
        float[][] bw = bandwidthArrays(ctx.quick);
        double[] gbs = new double[ROUNDS];
        double[][] t = new double[n][ROUNDS * per];
        long[] alloc = new long[n], gcs = new long[n], gcMs = new long[n];
        double[] wall = new double[n], cpu = new double[n];
        for (int r = 0; r < ROUNDS; r++) {
            gbs[r] = readGBs(ctx.threads, bw);
            // each round starts at another context: the one decoded right after the bandwidth pass
            // (cold caches, a parked worker) ran 3–11 % slower than the others in three bfloat16 runs
            for (int q = 0; q < n; q++) {
                int i = (r + q) % n;
                DecodeState st = points.get(i).state();
                // the MXBean reads allocate: only the token loop lies between a0 and a1
                long gc0 = gcCount(), gt0 = gcTime(), c0 = Measure.processCpuNanos(), w0 = System.nanoTime();
                long a0 = tmx.getCurrentThreadAllocatedBytes();
                for (int k = 0; k < per; k++) {
                    long t0 = System.nanoTime();
                    next[i] = decodeOne(model, next[i], st, id);
                    t[i][r * per + k] = (System.nanoTime() - t0) * 1e-9;
                }
                long a1 = tmx.getCurrentThreadAllocatedBytes();
                wall[i] += (System.nanoTime() - w0) * 1e-9;
                cpu[i] += (Measure.processCpuNanos() - c0) * 1e-9;
                alloc[i] += a1 - a0;
                gcs[i] += gcCount() - gc0;
                gcMs[i] += gcTime() - gt0;
            }
        }
        double roundGBs = Measure.median(gbs);
        for (int i = 0; i < n; i++) {
            Point pt = points.get(i);
            DecodeState state = pt.state();
            int tokens = ROUNDS * per;
            double med = Measure.median(t[i]);
            double cpuShare = cpu[i] / (wall[i] * ctx.threads);
            long stateBytes = state.bytes();
            // bytes per token: weights + (GSA) state read and written / (Llama) the KV cache read
            long bytes = state.bytesReadPerToken();
            double roof = bytes / (roundGBs * 1e9), roofCeiling = bytes / (ctx.readGBs * 1e9);
            ObjectNode r = ctx.row("decode", pt.name());
            r.put("arch", arch);
            r.put("weights", format.name());
            r.put("context", pt.context());
            r.put("decoded_from", from[i]);
            r.put("prefilled_for_real", Math.min(pt.context(), prefill));
            r.put("params", params);
            r.put("seconds_per_token", med);
            r.put("tokens_per_s", 1 / med);
            r.put("min_s", java.util.Arrays.stream(t[i]).min().orElse(Double.NaN));
            r.put("max_s", java.util.Arrays.stream(t[i]).max().orElse(Double.NaN));
            r.put("reps", tokens);
            r.put("rounds", ROUNDS);
            r.put("state_bytes", stateBytes);
            r.put("bytes_per_token", bytes);
            r.put("read_gbs_same_rounds", roundGBs);
            r.put("roofline_s", roof);
            r.put("frac_roofline", roof / med);
            r.put("roofline_s_ceiling", roofCeiling);
            r.put("frac_roofline_ceiling", roofCeiling / med);
            r.put("gbs", bytes / med / 1e9);
            r.put("alloc_bytes_per_token_calling_thread", (double) alloc[i] / tokens);
            r.put("gc_count", gcs[i]);
            r.put("gc_ms", gcMs[i]);
            r.put("cpu_share", cpuShare);
            ctx.out.printf("  %-28s %8.2f ms/token %7.1f tok/s  roofline %6.2f ms (%5.1f%%; %5.1f%% of the ceilings suite's)  state %9.1f MiB  alloc %6.1f KiB/token  GC %d (%d ms)  cpu share %.2f%n",
                    pt.name(), med * 1e3, 1 / med, roof * 1e3, 100 * roof / med, 100 * roofCeiling / med, stateBytes / (double) (1 << 20),
                    alloc[i] / 1024.0 / tokens, gcs[i], gcMs[i], cpuShare);
        }
        ctx.out.printf("  read bandwidth in these rounds: %s GB/s (median %.1f)%n", java.util.Arrays.toString(
                java.util.Arrays.stream(gbs).map(g -> Math.round(g * 10) / 10.0).toArray()), roundGBs);
    }

    /** Two arrays for the per-round read bandwidth (128 MiB each, 16 MiB quick), far above the L3. */
    static float[][] bandwidthArrays(boolean quick) {
        int n = quick ? 4 << 20 : 32 << 20;
        float[] a = new float[n], b = new float[n];
        java.util.Arrays.fill(a, 1f);
        java.util.Arrays.fill(b, 2f);
        return new float[][] {a, b};
    }

    /** Read-only bandwidth now: the best of three passes of the ceilings suite's read kernel (STREAM's convention). */
    static double readGBs(int threads, float[][] arrays) {
        double[] g = new double[3];
        java.util.concurrent.atomic.DoubleAdder sink = new java.util.concurrent.atomic.DoubleAdder();
        for (int rep = 0; rep < g.length; rep++) {
            long t0 = System.nanoTime();
            CeilingsSuite.split(threads, arrays[0].length, (lo, hi) -> {
                for (float[] x : arrays) sink.add(CeilingsSuite.sumBlocks(x, lo, hi));
            });
            g[rep] = 4.0 * arrays.length * arrays[0].length / ((System.nanoTime() - t0) * 1e-9) / 1e9;
        }
        if (sink.sum() == 42) System.out.print("");
        return java.util.Arrays.stream(g).max().orElse(Double.NaN);
    }

    /**
     * One greedy token: the allocation-free single-token step where the architecture has one, else
     * the tape path. {@code id} is a reused one-element buffer.
     */
    static int decodeOne(CausalLM model, int token, DecodeState state, int[] id) {
        id[0] = token;
        return argmax(model.canStep(state) ? model.step(id, state) : model.feed(id, 1, 1, state));
    }

    static int argmax(Tensor logits) {
        int best = 0;
        for (int i = 1; i < logits.size(); i++) if (logits.f[i] > logits.f[best]) best = i;
        return best;
    }

    static long gcCount() {
        long n = 0;
        for (GarbageCollectorMXBean b : ManagementFactory.getGarbageCollectorMXBeans()) n += Math.max(0, b.getCollectionCount());
        return n;
    }

    static long gcTime() {
        long n = 0;
        for (GarbageCollectorMXBean b : ManagementFactory.getGarbageCollectorMXBeans()) n += Math.max(0, b.getCollectionTime());
        return n;
    }
}
