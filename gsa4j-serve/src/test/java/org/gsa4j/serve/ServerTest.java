package org.gsa4j.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The server over HTTP on a tiny model: completions (ids and text), streaming in OpenAI's SSE
 * format, batching that changes no token, sessions that continue bit for bit, the prefix cache,
 * chat, and the errors (400, 404, 409, 413; 401 in ClientsTest, 409 busy and 429 in LimitsTest).
 */
class ServerTest {
    static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    static Path tmp;
    static Server server;
    static CausalLM model;
    static final HttpClient HTTP = HttpClient.newHttpClient();

    @BeforeAll
    static void start() throws Exception {
        Path dir = TinyModel.write(tmp.resolve("tiny"), true);
        model = ModelLoader.load(dir);
        server = Server.start(ServeOptions.defaults(dir).withPort(0).withStateStore(tmp.resolve("sessions").toString())
                .withLimits(4, 8, 16, 1 << 16, 4096, 512));
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    static String url(String path) {
        return "http://127.0.0.1:" + server.port() + path;
    }

    static HttpResponse<String> post(String path, String body, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url(path))).POST(HttpRequest.BodyPublishers.ofString(body))
                .header("Content-Type", "application/json");
        for (int i = 0; i < headers.length; i += 2) b.header(headers[i], headers[i + 1]);
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static JsonNode ok(HttpResponse<String> r) throws Exception {
        assertEquals(200, r.statusCode(), r.body());
        return JSON.readTree(r.body());
    }

    static ObjectNode completion(int[] prompt, int maxTokens) {
        ObjectNode b = JSON.createObjectNode().put("model", "tiny").put("max_tokens", maxTokens).put("temperature", 0)
                .put("ignore_eos", true).put("return_token_ids", true);
        ArrayNode p = b.putArray("prompt");
        for (int t : prompt) p.add(t);
        return b;
    }

    static int[] ids(JsonNode choice) {
        int[] out = new int[choice.path("token_ids").size()];
        for (int i = 0; i < out.length; i++) out[i] = choice.get("token_ids").get(i).asInt();
        return out;
    }

    static final int[] PROMPT = {5, 17, 33, 101, 7, 250, 64, 12, 9, 44, 31};

    @Test
    void greedyCompletionEqualsTheLibrarysDecoding() throws Exception {
        JsonNode r = ok(post("/v1/completions", completion(PROMPT, 12).toString()));
        assertArrayEquals(TinyModel.greedy(model, PROMPT, 12), ids(r.get("choices").get(0)));
        assertEquals("length", r.get("choices").get(0).get("finish_reason").asText());
        assertEquals(PROMPT.length, r.get("usage").get("prompt_tokens").asInt());
        assertEquals(12, r.get("usage").get("completion_tokens").asInt());
        assertEquals(PROMPT.length, r.get("prompt_token_ids").size());
        assertEquals("text_completion", r.get("object").asText());
    }

    /** Streaming: data: lines of chunks, then [DONE]; the same tokens as without streaming; usage on the last chunk. */
    @Test
    void streamingSendsOpenAiChunksThenDone() throws Exception {
        ObjectNode b = completion(PROMPT, 9).put("stream", true);
        HttpResponse<Stream<String>> r = HTTP.send(HttpRequest.newBuilder(URI.create(url("/v1/completions")))
                .POST(HttpRequest.BodyPublishers.ofString(b.toString())).build(), HttpResponse.BodyHandlers.ofLines());
        assertEquals(200, r.statusCode());
        assertTrue(r.headers().firstValue("content-type").orElse("").startsWith("text/event-stream"));
        List<String> data = r.body().filter(l -> l.startsWith("data: ")).map(l -> l.substring(6)).toList();
        assertEquals("[DONE]", data.getLast());
        List<Integer> got = new ArrayList<>();
        JsonNode last = null;
        for (String d : data.subList(0, data.size() - 1)) {
            last = JSON.readTree(d);
            for (JsonNode t : last.get("choices").get(0).path("token_ids")) got.add(t.asInt());
        }
        assertArrayEquals(TinyModel.greedy(model, PROMPT, 9), got.stream().mapToInt(Integer::intValue).toArray());
        assertEquals("length", last.get("choices").get(0).get("finish_reason").asText());
        assertEquals(9, last.get("usage").get("completion_tokens").asInt());
    }

