package org.gsa4j.serve;

import io.helidon.webserver.WebServer;
import io.helidon.webserver.http1.Http1Config;
import org.gsa4j.data.Tokenizer;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A running {@code gsa4j serve}: the model, its tokenizer and chat template, the engine, the
 * state store, the prefix cache, the metrics and the HTTP server (Helidon SE: one virtual thread
 * per request, which lets a handler simply block on its job's events while the engine thread
 * batches every request's decoding).
 */
public final class Server implements AutoCloseable {
    private final ServeOptions options;
    private final Tokenizer tokenizer;
    private final StateStore store;
    private final Engine engine;
    private final WebServer web;
    private final OpenAiApi api;
    private final Metrics metrics;

    private Server(ServeOptions options, Duration clientReadTimeout) {
        this.options = options;
        ModelLoader.WeightFormat format = switch (options.weights()) {
            case "f32" -> ModelLoader.WeightFormat.F32;
            case "bf16" -> ModelLoader.WeightFormat.BF16;
            default -> throw new IllegalArgumentException("--weights must be f32 or bf16, got '" + options.weights() + "'");
        };
        CausalLM model = ModelLoader.load(options.modelDir(), format);
        Path tokenizerFile = options.modelDir().resolve("tokenizer.json");
        tokenizer = Files.isRegularFile(tokenizerFile) ? Tokenizer.loadFast(tokenizerFile) : null;
        ChatTemplate chat = ChatTemplate.load(options.modelDir());
        StateStore opened = options.stateStore() == null ? null : StateStore.open(options.stateStore(), options.stateStoreMaxBytes());
        PrefixCache prefixes = options.prefixCacheBytes() > 0 ? new PrefixCache(model.identity().key(), options.prefillChunk(), options.prefixCacheBytes()) : null;
        metrics = new Metrics(() -> opened == null ? 0 : opened.sizeBytes(), () -> prefixes == null ? 0 : prefixes.bytes());
        store = opened == null ? null : metrics.timed(opened);
        engine = new Engine(model, tokenizer, new Engine.Options(options.maxBatch(), options.maxQueue(), options.prefillChunk()), metrics, store, prefixes);
        api = new OpenAiApi(options, options.modelName(), model, tokenizer, chat, engine, store, prefixes, metrics);
        var builder = WebServer.builder();
        // the window in which ClientWatch can tell that a non-streaming request's client has gone
        builder.connectionOptions(o -> o.readTimeout(clientReadTimeout != null ? clientReadTimeout : Duration.ofMinutes(10)));
        web = builder.host(options.host()).port(options.port()).shutdownHook(false)
                .useNio(false)   // blocking sockets: their idle read is what tells ClientWatch a client has gone
                // the handlers refuse bodies over --max-body-bytes with an OpenAI-style 413; far larger ones Helidon cuts off itself
                .maxPayloadSize(4 * options.maxBodyBytes() + (1 << 20))
                .addProtocol(Http1Config.builder().addReceiveListener(new ClientWatch()).build())
                .routing(api::routes).build().start();
    }

    /** Loads the model and starts serving. */
    public static Server start(ServeOptions options) {
        return new Server(options, null);
    }

    /**
     * With another read timeout for client connections than the 10 minutes of {@link #start(ServeOptions)}
     * (it bounds how long a non-streaming request is watched for its client's disconnect:
     * {@link ClientWatch}).
     */
    static Server start(ServeOptions options, Duration clientReadTimeout) {
        return new Server(options, clientReadTimeout);
    }

    /** The port listened on (the one chosen by the system when 0 was asked). */
    public int port() {
        return web.port();
    }

    public ServeOptions options() {
        return options;
    }

    /** What the server logs once it listens. */
    public String banner() {
        return "gsa4j serve: " + options.modelName() + " on http://" + options.host() + ":" + port() + " (cpu, batch " + options.maxBatch()
                + ", queue " + options.maxQueue() + ", state store " + (store == null ? "none" : store.describe()) + ")";
    }

    /**
     * Graceful stop (SIGTERM): new requests get 503 (and {@code /health} too), running ones may
     * finish for the drain time, the rest are cancelled; every session state is written, and
     * every response has ended, before the HTTP server stops. Returns the number of requests
     * cancelled.
     */
    public int drainAndStop() {
        int cancelled = 0;
        try {
            cancelled = engine.drain(options.drainMillis());
            long deadline = System.currentTimeMillis() + 10_000;   // the handlers write their last events
            while (api.handlersRunning() > 0 && System.currentTimeMillis() < deadline) Thread.sleep(10);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        close();
        return cancelled;
    }

    @Override
    public void close() {
        engine.close();   // first: handlers waiting for their requests get their end, then the HTTP server stops
        web.stop();
        if (store != null) store.close();
        if (tokenizer != null) tokenizer.close();
    }
}
