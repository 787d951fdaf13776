package org.gsa4j.serve;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;

/** The server's meters, exposed in Prometheus' text format at {@code GET /metrics}. */
final class Metrics {
    final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    final Counter promptTokens = Counter.builder("gsa4j.prompt.tokens").description("prompt tokens received").register(registry);
    final Counter generatedTokens = Counter.builder("gsa4j.generated.tokens").description("tokens generated").register(registry);
    final Counter prefixHits = Counter.builder("gsa4j.prefix.cache.hits").description("prompts that started from a cached prefix").register(registry);
    final Counter prefixMisses = Counter.builder("gsa4j.prefix.cache.misses").description("prompts without a cached prefix").register(registry);
    final Counter prefixTokens = Counter.builder("gsa4j.prefix.cache.tokens").description("prompt tokens not prefilled thanks to the cache").register(registry);
    final Counter storeHits = Counter.builder("gsa4j.state.store.hits").description("session states found in the store").register(registry);
    final Counter storeMisses = Counter.builder("gsa4j.state.store.misses").description("sessions not found in the store (new)").register(registry);
    final Timer storeReads = latency("gsa4j.state.store.read", "loading a session's state from the store (once per request on a session)");
    final Timer storeWrites = latency("gsa4j.state.store.write", "writing a session's state to the store (once per request on a session)");
    final Timer timeToFirstToken = latency("gsa4j.time.to.first.token", "from the request's arrival to its first generated token");
    final Timer interTokenLatency = latency("gsa4j.inter.token.latency", "between consecutive tokens of one generation");
    final DistributionSummary batchSize = DistributionSummary.builder("gsa4j.batch.size").description("sequences in a decoding pass")
            .serviceLevelObjectives(1, 2, 4, 8, 16, 32, 64, 128, 256).register(registry);
    final AtomicInteger queueDepth = new AtomicInteger(), activeSequences = new AtomicInteger();

    Metrics(LongSupplier storeBytes, LongSupplier prefixCacheBytes) {
        Gauge.builder("gsa4j.queue.depth", queueDepth, AtomicInteger::get).description("requests waiting to join the batch").register(registry);
        Gauge.builder("gsa4j.active.sequences", activeSequences, AtomicInteger::get).description("requests being prefilled or decoded").register(registry);
        Gauge.builder("gsa4j.state.store.size", storeBytes, s -> s.getAsLong()).baseUnit("bytes").description("bytes in the session store").register(registry);
        Gauge.builder("gsa4j.prefix.cache.size", prefixCacheBytes, s -> s.getAsLong()).baseUnit("bytes").description("bytes of cached prefix states").register(registry);
    }

    private Timer latency(String name, String description) {
        return Timer.builder(name).description(description).publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofMillis(1)).maximumExpectedValue(Duration.ofSeconds(120)).register(registry);
    }

    /** The store, its reads and writes timed. */
    StateStore timed(StateStore store) {
        return new StateStore() {
            @Override
            public Optional<byte[]> get(String sessionId) {
                return storeReads.record(() -> store.get(sessionId));
            }

            @Override
            public void put(String sessionId, byte[] snapshot) {
                storeWrites.record(() -> store.put(sessionId, snapshot));
            }

            @Override
            public long sizeBytes() {
                return store.sizeBytes();
            }

            @Override
            public String describe() {
                return store.describe();
            }

            @Override
            public void close() {
                store.close();
            }
        };
    }

    void request(String endpoint, int status) {
        Counter.builder("gsa4j.requests").description("HTTP requests by endpoint and status")
                .tag("endpoint", endpoint).tag("status", Integer.toString(status)).register(registry).increment();
    }

    String scrape() {
        return registry.scrape();
    }
}
