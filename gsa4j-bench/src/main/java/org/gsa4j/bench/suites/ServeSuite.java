package org.gsa4j.bench.suites;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.io.SafeTensors;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.DecodeState;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.serve.ServeOptions;
import org.gsa4j.serve.Server;
import org.gsa4j.serve.Sessions;
import org.gsa4j.serve.StateStore;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * {@code gsa4j serve} under a bounded load over loopback, on the decode suite's ≈150M-parameter
 * GSA model (random weights, F32), server and clients in this process (the clients are virtual
 * threads reading Server-Sent Events; their work is small against a decoding pass).
 *
 * <ol>
 * <li><b>Streams</b>: 1, 4, 16 and 64 concurrent streaming clients, each sending requests one
 *     after the other (a short prompt, a fixed number of tokens): aggregate tokens/s over the
 *     level's wall time (prefill and ramp included), time to first token and inter-token latency
 *     (p50, p99, as the clients see them), errors.</li>
 * <li><b>Resume</b>: a session whose state holds 100K tokens of history is resumed with a
 *     one-token prompt; its time to first token against a fresh one-token prompt's. The history
 *     is built with {@link DecodeState#skip} after a real prefill of its first tokens (a real
 *     100K-token prefill takes minutes on a few cores; GSA's state has the same size and the step
 *     the same work at any position, so the resume costs the same).</li>
 * <li><b>Memory</b>: 10,000 short requests (streaming and not, some on sessions, some extending
 *     a cached prefix) from 64 clients, in rounds of 1,000; after each round, with nothing in
 *     flight, the heap used after a full GC (server and clients: one process).</li>
 * </ol>
 * Targets (issue 16): aggregate throughput at 16 streams ≥ 6× one stream's; the resumed
 * session's time to first token ≤ 2× the fresh prompt's; no heap growth after warm-up (the first
 * two rounds), taken as ≤ 2 % (at least 8 MiB) between the second round and the last.
 */
public final class ServeSuite {
    static final int[] STREAMS = {1, 4, 16, 64};
    static final String SUITE = "serve";

