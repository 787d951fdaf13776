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
 * <p>What a job costs is cache-line transfers between cores, so the protocol keeps them few. The
 * job state that changes is one 64-bit <em>ticket</em>: chunk count and next chunk (24 bits each).
 * The caller writes the job, then a fresh ticket, then the job's number on a separate
 * <em>doorbell</em> line, which is all that idle workers spin on (for a
 * while after each job; then they park): until a job is published the lines the caller claims
 * from are its own. Every thread claims chunks with one atomic add on the ticket, which never
 * fails and never needs a retry; a claim is valid when its next-chunk field is below the count in
 * the same word. A worker that is late, still adding to an exhausted ticket, either gets a chunk
 * of the new job (a genuine claim: the new job was written before its ticket) or nothing.
 * Completion is counted once per thread and job, not per chunk: each worker adds the number of
 * chunks it ran to a running total on a third line, and the caller, which knows how many it ran
 * itself, waits for the rest. The three lines are padded apart.
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

    private static final int FIELD_BITS = 24;
    private static final long FIELD_MASK = (1L << FIELD_BITS) - 1;
    /** Most chunks of one job (the next-chunk field needs headroom for late claims past the count). */
    static final int MAX_CHUNKS = 1 << 22;

    // Slots of `lines`, 128 bytes apart (adjacent-line prefetch pairs 64-byte lines).
    private static final int DOORBELL = 16, TICKET = 32, DONE = 48;
    private final AtomicLongArray lines = new AtomicLongArray(64);
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
    /** Chunks the workers have run over all jobs: the running total they add to. */
    private long workerChunks;
    // Jobs and chunks run, for the bench (written by the lock holder only).
    private long jobs, chunksRun;

    private WorkerTeam(int workers) {
        threads = new Thread[workers];
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
            lines.lazySet(TICKET, (long) chunks << FIELD_BITS); // published by the doorbell
            // A volatile store: it orders before the parked-flag reads below as a parking worker's
            // flag store orders before its doorbell re-read, so either the worker sees this job or
            // this thread sees the worker parked.
            lines.set(DOORBELL, generation);
            int helpers = participants;
            for (int t = 0; t < helpers; t++) if (parked.get(t * PARK_STRIDE) != 0) LockSupport.unpark(threads[t]);
            long target = workerChunks + chunks - work();
            // The chunks still running are other threads' (this one found none left to claim).
            for (int i = 0; lines.get(DONE) < target; i++) {
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
            int ran = work();
            if (ran > 0) lines.getAndAdd(DONE, ran);
        }
    }

    /** Claims and runs chunks until the ticket is exhausted; returns how many this thread ran. */
    private int work() {
        int ran = 0;
        while (true) {
            long t = lines.getAndIncrement(TICKET);
            int next = (int) (t & FIELD_MASK), count = (int) ((t >>> FIELD_BITS) & FIELD_MASK);
            if (next >= count) return ran;
            try {
                if (failure == null) job.accept(next);
            } catch (Throwable e) {
                if (failure == null) failure = e;
            }
            ran++;
        }
    }
}
