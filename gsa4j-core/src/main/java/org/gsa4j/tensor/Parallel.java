package org.gsa4j.tensor;

import java.util.concurrent.ForkJoinPool;
import java.util.function.IntConsumer;

/**
 * A tiny parallel-for on resident worker threads ({@link WorkerTeam}), as many as the common pool's
 * parallelism plus the caller (the machine's cores unless
 * {@code java.util.concurrent.ForkJoinPool.common.parallelism} says otherwise). A loop started
 * while the workers are busy (a parallel loop inside another one) runs on its caller alone.
 *
 * <p>Every parallel loop of the engine cuts its work by {@link #threads()} only, never by which
 * thread runs what, and every output element is computed whole by one task in a fixed order, so
 * results are the same bits for every thread count. {@link #useThreads} changes the count at run
 * time (the scaling bench and the determinism tests).
 */
public final class Parallel {
    private Parallel() {}

    /** Chunks per thread that {@link #forRange} cuts a long loop into: a thread that falls behind costs at most 1/8 of its share. */
    static final int CHUNKS_PER_THREAD = 8;

    private static volatile int threads = machineThreads();

    /** The threads this process runs parallel work on at most: the caller plus the worker team. */
    public static int machineThreads() {
        return ForkJoinPool.getCommonPoolParallelism() + 1;
    }

    /** The thread count parallel work is cut for (and run on, up to {@link #machineThreads()}). */
    public static int threads() {
        return threads;
    }

    /**
     * Cuts and runs parallel work for {@code n} threads from now on and returns the previous count.
     * Above {@link #machineThreads()} only the cut changes (the tests use this to cut work for 64
     * threads on a two-core machine). For the scaling bench and tests: call it between jobs.
     */
    public static int useThreads(int n) {
        if (n < 1) throw new IllegalArgumentException("threads must be at least 1, got " + n);
        int before = threads;
        threads = n;
        WorkerTeam team = WorkerTeam.common();
        if (team != null) team.setParticipants(n - 1);
        return before;
    }

    /**
     * Runs body(i) for i in [0, n); in parallel when n > 1, each thread taking contiguous runs of
     * indices (at most {@link #CHUNKS_PER_THREAD} runs per thread, so that a claim is cheap next to
     * the work even when one index is a few hundred nanoseconds of it).
     */
    public static void forRange(int n, IntConsumer body) {
        int chunks = Math.min(n, CHUNKS_PER_THREAD * threads);
        if (chunks <= 1) {
            for (int i = 0; i < n; i++) body.accept(i);
        } else if (chunks == n) {
            if (!tryTeam(body, n)) for (int i = 0; i < n; i++) body.accept(i);
        } else {
            IntConsumer run = c -> {
                for (int i = runStart(n, chunks, c), end = runStart(n, chunks, c + 1); i < end; i++) body.accept(i);
            };
            if (!tryTeam(run, chunks)) for (int i = 0; i < n; i++) body.accept(i);
        }
    }

    /**
     * Runs task(i) for i in [0, n), in parallel when n > 1, every index its own task: for loops
     * whose every index is tens of microseconds of work or more (the chunk operator's chunks), where
     * {@link #forRange}'s runs of several indices would leave threads idle at the end for up to a
     * whole run.
     */
    public static void forTasks(int n, IntConsumer task) {
        if (n <= 1 || !tryTeam(task, n)) {
            for (int i = 0; i < n; i++) task.accept(i);
        }
    }

    /** First index of run c when [0, n) is cut into {@code runs} runs whose lengths differ by at most one. */
    static int runStart(int n, int runs, int c) {
        return (int) ((long) c * n / runs);
    }

    /**
     * The decode path's parallel-for: runs {@code task.accept(i)} for every i in [0, n) on the worker
     * team, the caller taking part, and returns when all are done. Allocation-free (pass a task
     * object made once); runs serially on the caller when the team is busy with other work or
     * decoding is single-threaded ({@code -Dgsa4j.decodeThreads=1}).
     */
    public static void forDecode(int n, IntConsumer task) {
        if (n <= 1 || !DECODE_PARALLEL || !tryTeam(task, n)) {
            for (int i = 0; i < n; i++) task.accept(i);
        }
    }

    /** Whether decoding uses the worker team ({@code -Dgsa4j.decodeThreads=1} keeps it on the caller). */
    static final boolean DECODE_PARALLEL = Integer.getInteger("gsa4j.decodeThreads", 2) > 1;

    /** Runs body(i) for i in [0, n) on the worker team and the caller; false (nothing run) when the team is busy or absent. */
    static boolean tryTeam(IntConsumer body, int n) {
        if (threads <= 1) return false;
        WorkerTeam team = WorkerTeam.common();
        return team != null && team.tryRun(body, n);
    }

    /** A half-open range [from, to) of a blocked loop. */
    @FunctionalInterface
    public interface RangeBody {
        void run(int from, int to);
    }

    /**
     * Runs body over [0, n) cut into fixed blocks of {@code block} elements (the last one shorter), in
     * parallel when there is more than one block. The cut depends only on n and block, never on the
     * thread count, so per-block results are deterministic.
     */
    public static void forBlocks(int n, int block, RangeBody body) {
        if (n <= 0) return;
        int blocks = (n + block - 1) / block;
        if (blocks == 1) {
            body.run(0, n);
            return;
        }
        forRange(blocks, i -> body.run(i * block, Math.min(n, (i + 1) * block)));
    }

    /** Parallel jobs the worker team has run since start-up, and their chunks: for the bench. */
    public static long jobsRun() {
        WorkerTeam team = WorkerTeam.common();
        return team == null ? 0 : team.jobs();
    }

    /** Chunks of all jobs {@link #jobsRun()} counts. */
    public static long chunksRun() {
        WorkerTeam team = WorkerTeam.common();
        return team == null ? 0 : team.chunks();
    }
}