    public void run(BenchContext ctx) {
        boolean quick = ctx.quick;
        int tokens = quick ? 8 : 48, requestsPerClient = 2, history = quick ? 1000 : 100_000, prefill = quick ? 16 : 512;
        int memoryRequests = quick ? 400 : 10_000, round = quick ? 100 : 1000;
        ctx.out.printf("== serve (gsa4j serve over loopback, %s model, max batch 64; %d tokens per streamed request, %d requests per client)%n",
                quick ? "tiny" : "150M", tokens, requestsPerClient);
        Path dir;
        try {
            dir = Files.createTempDirectory("gsa4j-serve-bench");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        try {
            Path modelDir = dir.resolve("model"), sessions = dir.resolve("sessions");
            CausalLM created = ModelLoader.create(DecodeSuite.gsaConfig(quick), 3);
            ModelLoader.save(created, modelDir, SafeTensors.DType.F32);
            created = null;
            ServeOptions options = ServeOptions.defaults(modelDir).withPort(0).withStateStore(sessions.toString())
                    .withLimits(64, 64, 64, 1 << 20, 32768, 4096);
            try (Server server = Server.start(options)) {
                Client client = new Client(server.port(), options.modelName());
                int vocab = DecodeSuite.gsaConfig(quick).vocabSize();
                // Warm-up: the decoding pass compiled at small and large batches.
                load(client, 16, 1, tokens, vocab, 7);
                load(client, 1, 1, tokens, vocab, 8);
                streams(ctx, client, tokens, requestsPerClient, vocab);
                resume(ctx, client, modelDir, sessions, history, prefill, vocab);
                memory(ctx, client, memoryRequests, round, vocab);
            }
        } finally {
            deleteTree(dir);
        }
    }

    // ---------------------------------------------------------------- streams

    /** What one level of concurrency measured. */
    record Level(int streams, int requests, int errors, long tokens, double seconds, double[] ttft, double[] itl) {}

    private void streams(BenchContext ctx, Client client, int tokens, int requestsPerClient, int vocab) {
        ctx.out.printf("  %-12s %8s %9s %10s %10s %10s %10s %7s%n", "streams", "tokens/s", "speedup", "TTFT p50", "TTFT p99", "ITL p50", "ITL p99", "errors");
        double single = Double.NaN;
        for (int n : STREAMS) {
            Level l = load(client, n, requestsPerClient, tokens, vocab, 100 + n);
            double rate = l.tokens() / l.seconds();
            if (n == 1) single = rate;
            ObjectNode r = ctx.row(SUITE, "streams=" + n);
            r.put("streams", n);
            r.put("requests", l.requests());
            r.put("errors", l.errors());
            r.put("tokens", l.tokens());
            r.put("seconds", l.seconds());
            r.put("tokens_per_s", rate);
            r.put("speedup_vs_1_stream", rate / single);
            r.put("ttft_p50_s", percentile(l.ttft(), 0.50));
            r.put("ttft_p99_s", percentile(l.ttft(), 0.99));
            r.put("itl_p50_s", percentile(l.itl(), 0.50));
            r.put("itl_p99_s", percentile(l.itl(), 0.99));
            ctx.out.printf("  %-12d %8.1f %8.2fx %9.1fms %9.1fms %9.1fms %9.1fms %7d%n", n, rate, rate / single,
                    1e3 * percentile(l.ttft(), 0.5), 1e3 * percentile(l.ttft(), 0.99), 1e3 * percentile(l.itl(), 0.5), 1e3 * percentile(l.itl(), 0.99), l.errors());
        }
    }

    /** {@code streams} clients, each sending {@code requests} streaming requests one after the other. */
    private static Level load(Client client, int streams, int requests, int tokens, int vocab, long seed) {
        List<Client.Streamed> all = new ArrayList<>();
        AtomicInteger errors = new AtomicInteger();
        long t0 = System.nanoTime();
        try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<List<Client.Streamed>>> futures = new ArrayList<>();
            for (int c = 0; c < streams; c++) {
                SplittableRandom rng = new SplittableRandom(seed * 1000 + c);
                futures.add(clients.submit(() -> {
                    List<Client.Streamed> mine = new ArrayList<>();
                    for (int i = 0; i < requests; i++) {
                        try {
                            Client.Streamed s = client.stream(randomTokens(rng, 16, vocab), tokens, null);
                            if (s.tokens() != tokens) errors.incrementAndGet();
                            mine.add(s);
                        } catch (RuntimeException e) {
                            errors.incrementAndGet();
                        }
                    }
                    return mine;
                }));
            }
            for (Future<List<Client.Streamed>> f : futures) all.addAll(f.get());
        } catch (Exception e) {
            throw new IllegalStateException("the load's clients failed: " + e, e);
        }
        double seconds = (System.nanoTime() - t0) * 1e-9;
        long generated = all.stream().mapToLong(Client.Streamed::tokens).sum();
        double[] ttft = all.stream().mapToDouble(Client.Streamed::ttft).toArray();
        double[] itl = all.stream().flatMapToDouble(s -> Arrays.stream(s.gaps())).toArray();
        return new Level(streams, all.size(), errors.get(), generated, seconds, ttft, itl);
    }

    // ---------------------------------------------------------------- resume

    private void resume(BenchContext ctx, Client client, Path modelDir, Path sessions, int history, int prefill, int vocab) {
        SplittableRandom rng = new SplittableRandom(21);
        CausalLM model = ModelLoader.load(modelDir);
        DecodeState state = model.newState(1);
        long t0 = System.nanoTime();
        int[] real = randomTokens(rng, prefill, vocab);
        model.feed(real, 1, real.length, state);
        double prefillSeconds = (System.nanoTime() - t0) * 1e-9;
        state.skip(history - prefill, rng.nextLong());
        String session = "bench-history-" + history;
        try (StateStore store = StateStore.open(sessions.toString(), 1L << 30)) {
            store.put(session, Sessions.snapshot(state, new int[] {rng.nextInt(vocab)}));
        }
        long stateBytes = state.bytes();
        model = null;
        state = null;
        int reps = ctx.quick ? 5 : 9;
        double[] fresh = new double[reps], resumed = new double[reps];
        for (int i = 0; i < reps; i++) {   // alternated, so that a burst of other load hits both
            fresh[i] = client.stream(randomTokens(rng, 1, vocab), 1, null).ttft();
            resumed[i] = client.stream(randomTokens(rng, 1, vocab), 1, session).ttft();
        }
        double f = percentile(fresh, 0.5), r = percentile(resumed, 0.5);
        ObjectNode row = ctx.row(SUITE, "resume history=" + history);
        row.put("history_tokens", history);
        row.put("history_prefilled_for_real", prefill);
        row.put("history_prefill_s", prefillSeconds);
        row.put("state_bytes", stateBytes);
        row.put("reps", reps);
        row.put("fresh_ttft_p50_s", f);
        row.put("resumed_ttft_p50_s", r);
        row.put("resumed_over_fresh", r / f);
        ctx.out.printf("  resume a %,d-token session (state %.1f MiB): TTFT %.1f ms vs %.1f ms for a fresh one-token prompt (%.2fx; medians of %d)%n",
                history, stateBytes / 1048576.0, 1e3 * r, 1e3 * f, r / f, reps);
    }

