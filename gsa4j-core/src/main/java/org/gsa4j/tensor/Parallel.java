package org.gsa4j.tensor;

import java.util.concurrent.ForkJoinPool;
import java.util.function.IntConsumer;

/**
 * A tiny parallel-for on resident worker threads ({@link WorkerTeam}), as many as the common pool's
 * parallelism plus the caller (the machine's cores unless
 * {@code java.util.concurrent.ForkJoinPool.common.parallelism} says otherwise). A loop started
 * while the workers are busy (a parallel loop inside another one) runs on its caller alone.
 */
public final class Parallel {
    private Parallel() {}

    public static int threads() {
        return ForkJoinPool.getCommonPoolParallelism() + 1;
    }

    /** Runs body(i) for i in [0, n); in parallel when n > 1. */
    public static void forRange(int n, IntConsumer body) {
        if (n <= 1) {
            for (int i = 0; i < n; i++) body.accept(i);
            return;
        }
        if (!tryTeam(body, n)) for (int i = 0; i < n; i++) body.accept(i);
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
}
