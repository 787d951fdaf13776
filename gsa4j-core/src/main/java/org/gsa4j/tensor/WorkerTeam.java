package org.gsa4j.tensor;

import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import java.util.function.IntConsumer;

/**
 * Resident worker threads that run the chunks of one job at a time together with the calling
 * thread: the parallel-for behind {@link Parallel} and {@link MatVec}. A training step or a decode
 * step issues hundreds of short parallel loops; a fork-join pool pays for a stream, its tasks and
 * often a worker wake-up on each, this team for none of them. Allocation-free.
 *
 * <p>What a job costs is cache-line transfers between cores, so the protocol keeps them few and
 * off the critical path. A job of n chunks on P threads (the caller and P − 1 workers) is dealt
 * out in P <em>hands</em>: hand r holds chunks r, r + P, r + 2P, … (so each hand gets a fair mix
 * of early and late chunks, which matters where chunk sizes shrink, as in {@link MatVec}). Each
 * hand is one 64-bit word on its own line: stride P, the hand's chunk count and the next of them
 * (16 + 24 + 24 bits). The caller writes the job, the hands, then the job's number and P on a
 * <em>doorbell</em> line, which is all that idle workers spin on (for a while after each job; then
 * they park). Every thread plays its own hand first, then takes from the others' (in order from
 * the next thread's), each claim one atomic add on a hand word, which never fails and never needs
 * a retry; a claim is valid when its next field is below the count in the same word. So a thread
 * claims from a line that only it uses until it runs out, and a job whose chunks are short is
 * finished by whoever gets there first: the caller does not wait for a worker to wake up to a job
 * it has already done. A worker that is late, still adding to an exhausted hand, either gets a
 * chunk of the new job (a genuine claim: the new job was written before its hands) or nothing.
 * Completion is counted once per thread and job, not per chunk: each worker adds the number of
 * chunks it ran to a running total on its own line, and the caller, which knows how many it ran
 * itself, waits for the rest. All lines are padded apart.
 *
 * <p>Measured on two cores (an empty job of 8 chunks, dispatch to join): see docs/bench/NOTES.md.
 *
 * <p>One job at a time: a call made while the team is busy (from inside a job, or from another
 * application thread) returns false and the caller runs its loop alone. An exception thrown by a
 * chunk stops the remaining chunks from starting and is rethrown on the caller once every chunk
 * already started has finished.
 */
final class WorkerTeam {
    private static final int SPINS = 1 << 12; // about 0.2 ms of PAUSE

    /** The team of this process: one worker per thread beyond the caller, null when single-threaded. */
    static WorkerTeam common() {
        return Holder.COMMON;
    }

    private static final class Holder { // created on first use, after the thread count is configured
        static final WorkerTeam COMMON = Parallel.machineThreads() > 1 ? new WorkerTeam(Parallel.machineThreads() - 1) : null;
    }

    private static final int FIELD_BITS = 24, STRIDE_SHIFT = 2 * FIELD_BITS;
    private static final long FIELD_MASK = (1L << FIELD_BITS) - 1;
    /** Most chunks of one job (the next-chunk field needs headroom for late claims past the count). */
    static final int MAX_CHUNKS = 1 << 22;
    /** Threads of one job stay below this (the stride field has 16 bits; the doorbell keeps the count in its low 15). */
    private static final int MAX_THREADS = 1 << 15;

    // Slots of `lines`, 128 bytes (16 longs) apart: adjacent-line prefetch pairs 64-byte lines.
    private static final int LINE = 16;
    private static final int DOORBELL = 0;
    /** Hand r (r ≤ workers) at {@code (1 + r)·LINE}; worker w's running total of chunks run at {@code (2 + workers + w)·LINE}. */
    private final AtomicLongArray lines;
    /** Per worker (stride 32 ints = 128 bytes): 1 while it is parked or about to park. */
    private final AtomicIntegerArray parked;
    private static final int PARK_STRIDE = 32;

    private final AtomicReference<Thread> owner = new AtomicReference<>();
    private final Thread[] threads;
    /** Workers that take part in jobs (the rest stay parked): {@link Parallel#threads()} − 1, at most all. */
    private volatile int participants;
    // Written by the caller before the ticket that publishes the job, read by a thread after a valid claim.
    private IntConsumer job;
    private volatile Throwable failure;
    // The caller's own bookkeeping (only the lock holder touches these).
    private long generation;
    /** Chunks the workers have run over all jobs (the sum of their running totals when the last job ended). */
    private long workerChunks;
    // Jobs and chunks run, for the bench (written by the lock holder only).
    private long jobs, chunksRun;

    private WorkerTeam(int workers) {
        if (workers + 1 >= MAX_THREADS) throw new IllegalArgumentException((workers + 1) + " threads (fewer than " + MAX_THREADS + ")");
        threads = new Thread[workers];
        lines = new AtomicLongArray((2 + 2 * workers) * LINE);
        parked = new AtomicIntegerArray(workers * PARK_STRIDE + PARK_STRIDE);
        participants = workers;
        for (int t = 0; t < workers; t++) {
            int id = t;
            threads[t] = new Thread(() -> loop(id), "gsa4j-worker-" + t);
            threads[t].setDaemon(true);
            threads[t].start();
        }
    }

