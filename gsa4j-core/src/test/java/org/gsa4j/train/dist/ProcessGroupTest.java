package org.gsa4j.train.dist;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.*;

/** The rendezvous and the watch, with the ranks as threads of this JVM (the process tests are in DistributedRunTest). */
class ProcessGroupTest {

    static final ProcessGroup.Options FAST = new ProcessGroup.Options(Duration.ofSeconds(20), Duration.ofMillis(100), Duration.ofSeconds(3), null);

    /** A thread per rank: the common pool may have a single worker on a small machine. */
    static final java.util.concurrent.ExecutorService THREADS = java.util.concurrent.Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r);
        t.setDaemon(true);
        return t;
    });

    static RankEnv rank(int rank, int world, int port) {
        return new RankEnv(rank, rank, world, world, "127.0.0.1", port);
    }

    static byte[] id(int seed) {
        byte[] b = new byte[ProcessGroup.UNIQUE_ID_BYTES];
        Arrays.fill(b, (byte) seed);
        b[0] = 1;
        b[127] = (byte) 0xFF;
        return b;
    }

    /** Joins ranks 1.. of {@code world} on threads, then rank 0 here; returns every group, by rank. */
    static List<ProcessGroup> meet(int world, ProcessGroup.Options o) throws Exception {
        int port = Launcher.freePort("127.0.0.1");
        List<CompletableFuture<ProcessGroup>> guests = new java.util.ArrayList<>();
        for (int r = 1; r < world; r++) {
            int rr = r;
            guests.add(CompletableFuture.supplyAsync(() -> ProcessGroup.join(rank(rr, world, port), () -> {
                throw new AssertionError("only rank 0 creates the id");
            }, o), THREADS));
        }
        ProcessGroup host = ProcessGroup.join(rank(0, world, port), () -> id(7), o);
        List<ProcessGroup> all = new java.util.ArrayList<>(List.of(host));
        for (var g : guests) all.add(g.get(20, TimeUnit.SECONDS));
        return all;
    }

    @Test
    void everyRankGetsRankZerosIdAndBarriersAndFinishWork() throws Exception {
        List<ProcessGroup> groups = meet(3, FAST);
        for (ProcessGroup g : groups) assertArrayEquals(id(7), g.uniqueId(), g.toString());
        assertTrue(groups.get(0).isWriter());
        assertFalse(groups.get(1).isWriter() || groups.get(2).isWriter());
        // a barrier holds every rank until the last arrives
        AtomicInteger passed = new AtomicInteger();
        var late = CompletableFuture.runAsync(() -> {
            sleep(300);
            groups.get(2).barrier();
            passed.incrementAndGet();
        }, THREADS);
        var early = List.of(CompletableFuture.runAsync(() -> { groups.get(0).barrier(); passed.incrementAndGet(); }, THREADS),
                CompletableFuture.runAsync(() -> { groups.get(1).barrier(); passed.incrementAndGet(); }, THREADS));
        sleep(150);
        assertEquals(0, passed.get(), "a rank passed the barrier before the last one arrived");
        late.get(10, TimeUnit.SECONDS);
        for (var f : early) f.get(10, TimeUnit.SECONDS);
        assertEquals(3, passed.get());
        // an orderly end is no failure anywhere, whatever order the ranks finish in
        var f1 = CompletableFuture.runAsync(groups.get(1)::finish, THREADS);
        var f2 = CompletableFuture.runAsync(groups.get(2)::finish, THREADS);
        sleep(200);
        groups.get(0).finish();
        f1.get(10, TimeUnit.SECONDS);
        f2.get(10, TimeUnit.SECONDS);
        for (ProcessGroup g : groups) assertNull(g.failure());
    }

    @Test
    void aRankThatReportsAFailureIsNamedOnEveryRankAndAbortHooksRun() throws Exception {
        List<ProcessGroup> groups = meet(3, FAST);
        AtomicInteger aborted = new AtomicInteger();
        for (ProcessGroup g : groups) g.onFailure(aborted::incrementAndGet);
        groups.get(2).reportFailure("CUDA out of memory\n(stack trace)");
        groups.get(2).close();
        for (int r = 0; r < 2; r++) {
            ProcessGroup g = groups.get(r);
            String line = waitForFailure(g);
            assertTrue(line.startsWith("rank 2 of 3 (pid ") && line.endsWith(" failed: CUDA out of memory"), line);
            RankFailedException e = assertThrows(RankFailedException.class, g::barrier);
            assertEquals(line, e.getMessage());
        }
        assertEquals(waitForFailure(groups.get(0)), waitForFailure(groups.get(1)), "every rank says the same line");
        long until = System.nanoTime() + 5_000_000_000L;
        while (aborted.get() < 2 && System.nanoTime() < until) sleep(10);
        assertEquals(2, aborted.get(), "the abort hooks of ranks 0 and 1 ran");
        for (ProcessGroup g : groups) g.close();
    }

    /**
     * A rank that ends inside an update, before the barrier, never lets the others past it: they learn of the
     * failure in the barrier (rank 0 must not release them when it hears the news). Repeated: the release and
     * the news race.
     */
    @Test
    void aBarrierThatADeadRankNeverReachedReleasesNobody() throws Exception {
        for (int attempt = 0; attempt < 10; attempt++) {
            List<ProcessGroup> groups = meet(3, FAST);
            var waiting = List.of(CompletableFuture.runAsync(groups.get(0)::barrier, THREADS), CompletableFuture.runAsync(groups.get(1)::barrier, THREADS));
            sleep(20);
            groups.get(2).close(); // gone without finishing, like a killed process
            for (int r = 0; r < 2; r++) {
                var rank = waiting.get(r);
                ExecutionException e = assertThrows(ExecutionException.class, () -> rank.get(10, TimeUnit.SECONDS),
                        "attempt " + attempt + ": rank " + r + " passed the barrier");
                assertInstanceOf(RankFailedException.class, e.getCause());
                assertTrue(e.getCause().getMessage().matches("rank 2 of 3 \\(pid \\d+ on .+\\) ended without finishing \\(.+\\)"), e.getCause().getMessage());
            }
            for (ProcessGroup g : groups) g.close();
        }
    }

    /** Rank r's array i: values that round differently in every order of addition. */
    static float[] values(int rank, int length, int seed) {
        java.util.SplittableRandom random = new java.util.SplittableRandom(1000L * rank + seed);
        float[] a = new float[length];
        for (int i = 0; i < length; i++) a[i] = (float) (random.nextGaussian() * Math.pow(10, random.nextInt(-3, 4)));
        return a;
    }

    @Test
    void allReduceSumsInRankOrderOnEveryRankAndRefusesOtherShapes() throws Exception {
        int world = 3;
        int[] lengths = {1, 65, 40_000}; // 40 000: more than one block of the parallel sum
        List<ProcessGroup> groups = meet(world, FAST);
        List<CompletableFuture<List<float[]>>> results = new java.util.ArrayList<>();
        List<double[]> scalars = new java.util.ArrayList<>();
        for (int r = 0; r < world; r++) {
            int rank = r;
            double[] s = {rank + 0.5, 1e-17 * (rank + 1)};
            scalars.add(s);
            results.add(CompletableFuture.supplyAsync(() -> {
                List<float[]> arrays = new java.util.ArrayList<>();
                for (int i = 0; i < lengths.length; i++) arrays.add(values(rank, lengths[i], i));
                groups.get(rank).allReduceSum(arrays, s);
                return arrays;
            }, THREADS));
        }
        for (int i = 0; i < lengths.length; i++) {
            float[] expected = values(0, lengths[i], i);
            for (int r = 1; r < world; r++) {
                float[] x = values(r, lengths[i], i);
                for (int j = 0; j < expected.length; j++) expected[j] += x[j];
            }
            for (int r = 0; r < world; r++) assertArrayEquals(expected, results.get(r).get(10, TimeUnit.SECONDS).get(i), "rank " + r + ", array " + i);
        }
        for (double[] s : scalars) assertArrayEquals(new double[] {0.5 + 1.5 + 2.5, (1e-17 * 1 + 1e-17 * 2) + 1e-17 * 3}, s, 0.0);

        // rank 2 passes a shorter array: the run ends on every rank with one line that names it
        List<CompletableFuture<Void>> bad = new java.util.ArrayList<>();
        for (int r = 0; r < world; r++) {
            int rank = r;
            bad.add(CompletableFuture.runAsync(() -> groups.get(rank).allReduceSum(List.of(new float[rank == 2 ? 64 : 65]), new double[0]), THREADS));
        }
        for (int r = 0; r < world; r++) {
            int rank = r;
            ExecutionException e = assertThrows(ExecutionException.class, () -> bad.get(rank).get(10, TimeUnit.SECONDS));
            assertInstanceOf(RankFailedException.class, e.getCause());
            assertTrue(e.getCause().getMessage().matches("rank 2 of 3 \\(pid \\d+ on .+\\) contributed an array 0 of 64 elements \\(expected 65\\) to all-reduce 2 .*"),
                    e.getCause().getMessage());
        }
        for (ProcessGroup g : groups) g.close();
    }

    @Test
    void aRankMissingAtTheTimeoutIsNamedOnTheRanksThatCame() throws Exception {
        ProcessGroup.Options shortJoin = new ProcessGroup.Options(Duration.ofMillis(1500), Duration.ofMillis(100), Duration.ofSeconds(3), null);
        int port = Launcher.freePort("127.0.0.1");
        var guest = CompletableFuture.supplyAsync(() -> ProcessGroup.join(rank(1, 3, port), () -> id(1), shortJoin), THREADS);
        RankFailedException e = assertThrows(RankFailedException.class, () -> ProcessGroup.join(rank(0, 3, port), () -> id(1), shortJoin));
        assertTrue(e.getMessage().contains("rank 2 of 3 did not arrive within 1.5 s (arrived: 0, 1)"), e.getMessage());
        ExecutionException g = assertThrows(ExecutionException.class, () -> guest.get(10, TimeUnit.SECONDS));
        assertEquals(e.getMessage(), g.getCause().getMessage());
    }

    @Test
    void aRankWithAnotherWorldSizeIsRefusedEverywhere() throws Exception {
        int port = Launcher.freePort("127.0.0.1");
        var guest = CompletableFuture.supplyAsync(() -> ProcessGroup.join(rank(1, 3, port), () -> id(1), FAST), THREADS);
        RankFailedException e = assertThrows(RankFailedException.class, () -> ProcessGroup.join(rank(0, 2, port), () -> id(1), FAST));
        assertTrue(e.getMessage().contains("joined with WORLD_SIZE 3, but this run has 2 ranks"), e.getMessage());
        ExecutionException g = assertThrows(ExecutionException.class, () -> guest.get(10, TimeUnit.SECONDS));
        assertEquals(e.getMessage(), g.getCause().getMessage());
    }

    @Test
    void rankZeroThatNeverComesIsNamed() {
        int port = Launcher.freePort("127.0.0.1");
        ProcessGroup.Options shortJoin = new ProcessGroup.Options(Duration.ofMillis(600), Duration.ofMillis(100), Duration.ofSeconds(3), null);
        RankFailedException e = assertThrows(RankFailedException.class, () -> ProcessGroup.join(rank(1, 2, port), () -> id(1), shortJoin));
        assertTrue(e.getMessage().startsWith("rendezvous: rank 1 of 2 could not reach rank 0 at 127.0.0.1:" + port + " within 0.6 s"), e.getMessage());
    }

    @Test
    void oneRankMeetsNobody() {
        ProcessGroup g = ProcessGroup.join(rank(0, 1, 1), () -> id(3), FAST);
        assertArrayEquals(id(3), g.uniqueId());
        g.barrier();
        g.checkAlive();
        g.finish();
        assertThrows(IllegalArgumentException.class, () -> ProcessGroup.single(() -> new byte[16]));
    }

    static String waitForFailure(ProcessGroup g) {
        long until = System.nanoTime() + 10_000_000_000L;
        while (g.failure() == null) {
            assertTrue(System.nanoTime() < until, "no failure seen by " + g);
            sleep(10);
        }
        return g.failure();
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }
}