    /** Eight requests at once through a batch of 4: each one's tokens as if alone. */
    @Test
    void concurrentRequestsGetTheirSoloTokens() throws Exception {
        List<Thread> threads = new ArrayList<>();
        List<Throwable> errors = java.util.Collections.synchronizedList(new ArrayList<>());
        for (int q = 0; q < 8; q++) {
            int[] prompt = Arrays.copyOf(PROMPT, 3 + q);
            threads.add(Thread.ofVirtual().start(() -> {
                try {
                    JsonNode r = ok(post("/v1/completions", completion(prompt, 10).toString()));
                    assertArrayEquals(TinyModel.greedy(model, prompt, 10), ids(r.get("choices").get(0)), "prompt of " + prompt.length);
                } catch (Throwable e) {
                    errors.add(e);
                }
            }));
        }
        for (Thread t : threads) t.join();
        assertTrue(errors.isEmpty(), errors.toString());
    }

    /**
     * A session's second request sends only its new tokens and continues where the first stopped:
     * bit for bit the tokens of one request holding the whole conversation, greedy and seeded.
     */
    @Test
    void aSessionContinuesExactlyWhereItStopped() throws Exception {
        int[] first = {3, 14, 15, 92, 65}, second = {35, 89, 79, 32, 38, 46};
        for (boolean sampled : new boolean[] {false, true}) {
            String session = "s-" + sampled;
            ObjectNode a = completion(first, 7).put("session_id", session);
            ObjectNode b = completion(second, 8);
            if (sampled) {
                a.put("temperature", 0.9).put("seed", 77);
                b.put("temperature", 0.9).put("seed", 77);
            }
            int[] g1 = ids(ok(post("/v1/completions", a.toString())).get("choices").get(0));
            int[] g2 = ids(ok(post("/v1/completions", b.toString(), "X-Session-Id", session)).get("choices").get(0));
            int[] whole = concat(first, g1, second);
            ObjectNode w = completion(whole, 8);
            if (sampled) w.put("temperature", 0.9).put("seed", 77);
            assertArrayEquals(ids(ok(post("/v1/completions", w.toString())).get("choices").get(0)), g2, sampled ? "seeded" : "greedy");
        }
    }

    static int[] concat(int[]... parts) {
        return Arrays.stream(parts).flatMapToInt(Arrays::stream).toArray();
    }

    @Test
    void aRepeatedLongPromptStartsFromTheCachedPrefix() throws Exception {
        int[] prompt = new int[50];
        for (int i = 0; i < prompt.length; i++) prompt[i] = (i * 37 + 11) % 300;
        JsonNode a = ok(post("/v1/completions", completion(prompt, 5).toString()));
        JsonNode b = ok(post("/v1/completions", completion(prompt, 5).toString()));
        assertEquals(0, a.get("usage").get("prompt_tokens_details").get("cached_tokens").asInt());
        assertEquals(48, b.get("usage").get("prompt_tokens_details").get("cached_tokens").asInt(), "three chunks of 16 cached");
        assertArrayEquals(ids(a.get("choices").get(0)), ids(b.get("choices").get(0)));
        String metrics = HTTP.send(HttpRequest.newBuilder(URI.create(url("/metrics"))).build(), HttpResponse.BodyHandlers.ofString()).body();
        assertTrue(metrics.contains("gsa4j_prefix_cache_hits_total"), metrics);
    }

    @Test
    void textPromptsAndChat() throws Exception {
        JsonNode r = ok(post("/v1/completions", "{\"model\": \"tiny\", \"prompt\": \"a truth universally\", \"max_tokens\": 6, \"temperature\": 0, \"ignore_eos\": true}"));
        assertTrue(r.get("choices").get(0).get("text").isTextual());
        JsonNode c = ok(post("/v1/chat/completions", "{\"model\": \"tiny\", \"messages\": [{\"role\": \"system\", \"content\": \"be brief\"},"
                + " {\"role\": \"user\", \"content\": \"a single man\"}], \"max_tokens\": 5, \"temperature\": 0}"));
        assertEquals("chat.completion", c.get("object").asText());
        assertEquals("assistant", c.get("choices").get(0).get("message").get("role").asText());
        assertTrue(c.get("usage").get("prompt_tokens").asInt() > 5);
    }