    // ---------------------------------------------------------------- memory

    private void memory(BenchContext ctx, Client client, int requests, int round, int vocab) {
        int clients = 64;
        int[][] prefixes = new int[4][];
        SplittableRandom pick = new SplittableRandom(31);
        for (int i = 0; i < prefixes.length; i++) prefixes[i] = randomTokens(pick, 64, vocab);
        AtomicInteger errors = new AtomicInteger();
        List<double[]> points = new ArrayList<>();   // requests done, heap after GC, RSS
        long t0 = System.nanoTime();
        for (int done = 0; done < requests; done += round) {
            int first = done;
            try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
                for (int c = 0; c < clients; c++) {
                    int me = c;
                    pool.submit(() -> {
                        for (int i = first + me; i < first + round; i += clients) {
                            SplittableRandom rng = new SplittableRandom(1_000_003L * i);
                            try {
                                int[] prompt = i % 100 == 50 ? concat(prefixes[rng.nextInt(prefixes.length)], randomTokens(rng, 2, vocab))
                                        : randomTokens(rng, 1 + rng.nextInt(3), vocab);
                                String session = i % 20 == 0 ? "bench-memory-" + me : null;
                                int max = 1 + rng.nextInt(2);
                                boolean ok = i % 2 == 0 ? client.stream(prompt, max, session).tokens() == max : client.whole(prompt, max, session) == max;
                                if (!ok) errors.incrementAndGet();
                            } catch (RuntimeException e) {
                                errors.incrementAndGet();
                            }
                        }
                    });
                }
            }
            points.add(new double[] {first + round, heapAfterGc(), rss()});
        }
        double seconds = (System.nanoTime() - t0) * 1e-9;
        int warm = Math.min(1, points.size() - 1);   // after the second round
        double base = points.get(warm)[1], last = points.getLast()[1], maxAfter = base;
        for (int i = warm; i < points.size(); i++) maxAfter = Math.max(maxAfter, points.get(i)[1]);
        double allowed = Math.max(8 * 1048576.0, 0.02 * base);
        ObjectNode row = ctx.row(SUITE, "memory requests=" + requests);
        row.put("requests", requests);
        row.put("errors", errors.get());
        row.put("seconds", seconds);
        row.put("requests_per_s", requests / seconds);
        row.put("heap_after_warmup_bytes", base);
        row.put("heap_last_bytes", last);
        row.put("heap_max_after_warmup_bytes", maxAfter);
        row.put("growth_after_warmup_bytes", last - base);
        row.put("growth_allowed_bytes", allowed);
        ArrayNode series = row.putArray("series");
        for (double[] p : points) series.addObject().put("requests", (long) p[0]).put("heap_after_gc_bytes", (long) p[1]).put("rss_bytes", (long) p[2]);
        ctx.out.printf("  memory over %,d requests (%.0f s, %d errors): heap after GC %.1f MiB after warm-up, %.1f MiB at the end (%+.1f MiB; max %.1f MiB)%n",
                requests, seconds, errors.get(), base / 1048576, last / 1048576, (last - base) / 1048576, maxAfter / 1048576);
        ctx.out.print("    heap after GC per " + round + " requests (MiB):");
        for (double[] p : points) ctx.out.printf(" %.1f", p[1] / 1048576);
        ctx.out.println();
        targets(ctx, last - base <= allowed, errors.get());
    }

    /** The three targets, from this run's rows. */
    private void targets(BenchContext ctx, boolean memoryFlat, int memoryErrors) {
        JsonNode one = find(ctx, "streams=1"), sixteen = find(ctx, "streams=16");
        JsonNode res = null;
        for (JsonNode r : ctx.doc.path("suites").path(SUITE)) if (r.path("name").asText().startsWith("resume")) res = r;
        double speedup = sixteen.path("tokens_per_s").asDouble() / one.path("tokens_per_s").asDouble();
        double ratio = res == null ? Double.NaN : res.path("resumed_over_fresh").asDouble();
        int errors = memoryErrors;
        for (JsonNode r : ctx.doc.path("suites").path(SUITE)) errors += r.path("name").asText().startsWith("streams=") ? r.path("errors").asInt() : 0;
        ObjectNode t = ctx.row(SUITE, "targets");
        t.put("throughput_16_over_1", speedup);
        t.put("throughput_target", 6.0);
        t.put("throughput_met", speedup >= 6.0);
        t.put("resume_over_fresh_ttft", ratio);
        t.put("resume_target", 2.0);
        t.put("resume_met", ratio <= 2.0);
        t.put("memory_flat", memoryFlat);
        t.put("errors", errors);
        ctx.out.printf("  targets: 16 streams %.2fx one stream's throughput (>= 6: %s); resume TTFT %.2fx a fresh prompt's (<= 2: %s); memory flat: %s; errors %d%n",
                speedup, speedup >= 6 ? "met" : "NOT met", ratio, ratio <= 2 ? "met" : "NOT met", memoryFlat ? "yes" : "NO", errors);
    }

    private static JsonNode find(BenchContext ctx, String name) {
        for (JsonNode r : ctx.doc.path("suites").path(SUITE)) if (r.path("name").asText().equals(name)) return r;
        throw new IllegalStateException("no row " + name);
    }

    // ---------------------------------------------------------------- helpers

    /** Heap used after a full collection (twice: what the first frees may let the second free more). */
    private static double heapAfterGc() {
        System.gc();
        System.gc();
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }

    /** The process's resident memory (Linux), or -1. */
    private static double rss() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) return 1024.0 * Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        } catch (IOException | RuntimeException ignored) {
            // not Linux
        }
        return -1;
    }

    static double percentile(double[] values, double p) {
        if (values.length == 0) return Double.NaN;
        double[] v = values.clone();
        Arrays.sort(v);
        return v[(int) Math.min(v.length - 1, Math.max(0, Math.ceil(p * v.length) - 1))];
    }

    private static int[] randomTokens(SplittableRandom rng, int n, int vocab) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = rng.nextInt(vocab);
        return t;
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> walk = Files.walk(dir)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // a temporary directory left behind
        }
    }

    /** The OpenAI-style client of the bench: token ids in, token ids out, timestamps of each event. */
    static final class Client {
        /** A streamed request: its tokens, the time to the first one, the gaps between the next ones (seconds). */
        record Streamed(int tokens, double ttft, double[] gaps) {}

        private final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();
        private final URI completions;
        private final String model;

        Client(int port, String model) {
            this.completions = URI.create("http://127.0.0.1:" + port + "/v1/completions");
            this.model = model;
        }

        private String body(int[] prompt, int maxTokens, String session, boolean stream) {
            ObjectNode b = BenchContext.JSON.createObjectNode().put("model", model).put("max_tokens", maxTokens).put("temperature", 0)
                    .put("ignore_eos", true).put("return_token_ids", true).put("stream", stream);
            ArrayNode p = b.putArray("prompt");
            for (int t : prompt) p.add(t);
            if (session != null) b.put("session_id", session);
            return b.toString();
        }

        Streamed stream(int[] prompt, int maxTokens, String session) {
            HttpRequest req = HttpRequest.newBuilder(completions).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(body(prompt, maxTokens, session, true))).build();
            long sent = System.nanoTime(), last = sent;
            double ttft = Double.NaN;
            List<Double> gaps = new ArrayList<>();
            int tokens = 0;
            boolean done = false;
            try {
                HttpResponse<Stream<String>> r = http.send(req, HttpResponse.BodyHandlers.ofLines());
                if (r.statusCode() != 200) throw new IllegalStateException("status " + r.statusCode());
                try (Stream<String> lines = r.body()) {
                    for (String line : (Iterable<String>) lines::iterator) {
                        if (!line.startsWith("data: ")) continue;
                        if (line.equals("data: [DONE]")) {
                            done = true;
                            continue;
                        }
                        long now = System.nanoTime();
                        JsonNode choice = BenchContext.JSON.readTree(line.substring(6)).path("choices").path(0);
                        int n = choice.path("token_ids").size();
                        if (n == 0) continue;
                        if (tokens == 0) ttft = (now - sent) * 1e-9;
                        else gaps.add((now - last) * 1e-9);
                        last = now;
                        tokens += n;
                    }
                }
            } catch (IOException | InterruptedException e) {
                throw new IllegalStateException(e);
            }
            if (!done) throw new IllegalStateException("the stream ended without [DONE]");
            return new Streamed(tokens, ttft, gaps.stream().mapToDouble(Double::doubleValue).toArray());
        }

        /** A non-streaming request; returns the number of tokens generated. */
        int whole(int[] prompt, int maxTokens, String session) {
            HttpRequest req = HttpRequest.newBuilder(completions).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(body(prompt, maxTokens, session, false))).build();
            try {
                HttpResponse<String> r = http.send(req, HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() != 200) throw new IllegalStateException("status " + r.statusCode() + ": " + r.body());
                return BenchContext.JSON.readTree(r.body()).path("usage").path("completion_tokens").asInt();
            } catch (IOException | InterruptedException e) {
                throw new IllegalStateException(e);
            }
        }
    }
}
