package org.gsa4j.serve;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

import java.time.Duration;
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
    final Timer timeToFirstToken = latency("gsa4j.time.to.first.token", "from the request's arrival to its first generated token");
    final Timer interTokenLatency = latency("gsa4j.inter.token.latency", "between consecutive tokens of one generation");
    final AtomicInteger batchSize = new AtomicInteger(), queueDepth = new AtomicInteger(), activeSequences = new AtomicInteger();

    Metrics(LongSupplier storeBytes, LongSupplier prefixCacheBytes) {
        Gauge.builder("gsa4j.batch.size", batchSize, AtomicInteger::get).description("sequences in the last decoding pass").register(registry);
        Gauge.builder("gsa4j.queue.depth", queueDepth, AtomicInteger::get).description("requests waiting to join the batch").register(registry);
        Gauge.builder("gsa4j.active.sequences", activeSequences, AtomicInteger::get).description("requests being prefilled or decoded").register(registry);
        Gauge.builder("gsa4j.state.store.size", storeBytes, s -> s.getAsLong()).baseUnit("bytes").description("bytes in the session store").register(registry);
        Gauge.builder("gsa4j.prefix.cache.size", prefixCacheBytes, s -> s.getAsLong()).baseUnit("bytes").description("bytes of cached prefix states").register(registry);
    }

    private Timer latency(String name, String description) {
        return Timer.builder(name).description(description).publishPercentileHistogram()
                .minimumExpectedValue(Duration.ofMillis(1)).maximumExpectedValue(Duration.ofSeconds(120)).register(registry);
    }

    void request(String endpoint, int status) {
        Counter.builder("gsa4j.requests").description("HTTP requests by endpoint and status")
                .tag("endpoint", endpoint).tag("status", Integer.toString(status)).register(registry).increment();
    }

    String scrape() {
        return registry.scrape();
    }
}
