package org.gsa4j.tensor;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The worker team behind {@link Parallel#forRange}: every index once, nesting, failures, several callers. */
class ParallelTest {

    @Test
    void everyIndexRunsExactlyOnce() {
        for (int n : new int[] {0, 1, 2, 3, 63, 64, 65, 1000}) {
            AtomicIntegerArray hits = new AtomicIntegerArray(Math.max(n, 1));
            for (int rep = 0; rep < 50; rep++) Parallel.forRange(n, hits::incrementAndGet);
            for (int i = 0; i < n; i++) assertEquals(50, hits.get(i), "n=" + n + " index " + i);
        }
    }

    @Test
    void nestedLoopsRunAndComplete() {
        AtomicIntegerArray hits = new AtomicIntegerArray(16 * 16);
        Parallel.forRange(16, i -> Parallel.forRange(16, j -> hits.incrementAndGet(i * 16 + j)));
        for (int i = 0; i < 256; i++) assertEquals(1, hits.get(i));
    }

    @Test
    void aFailingChunkIsRethrownOnTheCallerAndTheTeamStaysUsable() {
        IllegalStateException boom = new IllegalStateException("boom");
        for (int failAt : new int[] {0, 7, 99}) {
            RuntimeException e = assertThrows(RuntimeException.class, () -> Parallel.forRange(100, i -> {
                if (i == failAt) throw boom;
            }));
            assertSame(boom, e);
        }
        AtomicInteger sum = new AtomicInteger();
        Parallel.forRange(100, sum::addAndGet);
        assertEquals(4950, sum.get());
    }

    @Test
    void concurrentCallersEachGetAllTheirIndices() throws InterruptedException {
        int callers = 4, n = 200, reps = 200;
        AtomicIntegerArray[] hits = new AtomicIntegerArray[callers];
        Thread[] threads = new Thread[callers];
        for (int t = 0; t < callers; t++) {
            AtomicIntegerArray h = hits[t] = new AtomicIntegerArray(n);
            threads[t] = new Thread(() -> {
                for (int r = 0; r < reps; r++) Parallel.forRange(n, h::incrementAndGet);
            });
            threads[t].start();
        }
        for (Thread t : threads) t.join();
        for (AtomicIntegerArray h : hits) for (int i = 0; i < n; i++) assertEquals(reps, h.get(i));
    }

    /**
     * Many short jobs in a row whose chunk counts alternate between small and large: each job's
     * chunks run exactly once and all before its loop returns, never later under a newer job. (A
     * worker still inside one job could once claim a chunk of the next: the next job's larger chunk
     * count made its CAS on the old ticket succeed; the caller then counted a chunk twice, returned
     * early, and a worker hit the cleared job.)
     */
    @Test
    void backToBackJobsWithGrowingChunkCountsNeverMix() {
        int jobs = 100_000;
        int[][] hits = new int[jobs][];
        for (int j = 0; j < jobs; j++) {
            int n = j % 2 == 0 ? 1 + j % 3 : 8 + j % 5;
            int[] h = hits[j] = new int[n];
            Parallel.forRange(n, c -> h[c]++);
            for (int c = 0; c < n; c++) assertEquals(1, h[c], "job " + j + " chunk " + c + " when its loop returned");
        }
        for (int j = 0; j < jobs; j++)
            for (int c = 0; c < hits[j].length; c++) assertEquals(1, hits[j][c], "job " + j + " chunk " + c + " at the end");
    }
}
