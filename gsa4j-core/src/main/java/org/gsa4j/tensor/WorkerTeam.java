package org.gsa4j.tensor;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.IntConsumer;

/**
 * Resident worker threads that run the chunks of one job at a time together with the calling
 * thread: the parallel-for behind {@link Parallel} and {@link MatVec}. A training step or a decode
 * step issues hundreds of short parallel loops; a fork-join pool pays for a stream, its tasks and
 * often a worker wake-up on each, this team for none of them: a job is published by bumping a
 * generation number, workers spin briefly before they park (bridging the serial gaps between loops),
 * and chunks are claimed from a counter tagged with the generation, so a late worker can never take
 * a chunk of the next job. Allocation-free.
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
        static final WorkerTeam COMMON = Parallel.threads() > 1 ? new WorkerTeam(Parallel.threads() - 1) : null;
    }

    private final ReentrantLock lock = new ReentrantLock();
    private final Thread[] threads;
    private final AtomicInteger[] parked;
    private volatile int generation;
    /** (generation << 32) | next chunk. */
    private final AtomicLong ticket = new AtomicLong();
    private final AtomicInteger done = new AtomicInteger();
    // The job (written while the ticket is closed, read after a successful claim); volatile so that
    // a worker that sees the new chunk count also sees the closed ticket.
    private volatile IntConsumer job;
    private volatile int chunks;
    /** Next-chunk value of a closed ticket: no chunk can be claimed. */
    private static final int CLOSED = Integer.MAX_VALUE;
    private volatile Throwable failure;

    private WorkerTeam(int workers) {
        threads = new Thread[workers];
        parked = new AtomicInteger[workers];
        for (int t = 0; t < workers; t++) {
            int id = t;
            parked[t] = new AtomicInteger();
            threads[t] = new Thread(() -> loop(id), "gsa4j-worker-" + t);
            threads[t].setDaemon(true);
            threads[t].start();
        }
    }

    /**
     * Runs {@code job.accept(c)} for every c in [0, chunks) on the team and the caller and returns
     * when all are done (true); returns false at once, running nothing, when the team is busy.
     */
    boolean tryRun(IntConsumer job, int chunks) {
        if (lock.isHeldByCurrentThread() || !lock.tryLock()) return false;
        try {
            // Close the ticket under the new generation before touching job and chunks: a worker
            // still inside the previous job may have read the old ticket and be about to compare
            // it with `chunks`; once chunks grew for the new job, its CAS on the old ticket would
            // succeed and run (and count) a chunk of the new job under the old generation.
            int g = generation + 1;
            ticket.set(((long) g << 32) | CLOSED);
            this.job = job;
            this.chunks = chunks;
            failure = null;
            done.set(0);
            ticket.set((long) g << 32);
            generation = g;
            for (int t = 0; t < threads.length; t++) if (parked[t].get() != 0) LockSupport.unpark(threads[t]);
            work(g);
            // The chunks still running are other threads' (this one found none left to claim).
            for (int i = 0; done.get() < chunks; i++) {
                if (i < SPINS) Thread.onSpinWait();
                else Thread.yield(); // a worker descheduled on a busy machine: give it the core
            }
            this.job = null;
            Throwable f = failure;
            failure = null;
            if (f instanceof RuntimeException r) throw r;
            if (f instanceof Error e) throw e;
            if (f != null) throw new IllegalStateException(f);
            return true;
        } finally {
            lock.unlock();
        }
    }

    private void loop(int id) {
        int seen = 0;
        while (true) {
            int g;
            for (int i = 0; (g = generation) == seen; i++) {
                if (i < SPINS) {
                    Thread.onSpinWait();
                } else {
                    parked[id].set(1);
                    if (generation == seen) LockSupport.park(this);
                    parked[id].set(0);
                }
            }
            seen = g;
            work(g);
        }
    }

    private void work(int g) {
        while (true) {
            long t = ticket.get();
            if ((int) (t >>> 32) != g) return;
            int c = (int) t;
            if (c >= chunks) return;
            if (!ticket.compareAndSet(t, t + 1)) continue;
            try {
                if (failure == null) job.accept(c);
            } catch (Throwable e) {
                if (failure == null) failure = e;
            } finally {
                done.incrementAndGet();
            }
        }
    }
}
