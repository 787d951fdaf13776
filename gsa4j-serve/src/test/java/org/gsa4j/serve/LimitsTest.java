package org.gsa4j.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
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
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The server under pressure, on a tiny model with a batch of one and a queue of one: a full queue
 * answers 429 with Retry-After, a session in use 409, and a client that leaves a non-streaming
 * request has it cancelled (the connection stays usable for clients that stay: keep-alive and
 * pipelined requests after a watched one; a request that outlives the watch still completes).
 */
class LimitsTest {
    @TempDir
    static Path tmp;
    static Server server;
    static final HttpClient HTTP = HttpClient.newHttpClient();
    /** Far more tokens than a test waits for: a request asking for them runs until it is cancelled. */
    static final int ENDLESS = 100_000_000;

    @BeforeAll
    static void start() throws Exception {
        Path dir = TinyModel.write(tmp.resolve("tiny"), false);
        server = Server.start(ServeOptions.defaults(dir).withPort(0).withStateStore(tmp.resolve("sessions").toString())
                .withLimits(1, 1, 16, 1 << 16, 4096, ENDLESS));
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    /** Every test leaves the engine empty. */
    @AfterEach
    void engineIsEmptyAgain() throws Exception {
        assertTrue(waitFor(server.port(), "gsa4j_active_sequences", 0) && waitFor(server.port(), "gsa4j_queue_depth", 0), "the engine emptied");
    }

    static ObjectNode body(int maxTokens) {
        return ServerTest.completion(ServerTest.PROMPT, maxTokens);
    }

    static String url(int port, String path) {
        return "http://127.0.0.1:" + port + path;
    }

    static HttpResponse<String> post(ObjectNode body) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(url(server.port(), "/v1/completions")))
                .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build(), HttpResponse.BodyHandlers.ofString());
    }

    static CompletableFuture<HttpResponse<InputStream>> stream(ObjectNode body) {
        return HTTP.sendAsync(HttpRequest.newBuilder(URI.create(url(server.port(), "/v1/completions")))
                .POST(HttpRequest.BodyPublishers.ofString(body.put("stream", true).toString())).build(), HttpResponse.BodyHandlers.ofInputStream());
    }

    /** Reads a stream until its first event. */
    static BufferedReader firstEvent(HttpResponse<InputStream> r) throws Exception {
        assertEquals(200, r.statusCode());
        BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8));
        while (!in.readLine().startsWith("data: ")) {
            // headers of the event stream, blank lines
        }
        return in;
    }

    /** A gauge or counter of /metrics (without labels). */
    static double metric(int port, String name) throws Exception {
        String m = HTTP.send(HttpRequest.newBuilder(URI.create(url(port, "/metrics"))).build(), HttpResponse.BodyHandlers.ofString()).body();
        Matcher v = Pattern.compile("(?m)^" + name + " (\\S+)$").matcher(m);
        if (!v.find()) throw new AssertionError(name + " not in /metrics:\n" + m);
        return Double.parseDouble(v.group(1));
    }

    /** Waits (up to 10 s) until the metric has the value. */
    static boolean waitFor(int port, String name, double value) throws Exception {
        long deadline = System.currentTimeMillis() + 10_000;
        while (System.currentTimeMillis() < deadline) {
            if (metric(port, name) == value) return true;
            Thread.sleep(10);
        }
        return false;
    }

    @Test
    void aFullQueueIsRefusedWith429AndRetryAfter() throws Exception {
        BufferedReader running = firstEvent(stream(body(ENDLESS)).get(30, TimeUnit.SECONDS));   // the batch's one place
        CompletableFuture<HttpResponse<InputStream>> waiting = stream(body(ENDLESS));                // the queue's one place
        assertTrue(waitFor(server.port(), "gsa4j_queue_depth", 1), "the second request waits");
        HttpResponse<String> refused = post(body(4));
        ServerTest.assertError(refused, 429, null, "--max-queue 1");
        assertEquals("1", refused.headers().firstValue("Retry-After").orElse(null));
        assertEquals("queue_full", ServerTest.JSON.readTree(refused.body()).get("error").get("code").asText());
        running.close();   // leaves; the waiting one joins the batch, then leaves too
        waiting.get(30, TimeUnit.SECONDS).body().close();
    }

    @Test
    void aSessionInUseIsRefusedWith409() throws Exception {
        BufferedReader first = firstEvent(stream(body(ENDLESS).put("session_id", "busy")).get(30, TimeUnit.SECONDS));
        HttpResponse<String> second = post(body(4).put("session_id", "busy"));
        ServerTest.assertError(second, 409, "session_id", "in use");
        assertEquals("session_busy", ServerTest.JSON.readTree(second.body()).get("error").get("code").asText());
        first.close();
    }

    /** A streaming client that goes away has its generation cancelled: the batch empties, far from max_tokens. */
    @Test
    void aClientThatLeavesAStreamHasItCancelled() throws Exception {
        double before = metric(server.port(), "gsa4j_generated_tokens_total");
        BufferedReader in = firstEvent(stream(body(ENDLESS)).get(30, TimeUnit.SECONDS));
        for (int events = 0; events < 3; ) if (in.readLine().startsWith("data: ")) events++;
        in.close();   // the client goes away
        assertTrue(waitFor(server.port(), "gsa4j_active_sequences", 0), "the stream left the batch");
        assertTrue(metric(server.port(), "gsa4j_generated_tokens_total") - before < ENDLESS);
    }

    /** The client of a non-streaming request hangs up: its generation leaves the batch, far from its max_tokens. */
    @Test
    void aClientThatLeavesANonStreamingRequestHasItCancelled() throws Exception {
        double before = metric(server.port(), "gsa4j_generated_tokens_total");
        try (RawHttp client = new RawHttp(server.port())) {
            client.send(RawHttp.post("/v1/completions", body(ENDLESS).toString()));
            assertTrue(waitFor(server.port(), "gsa4j_active_sequences", 1), "the request is generating");
        }   // the client goes away without reading an answer
        assertTrue(waitFor(server.port(), "gsa4j_active_sequences", 0), "the request left the batch");
        double generated = metric(server.port(), "gsa4j_generated_tokens_total") - before;
        assertTrue(generated < ENDLESS, generated + " tokens");
        String m = HTTP.send(HttpRequest.newBuilder(URI.create(url(server.port(), "/metrics"))).build(), HttpResponse.BodyHandlers.ofString()).body();
        assertTrue(m.contains("gsa4j_requests_total{endpoint=\"completions\",status=\"499\"}"), m);
    }

    /** The watch reads ahead on the connection: requests after it on the same connection, one by one or pipelined, are not lost. */
    @Test
    void keepAliveAndPipelinedRequestsFollowAWatchedOne() throws Exception {
        try (RawHttp client = new RawHttp(server.port())) {
            for (int i = 0; i < 2; i++) {
                client.send(RawHttp.post("/v1/completions", body(5).toString()));
                assertCompletion(client.read(), 5);
            }
            client.send(RawHttp.post("/v1/completions", body(3).toString()) + RawHttp.post("/v1/completions", body(4).toString()));
            assertCompletion(client.read(), 3);
            assertCompletion(client.read(), 4);
        }
    }

    static JsonNode assertCompletion(RawHttp.Response r, int tokens) throws Exception {
        assertEquals(200, r.status(), r.body());
        JsonNode json = ServerTest.JSON.readTree(r.body());
        assertEquals(tokens, json.get("usage").get("completion_tokens").asInt());
        return json;
    }

    /**
     * The watch can tell a client's close from its own read's time-out only within the
     * connection's read timeout: a request that lasts longer completes all the same, its response
     * closing the connection.
     */
    @Test
    void aRequestOutlivingTheWatchStillCompletes() throws Exception {
        Path dir = TinyModel.write(tmp.resolve("short-timeout").resolve("tiny"), false);
        try (Server s = Server.start(ServeOptions.defaults(dir).withPort(0).withLimits(4, 4, 16, 1 << 16, 4096, ENDLESS), Duration.ofMillis(500))) {
            int probe = 4000;
            long t0 = System.nanoTime();
            try (RawHttp client = new RawHttp(s.port())) {
                client.send(RawHttp.post("/v1/completions", body(probe).toString()));
                RawHttp.Response r = client.read();
                assertCompletion(r, probe);
            }
            double perToken = (System.nanoTime() - t0) * 1e-9 / probe;
            int tokens = (int) Math.min(ENDLESS, 2.0 / perToken);   // about 2 s: four windows
            long t1 = System.nanoTime();
            try (RawHttp client = new RawHttp(s.port())) {
                client.send(RawHttp.post("/v1/completions", body(tokens).toString()));
                RawHttp.Response r = client.read();
                assertCompletion(r, tokens);
                assertTrue((System.nanoTime() - t1) * 1e-9 > 0.5, "the request outlived the window");
                assertEquals("close", r.headers().get("connection"), r.headers().toString());
            }
            try (RawHttp client = new RawHttp(s.port())) {   // a short one keeps its connection
                client.send(RawHttp.post("/v1/completions", body(3).toString()));
                RawHttp.Response r = client.read();
                assertCompletion(r, 3);
                assertFalse("close".equals(r.headers().get("connection")), r.headers().toString());
            }
        }
    }
}
