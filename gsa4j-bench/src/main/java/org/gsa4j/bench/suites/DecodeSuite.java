package org.gsa4j.bench.suites;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.layers.TokenMixer;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.DecodeState;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.ops.attention.KvCache;
import org.gsa4j.tensor.Tensor;

import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.util.SplittableRandom;

/**
 * Batch-1 generation of a ≈150M-parameter GSA model and a Llama of the same size (random
 * weights), at several context lengths: per decoded token the time, the bandwidth roofline
 * (bytes read per token ÷ measured read bandwidth), the state / KV-cache memory, and the
 * allocation and GC activity of the decode loop.
 *
 * <p>Reaching a long context: the first {@code min(L, prefill)} tokens are real (fed through
 * {@link CausalLM#feed} in chunks); the rest is advanced without computing it — for GSA the
 * position counter moves on (the recurrent state has a fixed size and the step's work does not
 * depend on the position); for Llama random keys and values are appended to every layer's KV cache
 * (so each decoded token attends over L cached tokens, as it would after a real prefill). Only the
 * decode steps after that are timed.
 *
 * <p>Bytes read per token: every weight matrix once except the input embedding table (one row),
 * plus for GSA the recurrent state read and written, for Llama the whole KV cache read.
 */
public final class DecodeSuite {
    static ObjectNode gsaConfig(boolean quick) {
        ObjectNode c = BenchContext.JSON.createObjectNode();
        c.put("model_type", "gsa");
        c.put("vocab_size", quick ? 512 : 32000);
        c.put("hidden_size", quick ? 128 : 768);
        c.put("num_hidden_layers", quick ? 2 : 14);
        c.put("num_heads", quick ? 2 : 4);
        c.put("num_slots", quick ? 16 : 64);
        c.put("intermediate_size", quick ? 256 : 2048);
        c.put("feature_map", "swish");
        c.put("use_short_conv", false);
        c.put("norm_eps", 1e-6);
        c.put("tie_word_embeddings", false);
        c.put("initializer_range", 0.02);
        return c;
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
        int steps = Integer.getInteger("gsa4j.bench.decodeSteps", ctx.quick ? 8 : 32);
        ctx.out.printf("== decode (batch 1, F32 and BF16 weights; %d decoded tokens per point; first %d context tokens prefilled for real)%n",
                steps, prefill);
        for (ModelLoader.WeightFormat format : ModelLoader.WeightFormat.values()) {
            model(ctx, "gsa", gsaConfig(ctx.quick), format, contexts, prefill, steps);
            model(ctx, "llama", llamaConfig(ctx.quick), format, contexts, prefill, steps);
        }
    }

    private void model(BenchContext ctx, String arch, ObjectNode json, ModelLoader.WeightFormat format, int[] contexts, int prefill, int steps) {
        CausalLM model;
        try {
            model = ModelLoader.withWeights(ModelLoader.create(json, 3), format);
        } catch (RuntimeException e) {
            ctx.unavailable("decode", arch + " " + format, "this build cannot create a '" + arch + "' model: " + e.getMessage());
            return;
        }
        long params = 0, weightBytes = 0;
        for (var e : model.params().entrySet()) {
            Tensor t = e.getValue();
            params += t.size();
            // every weight is read once per token, except the input embedding table (one row)
            long bytesPerValue = t.isBf16() ? 2 : 4;
            weightBytes += bytesPerValue * (e.getKey().equals(model.naming.embeddings()) && !model.config.tieWordEmbeddings()
                    ? t.dim(-1) : t.size());
        }
        ctx.out.printf("  %s: %.1fM params, %.1f MB of weights read per token (%s)%n", arch, params / 1e6, weightBytes / 1e6, format);
        long maxHeap = Runtime.getRuntime().maxMemory();
        // One state per model, carried from the shortest context to the longest: the real prefill
        // happens once, each longer context continues from the previous one.
        DecodeState state = model.newState(1);
        SplittableRandom rng = new SplittableRandom(11);
        for (int len : contexts) {
            String name = arch + " " + format + " ctx=" + len;
            long perTokenKv = kvBytesPerToken(model, state);
            if (perTokenKv > 0) {
                long cap = Long.highestOneBit(Math.max(1, len + steps + 256)) * 2;
                long need = perTokenKv * cap * 3 / 2;
                Runtime rt = Runtime.getRuntime();
                long free = maxHeap - (rt.totalMemory() - rt.freeMemory()) + state.bytes();
                if (need > free * 0.9) {
                    ObjectNode r = ctx.row("decode", name);
                    r.put("arch", arch);
                    r.put("context", len);
                    r.put("status", "does not fit");
                    r.put("kv_bytes", perTokenKv * len);
                    r.put("kv_bytes_needed_peak", need);
                    r.put("heap_free_bytes", free);
                    r.put("note", String.format(java.util.Locale.ROOT, "KV cache %.1f GiB (%.1f GiB allocated while it grows) > %.1f GiB of free heap (-Xmx %.1f GiB, machine %.1f GiB): stopped here",
                            perTokenKv * (double) len / (1L << 30), need / (double) (1L << 30), free / (double) (1L << 30),
                            maxHeap / (double) (1L << 30), BenchRunner.memTotal() / (double) (1L << 30)));
                    ctx.out.printf("  %-28s %s%n", name, r.get("note").asText());
                    break;
                }
            }
            try {
                decodeAt(ctx, model, arch, format, state, rng, name, len, prefill, steps, weightBytes, params);
            } catch (OutOfMemoryError e) {
                state = null;
                System.gc();
                ObjectNode r = ctx.row("decode", name);
                r.put("arch", arch);
                r.put("context", len);
                r.put("status", "does not fit");
                r.put("note", "OutOfMemoryError while building the context (-Xmx " + (maxHeap >> 20) + " MiB): stopped here");
                ctx.out.printf("  %-28s %s%n", name, r.get("note").asText());
                break;
            } catch (ReflectiveOperationException | RuntimeException e) {
                ctx.unavailable("decode", name, "cannot reach context " + len + ": " + e);
                break;
            }
        }
    }

