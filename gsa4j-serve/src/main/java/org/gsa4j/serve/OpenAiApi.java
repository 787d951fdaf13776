package org.gsa4j.serve;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.helidon.common.socket.SocketWriterException;
import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.webserver.CloseConnectionException;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import org.gsa4j.Gsa4jException;
import org.gsa4j.data.Tokenizer;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.DecodeState;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The OpenAI-compatible endpoints: {@code POST /v1/completions}, {@code POST /v1/chat/completions},
 * {@code GET /v1/models}, {@code GET /health}, {@code GET /metrics}. Handlers run on virtual
 * threads: each parses and checks its request, restores its session or prefix, submits a job to
 * the {@link Engine} and then blocks on the job's events, writing them as one JSON body or as
 * Server-Sent Events in OpenAI's chunk format (ending with {@code data: [DONE]}). A client that
 * goes away has its job cancelled, which leaves the batch at the next pass boundary: a stream
 * notices at its next write, a non-streaming request through its connection's {@link ClientWatch}.
 */
final class OpenAiApi {
    static final ObjectMapper JSON = new ObjectMapper();

    private final ServeOptions options;
    private final String modelName;
    private final CausalLM model;
    private final Tokenizer tokenizer;
    private final ChatTemplate chat;
    private final Engine engine;
    private final StateStore store;
    private final PrefixCache prefixes;
    private final Metrics metrics;
    private final byte[] keyHash;
    private final Set<String> busySessions = ConcurrentHashMap.newKeySet();
    /** Completion handlers running (a draining server waits for them to write their last bytes). */
    private final AtomicInteger handlers = new AtomicInteger();
    private final long created = System.currentTimeMillis() / 1000;

    OpenAiApi(ServeOptions options, String modelName, CausalLM model, Tokenizer tokenizer, ChatTemplate chat, Engine engine,
              StateStore store, PrefixCache prefixes, Metrics metrics) {
        this.options = options;
        this.modelName = modelName;
        this.model = model;
        this.tokenizer = tokenizer;
        this.chat = chat;
        this.engine = engine;
        this.store = store;
        this.prefixes = prefixes;
        this.metrics = metrics;
        this.keyHash = options.apiKey() == null ? null : sha256(options.apiKey());
    }

