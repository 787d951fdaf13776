package org.gsa4j.serve;

import org.gsa4j.data.Tokenizer;
import org.gsa4j.infer.TextStream;
import org.gsa4j.models.BatchDecoder;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.DecodeState;
import org.gsa4j.tensor.Tensor;

import java.io.ByteArrayOutputStream;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;

/**
 * Continuous batching: one thread runs decoding passes ({@link BatchDecoder}) over every active
 * request. A pass holds one token of each request that is generating and, within a budget of
 * {@code prefillChunk} tokens, chunks of the prompts being prefilled, so a long prompt never
 * stalls the streams already running; requests join and leave between passes. Chunks end at
 * multiples of the chunk size, where stateless prompts leave their states in the prefix cache.
 *
 * <p>Handlers talk to the engine through a {@link Job}: the engine posts its tokens and its end
 * as events and never waits for a client; a handler cancels a job (its client went away) and the
 * engine drops it at the next pass boundary. A job of a session ends by writing its state to the
 * store (on an I/O thread, not the engine's) before its last event is posted, so the session can
 * be resumed, by any replica, as soon as the response has ended.
 */
final class Engine implements AutoCloseable {
    /**
     * The limits of the batch: sequences decoded together, requests waiting for a place in the
     * batch (beyond its free places), prompt tokens per pass.
     */
    record Options(int maxBatch, int maxQueue, int prefillChunk) {
        Options {
            if (maxBatch < 1 || maxQueue < 0 || prefillChunk < 1) throw new IllegalArgumentException("bad engine options " + maxBatch + "/" + maxQueue + "/" + prefillChunk);
        }
    }

    /** What a request asks of the engine. {@code input} is fed first (a session's pending tokens, then the new prompt). */
    record Request(int[] input, DecodeState state, int promptTokens, int cachedTokens, int[] fullPrompt, String prefixKey,
                   int maxTokens, Sampling sampling, List<String> stop, boolean ignoreEos, String sessionId, long arrivalNanos) {}

    /** What the engine tells a handler, in order: tokens, then one end. */
    sealed interface Event permits Token, Done, Failed {}

    record Token(int id, String text) implements Event {}

    record Done(String finishReason, int promptTokens, int completionTokens, int cachedTokens, String trailingText) implements Event {}

    record Failed(String message) implements Event {}

    /** Thrown by {@link #submit} when the queue is full (HTTP 429) or the server is draining (503). */
    static final class Refused extends RuntimeException {
        final boolean draining;

        Refused(String message, boolean draining) {
            super(message);
            this.draining = draining;
        }
    }

    /** One request in the engine. */
    static final class Job {
        final Request request;
        final DecodeState state;
        private final BlockingQueue<Event> events = new LinkedBlockingQueue<>();
        /** Counted down when the last event is posted (for a session: after its state was written). */
        private final CountDownLatch ended = new CountDownLatch(1);
        private volatile boolean cancelled;
        private int fed, generated, pending = -1;
        private long lastToken;
        private String prefixKey;
        /** Token ids to text (null without a tokenizer); what it hands on collects in {@code fresh}. */
        private final TextStream text;
        private final StringBuilder fresh = new StringBuilder();

        Job(Request request, Tokenizer tokenizer) {
            this.request = request;
            this.state = request.state();
            this.text = tokenizer == null ? null : new TextStream(tokenizer, fresh::append).stopAt(request.stop());
            this.prefixKey = request.prefixKey();
        }

        /** Takes a generated token; returns its new text; false in {@code stop[0]} when a stop string appeared. */
        private String text(int token, boolean[] stop) {
            if (text == null) return "";
            stop[0] = !text.accept(token);
            String out = fresh.toString();
            fresh.setLength(0);
            return out;
        }

        /** What the text stream still held back at the end. */
        private String rest() {
            if (text == null || text.stopped()) return "";
            text.finish();
            String out = fresh.toString();
            fresh.setLength(0);
            return out;
        }

        /** The client went away: the engine drops the job at the next pass boundary. */
        void cancel() {
            cancelled = true;
        }

        boolean cancelled() {
            return cancelled;
        }

        /** Waits until the job has ended (its session written), up to {@code millis}; true if it has. */
        boolean awaitEnd(long millis) throws InterruptedException {
            return ended.await(millis, TimeUnit.MILLISECONDS);
        }

        /** The next event, waiting up to {@code millis}; null on time-out. */
        Event next(long millis) throws InterruptedException {
            return events.poll(millis, TimeUnit.MILLISECONDS);
        }