    /** Brings the state to {@code len} tokens of context (real prefill up to {@code prefill}), then times decoding. */
    private void decodeAt(BenchContext ctx, CausalLM model, String arch, ModelLoader.WeightFormat format, DecodeState state, SplittableRandom rng, String name, int len,
                          int prefill, int steps, long weightBytes, long params) throws ReflectiveOperationException {
        int vocab = model.config.vocabSize();
        int real = (int) Math.max(0, Math.min(len, prefill) - state.position()), chunk = 256;
        for (int done = 0; done < real; done += chunk) {
            int n = Math.min(chunk, real - done);
            int[] ids = new int[n];
            for (int i = 0; i < n; i++) ids[i] = rng.nextInt(vocab);
            model.feed(ids, 1, n, state);
        }
        // the tokens decoded at a shorter context count towards this one
        if (len > state.position()) advance(state, (int) (len - state.position()), rng);
        if (state.position() != len) throw new IllegalStateException("position " + state.position() + " != " + len);
        long stateBytes = state.bytes();
        long at = state.position();
        int next = rng.nextInt(vocab);
        // Warm-up at this context until C2 has compiled the step: interpreted Vector-API code boxes
        // every vector (about a megabyte per token here), compiled code allocates nothing. The tape
        // path (architectures without a single-token step) never gets there and warms up fully.
        var tmx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        int[] id = new int[1];
        int burst = 16;
        long perToken = Long.MAX_VALUE;
        for (int round = 0; round < (ctx.quick ? 40 : 25) && perToken > 1024; round++) {
            long before = tmx.getCurrentThreadAllocatedBytes();
            for (int i = 0; i < burst; i++) next = decodeOne(model, next, state, id);
            perToken = (tmx.getCurrentThreadAllocatedBytes() - before) / burst;
        }
        long gcCount0 = gcCount(), gcTime0 = gcTime(), alloc0 = tmx.getCurrentThreadAllocatedBytes();
        long cpu0 = Measure.processCpuNanos(), wall0 = System.nanoTime();
        double[] t = new double[steps];
        for (int i = 0; i < steps; i++) {
            long t0 = System.nanoTime();
            next = decodeOne(model, next, state, id);
            t[i] = (System.nanoTime() - t0) * 1e-9;
        }
        double wall = (System.nanoTime() - wall0) * 1e-9;
        double cpuShare = (Measure.processCpuNanos() - cpu0) * 1e-9 / (wall * ctx.threads);
        long alloc = tmx.getCurrentThreadAllocatedBytes() - alloc0;
        long gcs = gcCount() - gcCount0, gcMs = gcTime() - gcTime0;
        double med = Measure.median(t);
        boolean attention = kvBytesPerToken(model, state) > 0;
        // bytes per token: weights + (GSA) state read and written / (Llama) the KV cache read
        long bytes = weightBytes + (attention ? stateBytes : 2 * stateBytes);
        double roof = bytes / (ctx.readGBs * 1e9);
        ObjectNode r = ctx.row("decode", name);
        r.put("arch", arch);
        r.put("weights", format.name());
        r.put("context", len);
        r.put("decoded_from", at);
        r.put("prefilled_for_real", Math.min(len, prefill));
        r.put("params", params);
        r.put("seconds_per_token", med);
        r.put("tokens_per_s", 1 / med);
        r.put("min_s", java.util.Arrays.stream(t).min().orElse(Double.NaN));
        r.put("max_s", java.util.Arrays.stream(t).max().orElse(Double.NaN));
        r.put("reps", steps);
        r.put("state_bytes", stateBytes);
        r.put("bytes_per_token", bytes);
        r.put("roofline_s", roof);
        r.put("frac_roofline", roof / med);
        r.put("gbs", bytes / med / 1e9);
        r.put("alloc_bytes_per_token_calling_thread", (double) alloc / steps);
        r.put("gc_count", gcs);
        r.put("gc_ms", gcMs);
        r.put("cpu_share", cpuShare);
        ctx.out.printf("  %-28s %8.2f ms/token %7.1f tok/s  roofline %6.2f ms (%5.1f%%)  state %9.1f MiB  alloc %6.1f KiB/token  GC %d (%d ms)  cpu share %.2f%n",
                name, med * 1e3, 1 / med, roof * 1e3, 100 * roof / med, stateBytes / (double) (1 << 20),
                alloc / 1024.0 / steps, gcs, gcMs, cpuShare);
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

    /** KV-cache bytes per token over all layers (0 for the recurrent models). */
    static long kvBytesPerToken(CausalLM model, DecodeState state) {
        try {
            long n = 0;
            for (Object layer : layers(state)) {
                for (KvCache c : caches(layer)) {
                    Field kv = KvCache.class.getDeclaredField("kvHeads"), hd = KvCache.class.getDeclaredField("headDim");
                    kv.setAccessible(true);
                    hd.setAccessible(true);
                    n += 2L * 4 * kv.getInt(c) * hd.getInt(c);
                }
            }
            return n;
        } catch (ReflectiveOperationException e) {
            return 0;
        }
    }

    /** Moves the state's position on by {@code tokens}; KV caches get random keys and values. */
    static void advance(DecodeState state, int tokens, SplittableRandom rng) throws ReflectiveOperationException {
        for (Object layer : layers(state)) {
            for (KvCache c : caches(layer)) {
                Field kv = KvCache.class.getDeclaredField("kvHeads"), hd = KvCache.class.getDeclaredField("headDim");
                kv.setAccessible(true);
                hd.setAccessible(true);
                int block = Math.min(tokens, 4096);
                Tensor k = Tensor.randn(rng, 0.5, 1, block, kv.getInt(c), hd.getInt(c));
                Tensor v = Tensor.randn(rng, 0.5, 1, block, kv.getInt(c), hd.getInt(c));
                for (int done = 0; done < tokens; done += block) {
                    int n = Math.min(block, tokens - done);
                    if (n == block) c.append(k, v);
                    else c.append(Tensor.of(java.util.Arrays.copyOf(k.f, k.size() / block * n), 1, n, kv.getInt(c), hd.getInt(c)),
                            Tensor.of(java.util.Arrays.copyOf(v.f, v.size() / block * n), 1, n, kv.getInt(c), hd.getInt(c)));
                }
            }
        }
        Method adv = DecodeState.class.getDeclaredMethod("advance", int.class);
        adv.setAccessible(true);
        adv.invoke(state, tokens);
    }

    static Object[] layers(DecodeState state) throws ReflectiveOperationException {
        Field f = DecodeState.class.getDeclaredField("layers");
        f.setAccessible(true);
        return (TokenMixer.MixerState[]) f.get(state);
    }

    static java.util.List<KvCache> caches(Object layer) throws IllegalAccessException {
        java.util.List<KvCache> out = new java.util.ArrayList<>();
        for (Class<?> c = layer.getClass(); c != null && c != Object.class; c = c.getSuperclass()) {
            for (Field f : c.getDeclaredFields()) {
                if (KvCache.class.isAssignableFrom(f.getType())) {
                    f.setAccessible(true);
                    Object v = f.get(layer);
                    if (v != null) out.add((KvCache) v);
                }
            }
        }
        return out;
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
