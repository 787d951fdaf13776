package org.gsa4j.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * SIGTERM (what {@link Process#destroy} sends) on a {@code gsa4j serve} process with requests in
 * flight: the server stops taking requests (503, {@code /health} too), lets a request that ends
 * within the drain time finish, cancels the ones that would not at its end, writes every
 * session's state, and exits. Nothing is lost: a new server resuming each session continues it
 * exactly as one request holding the whole conversation (every token its client received) would.
 */
class DrainTest {
    @TempDir
    static Path tmp;
    static final HttpClient HTTP = HttpClient.newHttpClient();
    static final int DRAIN_SECONDS = 3;

    /** A conversation: what was sent, and the tokens and end its client received. */
    record Seen(int[] prompt, int[] generated, String finishReason, long endedNanos) {}

    @Test
    void sigtermFinishesOrCancelsWhatIsInFlightAndWritesEverySession() throws Exception {
        Path modelDir = TinyModel.write(tmp.resolve("tiny"), false);
        String store = tmp.resolve("sessions").toString();
        Path log = tmp.resolve("server.log");
        Process process = new ProcessBuilder(StoresTest.serverCommand(modelDir, store, DRAIN_SECONDS, "--max-tokens", "100000000", "--max-batch", "4"))
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        Seen streamed, whole, finishing;
        long sigterm;
        int finishingTokens;
        try {
            int port = port(process, log);
            // This machine's speed, to size a request that lasts well under the drain time.
            long t0 = System.nanoTime();
            StoresTest.post(port, ServerTest.completion(ServerTest.PROMPT, 2000));
            double secondsPerToken = (System.nanoTime() - t0) * 1e-9 / 2000;
            finishingTokens = (int) Math.max(50, 0.4 / secondsPerToken);

            int[] a = {3, 1, 4, 1, 5}, b = {2, 7, 1, 8}, c = {1, 6, 1, 8, 0};
            CompletableFuture<Seen> streaming = CompletableFuture.supplyAsync(() -> stream(port, a, "drain-stream"));
            CompletableFuture<Seen> blocking = sendWhole(port, b, LimitsTest.ENDLESS, "drain-whole");
            assertTrue(LimitsTest.waitFor(port, "gsa4j_active_sequences", 2), "two endless requests are generating");
            CompletableFuture<Seen> ending = sendWhole(port, c, finishingTokens, "drain-finishing");
            assertTrue(LimitsTest.waitFor(port, "gsa4j_active_sequences", 3), "the third request is generating");

            sigterm = System.nanoTime();
            process.destroy();
            assertTrue(waitForHealth(port, 503), "/health says draining");
            ServerTest.assertError(post(port, ServerTest.completion(ServerTest.PROMPT, 4).toString()), 503, null, "shutting down");

            finishing = ending.get(60, TimeUnit.SECONDS);
            streamed = streaming.get(60, TimeUnit.SECONDS);
            whole = blocking.get(60, TimeUnit.SECONDS);
            assertTrue(process.waitFor(60, TimeUnit.SECONDS), "the server exits after draining");
        } finally {
            process.destroyForcibly();
        }
        assertEquals("length", finishing.finishReason(), "a request that ends within the drain time finishes");
        assertEquals(finishingTokens, finishing.generated().length);
        assertTrue(finishing.endedNanos() > sigterm, "it was still running at SIGTERM");
        assertEquals("cancelled", streamed.finishReason(), "a stream running past the drain time is cancelled");
        assertEquals("cancelled", whole.finishReason(), "so is a non-streaming request");
        double drained = (Math.min(streamed.endedNanos(), whole.endedNanos()) - sigterm) * 1e-9;
        assertTrue(drained >= DRAIN_SECONDS * 0.9, "cancelled after the drain time, not before: " + drained + " s");
        String output = Files.readString(log);
        assertTrue(output.contains("gsa4j serve: stopped (2 requests cancelled; session states written)"), output);

        // Nothing lost: every session resumes where its client's last token left it.
        try (Server resumed = Server.start(ServeOptions.defaults(modelDir).withPort(0).withStateStore(store)
                .withLimits(4, 8, 64, 64 << 20, 1 << 24, 16))) {
            int[] next = {9, 9, 3};
            for (var e : Map.of("drain-stream", streamed, "drain-whole", whole, "drain-finishing", finishing).entrySet()) {
                String session = e.getKey();
                Seen seen = e.getValue();
                int[] continued = StoresTest.ids(StoresTest.post(resumed.port(), ServerTest.completion(next, 5).put("session_id", session)));
                int[] oneRequest = StoresTest.ids(StoresTest.post(resumed.port(), ServerTest.completion(ServerTest.concat(seen.prompt(), seen.generated(), next), 5)));
                assertArrayEquals(oneRequest, continued, session + " after " + seen.generated().length + " tokens");
            }
        }
    }

    /** A streaming request on a session, read to its end. */
    private static Seen stream(int port, int[] prompt, String session) {
        ObjectNode body = ServerTest.completion(prompt, LimitsTest.ENDLESS).put("session_id", session).put("stream", true);
        try {
            HttpResponse<InputStream> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/completions"))
                    .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build(), HttpResponse.BodyHandlers.ofInputStream());
            assertEquals(200, r.statusCode());
            List<Integer> ids = new ArrayList<>();
            String finish = null;
            try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
                for (String line; (line = in.readLine()) != null; ) {
                    if (!line.startsWith("data: ") || line.equals("data: [DONE]")) continue;
                    JsonNode choice = ServerTest.JSON.readTree(line.substring(6)).get("choices").get(0);
                    for (JsonNode t : choice.path("token_ids")) ids.add(t.asInt());
                    if (!choice.get("finish_reason").isNull()) finish = choice.get("finish_reason").asText();
                }
            }
            return new Seen(prompt, ids.stream().mapToInt(Integer::intValue).toArray(), finish, System.nanoTime());
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** A non-streaming request on a session. */
    private static CompletableFuture<Seen> sendWhole(int port, int[] prompt, int maxTokens, String session) {
        ObjectNode body = ServerTest.completion(prompt, maxTokens).put("session_id", session);
        return HTTP.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/completions"))
                .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build(), HttpResponse.BodyHandlers.ofString()).thenApply(r -> {
            long ended = System.nanoTime();
            assertEquals(200, r.statusCode(), r.body());
            try {
                JsonNode choice = ServerTest.JSON.readTree(r.body()).get("choices").get(0);
                return new Seen(prompt, ServerTest.ids(choice), choice.get("finish_reason").asText(), ended);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
    }

    /** The port from the server's banner line in its output file. */
    private static int port(Process process, Path log) throws Exception {
        Pattern banner = Pattern.compile("(?m)^gsa4j serve: .* on http://[^:]+:(\\d+)");
        for (long end = System.currentTimeMillis() + 60_000; System.currentTimeMillis() < end; Thread.sleep(20)) {
            Matcher m = banner.matcher(Files.readString(log));
            if (m.find()) return Integer.parseInt(m.group(1));
            if (!process.isAlive()) break;
        }
        throw new IllegalStateException("no banner from the server:\n" + Files.readString(log));
    }

    private static HttpResponse<String> post(int port, String body) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/completions"))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static boolean waitForHealth(int port, int status) throws Exception {
        long deadline = System.currentTimeMillis() + 10_000;
        while (System.currentTimeMillis() < deadline) {
            int got = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/health")).build(), HttpResponse.BodyHandlers.ofString()).statusCode();
            if (got == status) return true;
            Thread.sleep(10);
        }
        return false;
    }
}