    long jobs() {
        return jobs;
    }

    long chunks() {
        return chunksRun;
    }

    int workers() {
        return threads.length;
    }

    /** Lets the first {@code n} workers take part in jobs (0 ≤ n ≤ {@link #workers()}); the others park. */
    void setParticipants(int n) {
        participants = Math.max(0, Math.min(n, threads.length));
        for (Thread t : threads) LockSupport.unpark(t);
    }

    /**
     * Runs {@code job.accept(c)} for every c in [0, chunks) on the team and the caller and returns
     * when all are done (true); returns false at once, running nothing, when the team is busy.
     */
    boolean tryRun(IntConsumer job, int chunks) {
        if (chunks > MAX_CHUNKS) throw new IllegalArgumentException(chunks + " chunks in one job (at most " + MAX_CHUNKS + ")");
        Thread me = Thread.currentThread();
        if (owner.get() != null || !owner.compareAndSet(null, me)) return false;
        try {
            this.job = job;
            jobs++;
            chunksRun += chunks;
            generation++;
            int hands = participants + 1;
            for (int r = 0; r < hands; r++) { // published by the doorbell
                long count = r < chunks ? (chunks - r + hands - 1) / hands : 0;
                lines.lazySet(hand(r), (long) hands << STRIDE_SHIFT | count << FIELD_BITS);
            }
            // A volatile store: it orders before the parked-flag reads below as a parking worker's
            // flag store orders before its doorbell re-read, so either the worker sees this job or
            // this thread sees the worker parked.
            lines.set(DOORBELL, generation * MAX_THREADS + hands);
            for (int t = 0; t < hands - 1; t++) if (parked.get(t * PARK_STRIDE) != 0) LockSupport.unpark(threads[t]);
            long target = workerChunks + chunks - work(0, hands);
            // The chunks still running are other threads' (this one found none left to claim).
            for (int i = 0; ; i++) {
                long done = 0;
                for (int w = 0; w < threads.length; w++) done += lines.get(total(w));
                if (done >= target) break;
                if (i < SPINS) Thread.onSpinWait();
                else Thread.yield(); // a worker descheduled on a busy machine: give it the core
            }
            workerChunks = target;
            this.job = null;
            Throwable f = failure;
            if (f != null) failure = null; // (cleared here, so no job starts with a stale one)
            if (f instanceof RuntimeException r) throw r;
            if (f instanceof Error e) throw e;
            if (f != null) throw new IllegalStateException(f);
            return true;
        } finally {
            owner.set(null);
        }
    }

    private void loop(int id) {
        long seen = 0;
        while (true) {
            long g;
            for (int i = 0; ; i++) {
                g = lines.get(DOORBELL);
                boolean member = id < participants;
                if (g != seen && member) break;
                if (i < SPINS && member) {
                    Thread.onSpinWait();
                } else {
                    seen = g; // a job this worker sits out, or none
                    parked.set(id * PARK_STRIDE, 1);
                    if (lines.get(DOORBELL) == seen || id >= participants) LockSupport.park(this);
                    parked.set(id * PARK_STRIDE, 0);
                }
            }
            seen = g;
            int hands = (int) (g % MAX_THREADS);
            int ran = work((id + 1) % hands, hands); // (a worker that sits this job out plays no hand of its own)
            if (ran > 0) lines.getAndAdd(total(id), ran);
        }
    }

    private static int hand(int r) {
        return (1 + r) * LINE;
    }

    private int total(int worker) {
        return (2 + threads.length + worker) * LINE;
    }

    /**
     * Claims and runs chunks, hand {@code own} first, then the other hands of a job of
     * {@code hands} hands in turn, until all are exhausted; returns how many this thread ran.
     */
    private int work(int own, int hands) {
        int ran = 0;
        for (int i = 0; i < hands; i++) {
            int r = own + i < hands ? own + i : own + i - hands;
            // A plain read first: an exhausted hand costs a shared line, not an exclusive one.
            for (long h = lines.get(hand(r)); !exhausted(h); ) {
                h = lines.getAndIncrement(hand(r));
                if (exhausted(h)) break;
                int next = (int) (h & FIELD_MASK);
                try {
                    if (failure == null) job.accept(r + next * (int) (h >>> STRIDE_SHIFT));
                } catch (Throwable e) {
                    if (failure == null) failure = e;
                }
                ran++;
            }
        }
        return ran;
    }

    /** Whether a hand word's next-chunk field has reached its count. */
    private static boolean exhausted(long hand) {
        return (hand & FIELD_MASK) >= ((hand >>> FIELD_BITS) & FIELD_MASK);
    }
}
