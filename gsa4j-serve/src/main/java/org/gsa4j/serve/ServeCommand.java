package org.gsa4j.serve;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/** {@code gsa4j serve}: the OpenAI-compatible server (also runnable alone: {@link #main}). */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {"Serves a model over OpenAI's HTTP API, batching requests, with resumable sessions.",
                "Endpoints: /v1/completions, /v1/chat/completions, /v1/models, /health, /metrics; conversations are kept as",
                "decode-state snapshots in a directory or Redis (docs/SERVING.md)."})
public final class ServeCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "model folder (config.json, *.safetensors; tokenizer.json and a chat template for text and chat)")
    Path model;

    @Option(names = "--model-name", description = "the model's name in the API (default: the folder's name)")
    String modelName;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "address to bind (default: ${DEFAULT-VALUE})")
    String host;

    @Option(names = "--port", defaultValue = "8080", description = "port (0: any free one) (default: ${DEFAULT-VALUE})")
    int port;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu; cuda once the GPU backend decodes whole models (default: ${DEFAULT-VALUE})")
    String device;

    @Option(names = "--weights", defaultValue = "f32", description = "f32, or bf16 (half the bytes read per token) (default: ${DEFAULT-VALUE})")
    String weights;

    @Option(names = "--max-batch", defaultValue = "16", description = "requests decoded together (default: ${DEFAULT-VALUE})")
    int maxBatch;

    @Option(names = "--max-queue", defaultValue = "64", description = "requests waiting for the batch; more get 429 (default: ${DEFAULT-VALUE})")
    int maxQueue;

    @Option(names = "--prefill-chunk", defaultValue = "64", description = "prompt tokens per pass, interleaved with decoding; also the prefix cache's granularity (default: ${DEFAULT-VALUE})")
    int prefillChunk;

    @Option(names = "--state-store", description = "where sessions live: a directory, or redis://host:port (default: none, sessions refused)")
    String stateStore;

    @Option(names = "--state-store-max-bytes", defaultValue = "1073741824", description = "size bound of a directory store (default: ${DEFAULT-VALUE})")
    long stateStoreMaxBytes;

    @Option(names = "--api-key", description = "required bearer key (default: $GSA4J_API_KEY, else none)")
    String apiKey;

    @Option(names = "--max-body-bytes", defaultValue = "1048576", description = "largest request body (default: ${DEFAULT-VALUE})")
    long maxBodyBytes;

    @Option(names = "--max-prompt-tokens", defaultValue = "32768", description = "longest prompt of one request (default: ${DEFAULT-VALUE})")
    int maxPromptTokens;

    @Option(names = "--max-tokens", defaultValue = "4096", description = "largest max_tokens (default: ${DEFAULT-VALUE})")
    int maxTokens;

    @Option(names = "--prefix-cache-bytes", defaultValue = "268435456", description = "memory for cached prompt-prefix states, 0 = off (default: ${DEFAULT-VALUE})")
    long prefixCacheBytes;

    @Option(names = "--drain-seconds", defaultValue = "30", description = "on SIGTERM, how long running requests may finish (default: ${DEFAULT-VALUE})")
    long drainSeconds;

    ServeOptions options() {
        String key = apiKey != null ? apiKey : System.getenv("GSA4J_API_KEY");
        String name = modelName != null ? modelName : model.toAbsolutePath().normalize().getFileName().toString();
        return new ServeOptions(model, name, weights, host, port, device, maxBatch, maxQueue, prefillChunk, stateStore, stateStoreMaxBytes,
                key == null || key.isEmpty() ? null : key, maxBodyBytes, maxPromptTokens, maxTokens, prefixCacheBytes, drainSeconds * 1000);
    }

    @Override
    public Integer call() throws InterruptedException {
        ServeOptions o;
        try {
            o = options();
        } catch (IllegalArgumentException e) {
            System.err.println("gsa4j serve: " + e.getMessage());
            return 2;
        }
        Server server = Server.start(o);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {   // SIGTERM / Ctrl-C: drain, write sessions, stop
            System.err.println("gsa4j serve: stopping (draining for up to " + drainSeconds + " s)");
            int cancelled = server.drainAndStop();
            System.err.println("gsa4j serve: stopped (" + cancelled + " requests cancelled; session states written)");
            stopped.countDown();
        }, "gsa4j-serve-drain"));
        System.out.println(server.banner());
        System.out.flush();
        stopped.await();
        return 0;
    }

    public static void main(String[] args) {
        int code = new CommandLine(new ServeCommand()).execute(args);
        if (code != 0) System.exit(code);
    }
}
