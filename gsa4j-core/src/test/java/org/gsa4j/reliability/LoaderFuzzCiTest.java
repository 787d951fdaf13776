package org.gsa4j.reliability;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.fail;

/**
 * The short fuzz run of CI: for every loader, its seeds, every input of the regression corpus
 * ({@code src/test/resources/org/gsa4j/reliability/LoaderFuzzTestInputs/<target>}: the Jazzer seeds
 * and each crash found so far) and then {@link #ITERATIONS} inputs from the deterministic
 * {@link Mutator} (fixed seed), each under a {@link #TIMEOUT_S}-second timeout, each checked against
 * the {@link FuzzTargets} contract. {@code -Dgsa4j.fuzz.iterations=N -Dgsa4j.fuzz.seed=S} runs a
 * longer campaign; the figures are printed per target.
 */
class LoaderFuzzCiTest {
    static final int ITERATIONS = Integer.getInteger("gsa4j.fuzz.iterations", 300);
    static final long SEED = Long.getLong("gsa4j.fuzz.seed", 20261129L);
    static final int TIMEOUT_S = 10;
    static final Path CORPUS = Path.of("src/test/resources/org/gsa4j/reliability/LoaderFuzzTestInputs");

    @TempDir
    static Path tmp;
    static FuzzTargets targets;
    static ExecutorService worker;

    @BeforeAll
    static void setUp() {
        worker = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "fuzz-worker");
            t.setDaemon(true);
            return t;
        });
        targets = call(() -> new FuzzTargets(tmp.resolve("work")), "setup");
    }

    @AfterAll
    static void tearDown() {
        worker.shutdownNow();
    }

    static <T> T call(java.util.concurrent.Callable<T> c, String what) {
        Future<T> f = worker.submit(c);
        try {
            return f.get(TIMEOUT_S, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            f.cancel(true);
            throw new AssertionError(what + ": no answer within " + TIMEOUT_S + " s (hang)");
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof AssertionError a) throw a;
            throw new AssertionError(what + ": " + e.getCause(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    static String dirName(FuzzTargets.Target t) {
        return switch (t) {
            case SAFETENSORS -> "safetensors";
            case CONFIG -> "config";
            case INDEX -> "index";
            case WEIGHTS -> "weights";
            case TOKENIZER -> "tokenizer";
            case TOKEN_FILE -> "tokenFile";
            case TRAIN_CONFIG -> "trainConfig";
        };
    }

    static List<byte[]> corpus(FuzzTargets.Target t) throws IOException {
        Path d = CORPUS.resolve(dirName(t));
        List<byte[]> out = new ArrayList<>();
        if (!Files.isDirectory(d)) return out;
        try (Stream<Path> s = Files.list(d)) {
            for (Path p : s.sorted().toList()) out.add(Files.readAllBytes(p));
        }
        return out;
    }

    @ParameterizedTest
    @EnumSource(FuzzTargets.Target.class)
    void fuzz(FuzzTargets.Target t) throws IOException {
        List<byte[]> seeds = FuzzTargets.seeds(t, tmp);
        List<byte[]> replay = new ArrayList<>(seeds);
        replay.addAll(corpus(t));
        Map<FuzzTargets.Outcome, Integer> counts = new EnumMap<>(FuzzTargets.Outcome.class);
        long t0 = System.nanoTime();
        int i = 0;
        for (byte[] in : replay) run(t, in, "corpus input " + i++, counts);
        Mutator mut = new Mutator(SEED ^ t.ordinal(), t.kind, seeds);
        for (int k = 0; k < ITERATIONS; k++) run(t, mut.next(), "mutant " + k + " (seed " + SEED + ")", counts);
        double s = (System.nanoTime() - t0) / 1e9;
        System.out.printf(Locale.ROOT, "fuzz %-12s %6d inputs (%d corpus + %d mutants) in %.1f s: %s%n",
                t, replay.size() + ITERATIONS, replay.size(), ITERATIONS, s, counts);
    }

    private void run(FuzzTargets.Target t, byte[] in, String what, Map<FuzzTargets.Outcome, Integer> counts) throws IOException {
        // A native crash (the JVM dies) leaves the culprit here.
        Path current = Path.of("target/fuzz-failures/current-" + dirName(t));
        Files.createDirectories(current.getParent());
        Files.write(current, in);
        try {
            FuzzTargets.Outcome o = call(() -> targets.run(t, in), t + " " + what);
            counts.merge(o, 1, Integer::sum);
        } catch (AssertionError e) {
            Path saved = Path.of("target/fuzz-failures").resolve(dirName(t) + "-" + what.replaceAll("\\W+", "_"));
            Files.createDirectories(saved.getParent());
            Files.write(saved, in);
            if (e.getMessage() != null && e.getMessage().contains("(hang)")) {
                // the stuck worker cannot be reused
                worker.shutdownNow();
                setUp();
            }
            fail(e.getMessage() + " — input saved to " + saved.toAbsolutePath(), e);
        }
    }
}