    @Test
    void badInputGetsOpenAiStyleErrors() throws Exception {
        assertError(post("/v1/completions", "{not json"), 400, null, "malformed JSON");
        assertError(post("/v1/completions", "{\"model\": \"tiny\", \"prompt\": [1], \"max_tokens\": \"ten\"}"), 400, "max_tokens", "must be an integer");
        assertError(post("/v1/completions", "{\"model\": \"tiny\", \"prompt\": [1], \"max_tokens\": 100000}"), 400, "max_tokens", "max_tokens must be in");
        assertError(post("/v1/completions", "{\"model\": \"tiny\", \"prompt\": [1], \"n\": 2}"), 400, "n", "only n = 1");
        assertError(post("/v1/completions", "{\"model\": \"tiny\", \"prompt\": [99999]}"), 400, "prompt", "token id");
        assertError(post("/v1/completions", "{\"model\": \"gpt-4\", \"prompt\": [1]}"), 404, "model", "does not exist");
        assertError(post("/v1/completions", "{\"model\": \"tiny\", \"prompt\": \"" + "x".repeat(70_000) + "\"}"), 413, null, "exceeds");
        assertError(post("/v1/nothing", "{}"), 404, null, "no endpoint");
        assertError(post("/v1/completions", "{\"model\": \"tiny\", \"prompt\": [1], \"temperature\": -1}"), 400, null, "temperature");
    }

    static void assertError(HttpResponse<String> r, int status, String param, String text) throws Exception {
        assertEquals(status, r.statusCode(), r.body());
        JsonNode e = JSON.readTree(r.body()).get("error");
        assertTrue(e.get("message").asText().contains(text), e.toString());
        assertEquals(param == null ? "null" : param, e.get("param").isNull() ? "null" : e.get("param").asText());
        assertTrue(e.get("type").isTextual());
    }

    /**
     * A request on a session reads the store once, whether the session is new or resumed, in chat
     * (where the stored state also decides how the template is rendered) and in completions.
     */
    @Test
    void aSessionRequestReadsTheStoreOnce() throws Exception {
        String chat = "{\"model\": \"tiny\", \"messages\": [{\"role\": \"user\", \"content\": \"a single man\"}], \"max_tokens\": 3,"
                + " \"temperature\": 0, \"session_id\": \"read-once-chat\"}";
        for (int i = 0; i < 2; i++) {
            double before = LimitsTest.metric(server.port(), "gsa4j_state_store_read_seconds_count");
            ok(post("/v1/chat/completions", chat));
            assertEquals(1, LimitsTest.metric(server.port(), "gsa4j_state_store_read_seconds_count") - before, i == 0 ? "a new chat session" : "a resumed chat session");
        }
        for (int i = 0; i < 2; i++) {
            double before = LimitsTest.metric(server.port(), "gsa4j_state_store_read_seconds_count");
            ok(post("/v1/completions", completion(PROMPT, 2).put("session_id", "read-once").toString()));
            assertEquals(1, LimitsTest.metric(server.port(), "gsa4j_state_store_read_seconds_count") - before, i == 0 ? "a new session" : "a resumed session");
        }
    }

    /** A corrupted session file is refused with a clear error; the server goes on. */
    @Test
    void aCorruptSessionIsRefusedAndTheServerGoesOn() throws Exception {
        ok(post("/v1/completions", completion(PROMPT, 3).put("session_id", "corrupt-me").toString()));
        Path file = tmp.resolve("sessions").resolve(DirectoryStore.fileName("corrupt-me"));
        byte[] bytes = Files.readAllBytes(file);
        bytes[bytes.length - 100] ^= 0x40;
        Files.write(file, bytes);
        assertError(post("/v1/completions", completion(PROMPT, 3).put("session_id", "corrupt-me").toString()), 409, "session_id", "payload checksum mismatch");
        ok(post("/v1/completions", completion(PROMPT, 3).toString()));
    }

    @Test
    void healthModelsAndMetrics() throws Exception {
        assertEquals("ok", JSON.readTree(HTTP.send(HttpRequest.newBuilder(URI.create(url("/health"))).build(), HttpResponse.BodyHandlers.ofString()).body()).get("status").asText());
        JsonNode models = JSON.readTree(HTTP.send(HttpRequest.newBuilder(URI.create(url("/v1/models"))).build(), HttpResponse.BodyHandlers.ofString()).body());
        assertEquals("tiny", models.get("data").get(0).get("id").asText());
        ok(post("/v1/completions", completion(PROMPT, 2).toString()));
        String m = HTTP.send(HttpRequest.newBuilder(URI.create(url("/metrics"))).build(), HttpResponse.BodyHandlers.ofString()).body();
        for (String name : List.of("gsa4j_requests_total", "gsa4j_generated_tokens_total", "gsa4j_time_to_first_token_seconds_bucket",
                "gsa4j_inter_token_latency_seconds_bucket", "gsa4j_batch_size", "gsa4j_queue_depth", "gsa4j_state_store_size_bytes")) {
            assertTrue(m.contains(name), name + " in\n" + m);
        }
    }
}