    void routes(HttpRouting.Builder r) {
        r.get("/health", (req, res) -> handle("health", req, res, () -> engine.draining()
                ? send(res, 503, JSON.createObjectNode().put("status", "draining"))
                : send(res, 200, JSON.createObjectNode().put("status", "ok"))));
        r.get("/metrics", (req, res) -> handle("metrics", req, res, () -> {
            res.status(200).header(HeaderNames.CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
            res.send(metrics.scrape());
            return 200;
        }));
        r.get("/v1/models", (req, res) -> handle("models", req, res, () -> {
            authorize(req);
            ObjectNode list = JSON.createObjectNode().put("object", "list");
            list.putArray("data").addObject().put("id", modelName).put("object", "model").put("created", created).put("owned_by", "gsa4j");
            return send(res, 200, list);
        }));
        r.post("/v1/completions", (req, res) -> handle("completions", req, res, () -> counted(() -> completions(req, res, false))));
        r.post("/v1/chat/completions", (req, res) -> handle("chat_completions", req, res, () -> counted(() -> completions(req, res, true))));
        r.any((req, res) -> handle("other", req, res, () -> {
            throw new ApiError(404, "invalid_request_error", null, "not_found", "no endpoint " + req.prologue().method().text() + " " + req.path().path());
        }));
    }

    /** A handler body returning the status it sent. */
    @FunctionalInterface
    private interface Body {
        int run() throws IOException;
    }

    private int counted(Body body) throws IOException {
        handlers.incrementAndGet();
        try {
            return body.run();
        } finally {
            handlers.decrementAndGet();
        }
    }

    /** Completion requests being handled now. */
    int handlersRunning() {
        return handlers.get();
    }

    private void handle(String endpoint, ServerRequest req, ServerResponse res, Body body) {
        int status;
        try {
            status = body.run();
        } catch (ApiError e) {
            status = error(res, e);
        } catch (Engine.Refused e) {
            status = error(res, e.draining ? new ApiError(503, "server_error", null, "shutting_down", e.getMessage())
                    : new ApiError(429, "rate_limit_error", null, "queue_full", e.getMessage()));
        } catch (IOException | UncheckedIOException e) {
            status = 499;   // the client went away
        } catch (RuntimeException e) {
            status = error(res, new ApiError(500, "server_error", null, null, "internal error: " + e));
        }
        metrics.request(endpoint, status);
    }

    private static int error(ServerResponse res, ApiError e) {
        if (res.isSent()) return e.status;
        try {
            if (e.status == 429) res.header(HeaderNames.RETRY_AFTER, "1");
            return send(res, e.status, e.body(JSON));
        } catch (IllegalStateException | UncheckedIOException | SocketWriterException | CloseConnectionException started) {
            return e.status;   // a stream had begun: its status line is gone already, or its client is
        }
    }

    private static int send(ServerResponse res, int status, JsonNode body) {
        res.status(Status.create(status)).header(HeaderNames.CONTENT_TYPE, "application/json");
        res.send(body.toString().getBytes(StandardCharsets.UTF_8));
        return status;
    }

    private static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The API key, when one is set: compared in constant time (as digests, so the length leaks nothing either). */
    private void authorize(ServerRequest req) {
        if (keyHash == null) return;
        String given = req.headers().first(HeaderNames.AUTHORIZATION).orElse("");
        String token = given.regionMatches(true, 0, "Bearer ", 0, 7) ? given.substring(7).trim() : "";
        if (!MessageDigest.isEqual(keyHash, sha256(token))) {
            throw new ApiError(401, "invalid_request_error", null, "invalid_api_key", "missing or wrong API key (send Authorization: Bearer KEY)");
        }
    }

    private JsonNode readBody(ServerRequest req) throws IOException {
        long declared = req.headers().contentLength().orElse(-1);
        if (declared > options.maxBodyBytes()) throw tooLarge();
        byte[] body;
        try (InputStream in = req.content().inputStream()) {
            body = in.readNBytes((int) options.maxBodyBytes() + 1);
        }
        if (body.length > options.maxBodyBytes()) throw tooLarge();
        try {
            JsonNode n = JSON.readTree(body);
            if (n == null || !n.isObject()) throw ApiError.badRequest(null, "the request body must be a JSON object");
            return n;
        } catch (JacksonException e) {
            throw ApiError.badRequest(null, "malformed JSON: " + e.getOriginalMessage());
        }
    }

    private ApiError tooLarge() {
        return new ApiError(413, "invalid_request_error", null, "body_too_large", "the request body exceeds " + options.maxBodyBytes() + " bytes (--max-body-bytes)");
    }

    private int completions(ServerRequest req, ServerResponse res, boolean isChat) throws IOException {
        long arrival = System.nanoTime();
        authorize(req);
        JsonNode body = readBody(req);
        Params p = new Params(body);
        String requested = p.string("model", true);
        if (!requested.equals(modelName)) {
            throw new ApiError(404, "invalid_request_error", "model", "model_not_found", "the model '" + requested + "' does not exist; this server serves '" + modelName + "'");
        }
        int n = p.integer("n", 1);
        if (n != 1) throw ApiError.badRequest("n", "only n = 1 is supported");
        if (!body.path("logprobs").isMissingNode() && !body.get("logprobs").isNull() && !body.get("logprobs").asText().equals("false")) {
            throw ApiError.badRequest("logprobs", "logprobs are not supported");
        }
        boolean stream = p.bool("stream", false);
        boolean returnIds = p.bool("return_token_ids", false);
        int maxTokens = isChat && body.has("max_completion_tokens") ? p.integer("max_completion_tokens", 16) : p.integer("max_tokens", isChat ? options.maxTokens() : 16);
        if (maxTokens < 0 || maxTokens > options.maxTokens()) {
            throw ApiError.badRequest("max_tokens", "max_tokens must be in [0, " + options.maxTokens() + "] (--max-tokens), got " + maxTokens);
        }
        double temperature = p.number("temperature", 1.0), topP = p.number("top_p", 1.0);
        int topK = p.integer("top_k", 0);
        if (topK == -1) topK = 0;   // vLLM's spelling of "all"
        long seed = body.hasNonNull("seed") ? p.longValue("seed") : new java.security.SecureRandom().nextLong();
        Sampling sampling;
        try {
            sampling = new Sampling(temperature, topP, topK, seed);
        } catch (IllegalArgumentException e) {
            throw ApiError.badRequest(null, e.getMessage());
        }
        List<String> stop = p.stop();
        boolean ignoreEos = p.bool("ignore_eos", false);
        String session = p.string("session_id", false);
        if (session == null) session = req.headers().first(HeaderNames.create("X-Session-Id")).orElse(null);
        if (session != null && (session.isEmpty() || session.length() > 256)) throw ApiError.badRequest("session_id", "a session id has 1 to 256 characters");
        if (session != null && store == null) throw ApiError.badRequest("session_id", "sessions need a state store; this server runs without one (--state-store none)");
        if (session != null && !busySessions.add(session)) {
            throw new ApiError(409, "invalid_request_error", "session_id", "session_busy", "session '" + session + "' is in use by another request");
        }
        Engine.Job job = null;
        try {
            byte[] stored = session == null ? null : store.get(session).orElse(null);   // read once: it decides the chat prompt and is restored
            int[] prompt = isChat ? chatPrompt(body, stored != null) : prompt(body);
            if (prompt.length > options.maxPromptTokens()) {
                throw ApiError.badRequest("prompt", "the prompt has " + prompt.length + " tokens; at most " + options.maxPromptTokens() + " are accepted (--max-prompt-tokens)");
            }
            Engine.Request request = request(prompt, session, stored, maxTokens, sampling, stop, ignoreEos, arrival);
            job = engine.submit(request);
            String id = (isChat ? "chatcmpl-" : "cmpl-") + UUID.randomUUID().toString().replace("-", "");
            return stream ? stream(res, job, id, isChat, returnIds, prompt, session) : whole(res, job, id, isChat, returnIds, prompt, session);
        } finally {
            // Whatever ended the handler, the job ends too (cancelling an ended job does nothing), and
            // the session is free again only once its state is written: the next request resumes it.
            if (job != null) {
                job.cancel();
                awaitEnd(job);
            }
            if (session != null) busySessions.remove(session);
        }
    }

    private static void awaitEnd(Engine.Job job) {
        try {
            if (!job.awaitEnd(60_000)) System.err.println("gsa4j serve: a cancelled request did not end within a minute");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** The prompt of /v1/completions: text, token ids, or a one-element list of either. */
    private int[] prompt(JsonNode body) {
        JsonNode prompt = body.get("prompt");
        if (prompt == null || prompt.isNull()) throw ApiError.badRequest("prompt", "prompt is required");
        if (prompt.isArray() && prompt.size() == 1 && (prompt.get(0).isTextual() || prompt.get(0).isArray())) prompt = prompt.get(0);
        if (prompt.isTextual()) return encode(prompt.asText(), "prompt");
        if (prompt.isArray()) {
            int[] ids = new int[prompt.size()];
            int vocab = model.config.vocabSize();
            for (int i = 0; i < ids.length; i++) {
                JsonNode t = prompt.get(i);
                if (!t.canConvertToInt() || !t.isIntegralNumber() || t.asInt() < 0 || t.asInt() >= vocab) {
                    throw ApiError.badRequest("prompt", "prompt[" + i + "] must be a token id in [0, " + vocab + ")");
                }
                ids[i] = t.asInt();
            }
            return ids;
        }
        throw ApiError.badRequest("prompt", "prompt must be a string, an array of token ids, or a one-element array of either (n = 1)");
    }

    private int[] encode(String text, String param) {
        if (tokenizer == null) throw ApiError.badRequest(param, "this model folder has no tokenizer.json: send the prompt as token ids");
        return tokenizer.encode(text);
    }

    private int[] chatPrompt(JsonNode body, boolean continues) {
        if (chat == null) {
            throw ApiError.badRequest("messages", "this model has no chat template (no chat_template in tokenizer_config.json, no chat_template.jinja): use /v1/completions");
        }
        JsonNode messages = body.get("messages");
        if (messages == null || !messages.isArray() || messages.isEmpty()) throw ApiError.badRequest("messages", "messages must be a non-empty array");
        List<Map<String, Object>> list = new ArrayList<>();
        for (int i = 0; i < messages.size(); i++) {
            JsonNode m = messages.get(i);
            if (!m.isObject() || !m.path("role").isTextual()) throw ApiError.badRequest("messages", "messages[" + i + "] needs a string role");
            JsonNode c = m.path("content");
            String content;
            if (c.isTextual()) content = c.asText();
            else if (c.isArray()) {
                StringBuilder sb = new StringBuilder();
                for (JsonNode part : c) {
                    if (!part.path("type").asText().equals("text")) throw ApiError.badRequest("messages", "messages[" + i + "]: only text content is supported");
                    sb.append(part.path("text").asText());
                }
                content = sb.toString();
            } else if (c.isNull() || c.isMissingNode()) content = "";
            else throw ApiError.badRequest("messages", "messages[" + i + "].content must be a string or an array of text parts");
            Map<String, Object> msg = new HashMap<>();
            msg.put("role", m.get("role").asText());
            msg.put("content", content);
            list.add(msg);
        }
        return encode(chat.render(list, continues), "messages");
    }

    /** The engine's request: from the session's stored state ({@code stored}, null when new), a cached prefix, or a fresh state. */
    private Engine.Request request(int[] prompt, String session, byte[] stored, int maxTokens, Sampling sampling, List<String> stop, boolean ignoreEos, long arrival) {
        if (session != null) {
            if (stored != null) {
                metrics.storeHits.increment();
                Sessions.Resumed r;
                try {
                    r = Sessions.restore(model, stored);
                } catch (Gsa4jException e) {
                    throw new ApiError(409, "invalid_request_error", "session_id", "session_unusable", "session '" + session + "' cannot be resumed: " + e.getMessage());
                }
                int[] input = new int[r.pending().length + prompt.length];
                System.arraycopy(r.pending(), 0, input, 0, r.pending().length);
                System.arraycopy(prompt, 0, input, r.pending().length, prompt.length);
                if (input.length == 0) throw ApiError.badRequest("prompt", "the prompt is empty");
                return new Engine.Request(input, r.state(), prompt.length, 0, null, null, maxTokens, sampling, stop, ignoreEos, session, arrival);
            }
            metrics.storeMisses.increment();
        }
        if (prompt.length == 0) throw ApiError.badRequest("prompt", "the prompt is empty");
        PrefixCache.Hit hit = session == null && prefixes != null ? prefixes.longest(prompt) : null;
        if (session == null && prefixes != null) (hit == null ? metrics.prefixMisses : metrics.prefixHits).increment();
        if (hit != null) {
            metrics.prefixTokens.increment(hit.tokens());
            int[] rest = java.util.Arrays.copyOfRange(prompt, hit.tokens(), prompt.length);
            return new Engine.Request(rest, hit.state(), prompt.length, hit.tokens(), prompt, hit.key(), maxTokens, sampling, stop, ignoreEos, null, arrival);
        }
        DecodeState fresh = model.newState(1);
        return new Engine.Request(prompt, fresh, prompt.length, 0, session == null ? prompt : null, null, maxTokens, sampling, stop, ignoreEos, session, arrival);
    }

    private int whole(ServerResponse res, Engine.Job job, String id, boolean isChat, boolean returnIds, int[] prompt, String session) throws IOException {
        StringBuilder text = new StringBuilder();
        List<Integer> ids = new ArrayList<>();
        Engine.Done done = null;
        ClientWatch.Watch client = ClientWatch.start();
        try {
            while (done == null) {
                Engine.Event e = job.next(CLIENT_CHECK_MILLIS);
                if (!(e instanceof Engine.Done) && client.clientGone()) {   // looked at every token and every wait
                    throw new java.io.EOFException("the client closed the connection");
                }
                switch (e) {
                    case null -> {}
                    case Engine.Token t -> {
                        ids.add(t.id());
                        text.append(t.text());
                    }
                    case Engine.Done d -> done = d;
                    case Engine.Failed f -> throw new ApiError(500, "server_error", null, null, f.message());
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ApiError(503, "server_error", null, null, "interrupted");
        }
        text.append(done.trailingText());
        ObjectNode out = header(id, isChat ? "chat.completion" : "text_completion");
        ObjectNode choice = out.putArray("choices").addObject().put("index", 0);
        if (isChat) choice.putObject("message").put("role", "assistant").put("content", text.toString());
        else choice.put("text", text.toString()).putNull("logprobs");
        choice.put("finish_reason", done.finishReason());
        if (returnIds) {
            ArrayNode a = choice.putArray("token_ids");
            ids.forEach(a::add);
            ArrayNode pa = out.putArray("prompt_token_ids");
            for (int t : prompt) pa.add(t);
        }
        usage(out, done);
        if (session != null) out.put("session_id", session);
        if (client.expired()) res.header(HeaderNames.CONNECTION, "close");   // its idle reader gave up: the connection cannot be reused
        return send(res, 200, out);
    }

    /** How often a non-streaming handler looks whether its client is still there while it waits for tokens. */
    private static final long CLIENT_CHECK_MILLIS = 20;

    /**
     * Writes the job's events as Server-Sent Events. A write that fails (the client has gone:
     * Helidon reports it as an {@link IOException}, {@link UncheckedIOException},
     * {@link SocketWriterException} or {@link CloseConnectionException}) ends the stream as a
     * 499 (and {@link #completions} cancels the job).
     */
    private int stream(ServerResponse res, Engine.Job job, String id, boolean isChat, boolean returnIds, int[] prompt, String session) throws IOException {
        res.status(200).header(HeaderNames.CONTENT_TYPE, "text/event-stream").header(HeaderNames.CACHE_CONTROL, "no-cache");
        if (session != null) res.header(HeaderNames.create("X-Session-Id"), session);
        try (OutputStream out = res.outputStream()) {
            if (isChat) {
                ObjectNode first = chunk(id, true);
                first.withArray("choices").addObject().put("index", 0).putNull("finish_reason").putObject("delta").put("role", "assistant").put("content", "");
                event(out, first);
            }
            boolean firstToken = true;
            while (true) {
                Engine.Event e = job.next(60_000);
                if (e == null) continue;
                if (e instanceof Engine.Failed f) {
                    event(out, new ApiError(500, "server_error", null, null, f.message()).body(JSON));
                    break;
                }
                boolean end = e instanceof Engine.Done;
                String text = e instanceof Engine.Token t ? t.text() : ((Engine.Done) e).trailingText();
                ObjectNode c = chunk(id, isChat);
                ObjectNode choice = c.putArray("choices").addObject().put("index", 0);
                if (isChat) choice.putObject("delta").put("content", text);
                else choice.put("text", text).putNull("logprobs");
                if (end) choice.put("finish_reason", ((Engine.Done) e).finishReason());
                else choice.putNull("finish_reason");
                if (returnIds && e instanceof Engine.Token t) choice.putArray("token_ids").add(t.id());
                if (returnIds && firstToken) {
                    ArrayNode pa = c.putArray("prompt_token_ids");
                    for (int t : prompt) pa.add(t);
                }
                firstToken = false;
                if (end) {
                    usage(c, (Engine.Done) e);
                    if (session != null) c.put("session_id", session);
                }
                event(out, c);
                if (end) break;
            }
            out.write("data: [DONE]\n\n".getBytes(StandardCharsets.UTF_8));
            out.flush();
        } catch (UncheckedIOException | SocketWriterException | CloseConnectionException e) {
            throw new IOException("the client has gone: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return 200;
    }

    private ObjectNode chunk(String id, boolean isChat) {
        return header(id, isChat ? "chat.completion.chunk" : "text_completion");
    }

    private ObjectNode header(String id, String object) {
        return JSON.createObjectNode().put("id", id).put("object", object).put("created", System.currentTimeMillis() / 1000).put("model", modelName);
    }

    private static void usage(ObjectNode out, Engine.Done d) {
        ObjectNode u = out.putObject("usage");
        u.put("prompt_tokens", d.promptTokens()).put("completion_tokens", d.completionTokens()).put("total_tokens", d.promptTokens() + d.completionTokens());
        u.putObject("prompt_tokens_details").put("cached_tokens", d.cachedTokens());
    }

    private static void event(OutputStream out, JsonNode data) throws IOException {
        out.write(("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
    }

    /** Typed access to the body's fields: a known field of the wrong type is a 400 naming it. */
    private record Params(JsonNode body) {
        private JsonNode field(String name) {
            JsonNode v = body.get(name);
            return v == null || v.isNull() ? null : v;
        }

        String string(String name, boolean required) {
            JsonNode v = field(name);
            if (v == null) {
                if (required) throw ApiError.badRequest(name, name + " is required");
                return null;
            }
            if (!v.isTextual()) throw ApiError.badRequest(name, name + " must be a string");
            return v.asText();
        }

        int integer(String name, int dflt) {
            JsonNode v = field(name);
            if (v == null) return dflt;
            if (!v.isIntegralNumber() || !v.canConvertToInt()) throw ApiError.badRequest(name, name + " must be an integer");
            return v.asInt();
        }

        long longValue(String name) {
            JsonNode v = field(name);
            if (!v.isIntegralNumber() || !v.canConvertToLong()) throw ApiError.badRequest(name, name + " must be an integer");
            return v.asLong();
        }

        double number(String name, double dflt) {
            JsonNode v = field(name);
            if (v == null) return dflt;
            if (!v.isNumber()) throw ApiError.badRequest(name, name + " must be a number");
            return v.asDouble();
        }

        boolean bool(String name, boolean dflt) {
            JsonNode v = field(name);
            if (v == null) return dflt;
            if (!v.isBoolean()) throw ApiError.badRequest(name, name + " must be true or false");
            return v.asBoolean();
        }

        List<String> stop() {
            JsonNode v = field("stop");
            if (v == null) return List.of();
            List<String> out = new ArrayList<>();
            if (v.isTextual()) out.add(v.asText());
            else if (v.isArray() && v.size() <= 4) {
                for (JsonNode s : v) {
                    if (!s.isTextual()) throw ApiError.badRequest("stop", "stop must be a string or an array of at most 4 strings");
                    out.add(s.asText());
                }
            } else throw ApiError.badRequest("stop", "stop must be a string or an array of at most 4 strings");
            out.removeIf(String::isEmpty);
            return out;
        }
    }
}