        private boolean prefilling() {
            return fed < request.input().length;
        }
    }

    private final CausalLM model;
    private final Tokenizer tokenizer;
    private final Options options;
    private final Metrics metrics;
    private final StateStore store;
    private final PrefixCache prefixes;
    private final BatchDecoder decoder;
    private final int vocab, eos;
    private final ArrayDeque<Job> waiting = new ArrayDeque<>();
    private final List<Job> active = new ArrayList<>();
    private final ExecutorService io = Executors.newVirtualThreadPerTaskExecutor();
    private final Thread thread;
    /** Jobs submitted whose end (for a session: after its state was written) has not been posted yet. */
    private final AtomicInteger open = new AtomicInteger();
    /** Jobs cancelled because the server was draining. */
    private final AtomicInteger cancelledByDrain = new AtomicInteger();
    private volatile boolean draining, cancelAll, stopped;
    private volatile long passes;   // written by the engine thread only

    Engine(CausalLM model, Tokenizer tokenizer, Options options, Metrics metrics, StateStore store, PrefixCache prefixes) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.options = options;
        this.metrics = metrics;
        this.store = store;
        this.prefixes = prefixes;
        this.decoder = new BatchDecoder(model, options.maxBatch() + options.prefillChunk());
        this.vocab = model.config.vocabSize();
        this.eos = tokenizer == null ? -1 : tokenizer.eosId();
        this.thread = Thread.ofPlatform().name("gsa4j-engine").daemon(true).start(this::loop);
    }

    int eosId() {
        return eos;
    }

    /**
     * Queues a request; refuses when the server is draining, or when more than {@code maxQueue}
     * requests would wait beyond the batch's free places.
     */
    Job submit(Request request) {
        Job job = new Job(request, tokenizer);
        synchronized (waiting) {
            if (draining || stopped) throw new Refused("the server is shutting down", true);
            int inBatch = open.get() - waiting.size(), free = Math.max(0, options.maxBatch() - inBatch);
            if (waiting.size() >= options.maxQueue() + free) {
                throw new Refused("the server is busy: " + inBatch + " requests in the batch (--max-batch " + options.maxBatch() + "), " + waiting.size()
                        + " waiting (--max-queue " + options.maxQueue() + "); retry later", false);
            }
            open.incrementAndGet();
            waiting.add(job);
            metrics.queueDepth.set(waiting.size());
            waiting.notifyAll();
        }
        metrics.promptTokens.increment(request.promptTokens());
        return job;
    }

    /** Passes run so far (tests watch cancellation with it). */
    long passes() {
        return passes;
    }

    private void loop() {
        while (!stopped) {
            try {
                admit();
                if (active.isEmpty()) continue;
                pass();
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException | Error e) {
                // a pass failed as a whole (a bug, or out of memory): its requests fail, the server goes on
                decoder.clear();
                for (Job j : List.copyOf(active)) fail(j, "generation failed: " + e);
                metrics.activeSequences.set(active.size());
            }
        }
    }

    /** Moves waiting requests into the batch while there is room; waits when there is nothing to do. */
    private void admit() throws InterruptedException {
        synchronized (waiting) {
            while (active.isEmpty() && waiting.isEmpty() && !stopped) waiting.wait(100);
            while (active.size() < options.maxBatch() && !waiting.isEmpty()) active.add(waiting.poll());
            metrics.queueDepth.set(waiting.size());
        }
        for (Job j : List.copyOf(active)) {
            if (j.cancelled) finish(j, "cancelled");
            else if (cancelAll) {
                cancelledByDrain.incrementAndGet();
                finish(j, "cancelled");
            }
        }
        metrics.activeSequences.set(active.size());
    }

    private final List<Job> inPass = new ArrayList<>();
    private int[] took = new int[16];

    /** One pass: a token of every generating request, prompt chunks within the budget; then sampling. */
    private void pass() {
        inPass.clear();
        int budget = options.prefillChunk(), chunk = options.prefillChunk();
        for (Job j : active) {
            if (j.prefilling()) {
                int[] input = j.request.input();
                long at = j.state.position();
                int n = Math.min(input.length - j.fed, budget);
                n = Math.min(n, chunk - (int) (at % chunk));   // end at a chunk boundary (the prefix cache's keys)
                if (n <= 0) continue;
                decoder.add(j.state, input, j.fed, n);
                budget -= n;
                record(j, n);
            } else {
                decoder.add(j.state, j.pending);
                record(j, 1);
            }
        }
        if (inPass.isEmpty()) return;
        metrics.batchSize.record(inPass.size());
        Tensor logits = decoder.run();
        passes++;
        for (int i = 0; i < inPass.size(); i++) {
            Job j = inPass.get(i);
            if (j.prefilling()) {
                j.fed += took[i];
                cachePrefix(j);
                if (j.prefilling()) continue;   // more of the prompt to come
                if (j.request.maxTokens() == 0) {
                    finish(j, "length");
                    continue;
                }
            }
            int token = j.request.sampling().pick(logits.f, i * vocab, vocab, j.state.position());
            emit(j, token);
        }
    }

    private void record(Job j, int n) {
        if (inPass.size() == took.length) took = java.util.Arrays.copyOf(took, 2 * took.length);
        took[inPass.size()] = n;
        inPass.add(j);
    }

    /** A stateless prompt at a chunk boundary leaves a copy of its state in the prefix cache. */
    private void cachePrefix(Job j) {
        int[] prompt = j.request.fullPrompt();
        long at = j.state.position();
        if (prefixes == null || prompt == null || at % prefixes.chunk() != 0 || at > prompt.length || at == 0) return;
        j.prefixKey = prefixes.next(j.prefixKey, prompt, (int) at);
        prefixes.put(j.prefixKey, j.state);
    }

    private void emit(Job j, int token) {
        long now = System.nanoTime();
        if (j.generated == 0) metrics.timeToFirstToken.record(now - j.request.arrivalNanos(), TimeUnit.NANOSECONDS);
        else metrics.interTokenLatency.record(now - j.lastToken, TimeUnit.NANOSECONDS);
        j.lastToken = now;
        j.generated++;
        j.pending = token;
        metrics.generatedTokens.increment();
        boolean end = token == eos && !j.request.ignoreEos();
        boolean[] stop = {false};
        String text = end ? "" : j.text(token, stop);
        j.events.add(new Token(token, text));
        if (end || stop[0]) finish(j, "stop");
        else if (j.generated >= j.request.maxTokens()) finish(j, "length");
    }

    private void fail(Job j, String message) {
        active.remove(j);
        end(j, new Failed(message));
    }

    /** Posts a job's last event. */
    private void end(Job j, Event last) {
        j.events.add(last);
        j.ended.countDown();
        open.decrementAndGet();
    }

    /** The job leaves the batch; a session's state is written before its end is posted. */
    private void finish(Job j, String reason) {
        active.remove(j);
        metrics.activeSequences.set(active.size());
        int[] pending = j.prefilling() ? java.util.Arrays.copyOfRange(j.request.input(), j.fed, j.request.input().length)
                : j.pending >= 0 ? new int[] {j.pending} : new int[0];
        Done done = new Done(reason, j.request.promptTokens(), j.generated, j.request.cachedTokens(), j.rest());
        if (j.request.sessionId() == null || store == null) {
            end(j, done);
            return;
        }
        io.execute(() -> {
            try {
                store.put(j.request.sessionId(), Sessions.snapshot(j.state, pending));
                end(j, done);
            } catch (RuntimeException e) {
                end(j, new Failed("cannot save session '" + j.request.sessionId() + "' to the state store: " + e.getMessage()));
            }
        });
    }

    /**
     * Stops taking requests, lets the submitted ones finish for up to {@code graceMillis}, cancels
     * the rest at the next pass boundary, and returns once every job has ended, its session
     * written (or after a minute more, should a store hang). Returns the number of jobs cancelled.
     */
    int drain(long graceMillis) throws InterruptedException {
        synchronized (waiting) {
            draining = true;
        }
        long deadline = System.currentTimeMillis() + graceMillis;
        while (System.currentTimeMillis() < deadline && open.get() > 0) Thread.sleep(10);
        cancelAll = true;   // the engine thread cancels what is left at its next boundary
        while (open.get() > 0 && System.currentTimeMillis() < deadline + 60_000) Thread.sleep(10);
        io.shutdown();
        io.awaitTermination(10, TimeUnit.SECONDS);
        return cancelledByDrain.get();
    }

    /** True from the start of {@link #drain}: new requests are refused. */
    boolean draining() {
        return draining;
    }

    /**
     * Stops the engine thread after its current pass; requests still in it fail (their handlers
     * wait for their end). A graceful stop calls {@link #drain} first.
     */
    @Override
    public void close() {
        stopped = true;
        thread.interrupt();
        try {
            thread.join(30_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (waiting) {
            active.addAll(waiting);
            waiting.clear();
        }
        for (Job j : List.copyOf(active)) fail(j, "the server stopped");
        io.shutdown();
    }
}
