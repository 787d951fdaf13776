package org.gsa4j.serve;

import java.nio.file.Path;

/**
 * Everything {@code gsa4j serve} is told. {@code stateStore}: a directory, {@code redis://host:port},
 * or null for none (sessions refused).
 */
public record ServeOptions(Path modelDir, String modelName, String weights, String host, int port, String device,
                           int maxBatch, int maxQueue, int prefillChunk, String stateStore, long stateStoreMaxBytes,
                           String apiKey, long maxBodyBytes, int maxPromptTokens, int maxTokens, long prefixCacheBytes,
                           long drainMillis) {
    public ServeOptions {
        if (!device.equals("cpu")) {
            throw new IllegalArgumentException("--device " + device + " is not available: gsa4j serve decodes on the CPU only (--device cpu)."
                    + (device.equals("cuda") ? " The CUDA backend (gsa4j-cuda) runs the GSA and GLA operators but cannot decode a whole model yet;"
                    + " once it can, --device cuda will serve from it." : ""));
        }
        if (port < 0 || port > 65535) throw new IllegalArgumentException("--port must be in [0, 65535], got " + port);
        if (maxBatch < 1) throw new IllegalArgumentException("--max-batch must be >= 1, got " + maxBatch);
        if (maxQueue < 0) throw new IllegalArgumentException("--max-queue must be >= 0, got " + maxQueue);
        if (prefillChunk < 1) throw new IllegalArgumentException("--prefill-chunk must be >= 1, got " + prefillChunk);
    }

    /** The defaults for a model folder: 127.0.0.1:8080, the directory store under the model's folder. */
    public static ServeOptions defaults(Path modelDir) {
        return new ServeOptions(modelDir, modelDir.toAbsolutePath().normalize().getFileName().toString(), "f32", "127.0.0.1", 8080, "cpu",
                16, 64, 64, null, 1L << 30, null, 1 << 20, 32768, 4096, 256L << 20, 30_000);
    }

    public ServeOptions withPort(int p) {
        return new ServeOptions(modelDir, modelName, weights, host, p, device, maxBatch, maxQueue, prefillChunk, stateStore, stateStoreMaxBytes,
                apiKey, maxBodyBytes, maxPromptTokens, maxTokens, prefixCacheBytes, drainMillis);
    }

    public ServeOptions withStateStore(String s) {
        return new ServeOptions(modelDir, modelName, weights, host, port, device, maxBatch, maxQueue, prefillChunk, s, stateStoreMaxBytes,
                apiKey, maxBodyBytes, maxPromptTokens, maxTokens, prefixCacheBytes, drainMillis);
    }

    public ServeOptions withApiKey(String k) {
        return new ServeOptions(modelDir, modelName, weights, host, port, device, maxBatch, maxQueue, prefillChunk, stateStore, stateStoreMaxBytes,
                k, maxBodyBytes, maxPromptTokens, maxTokens, prefixCacheBytes, drainMillis);
    }

    public ServeOptions withLimits(int maxBatch, int maxQueue, int prefillChunk, long maxBodyBytes, int maxPromptTokens, int maxTokens) {
        return new ServeOptions(modelDir, modelName, weights, host, port, device, maxBatch, maxQueue, prefillChunk, stateStore, stateStoreMaxBytes,
                apiKey, maxBodyBytes, maxPromptTokens, maxTokens, prefixCacheBytes, drainMillis);
    }
}
