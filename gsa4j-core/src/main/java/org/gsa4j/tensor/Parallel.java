package org.gsa4j.tensor;

import java.util.concurrent.ForkJoinPool;
import java.util.function.IntConsumer;
import java.util.stream.IntStream;

/** A tiny parallel-for over the common pool (sized to the machine's cores). */
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
        IntStream.range(0, n).parallel().forEach(body);
    }
}
