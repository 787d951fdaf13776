package org.gsa4j.reliability;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A long mutation-fuzzing campaign outside JUnit, which keeps going after a failure and reports
 * the distinct ones: {@code FuzzCampaign ITERATIONS SEED OUTDIR [TARGET...]}. Prints, per target,
 * inputs tried, outcomes, distinct failures and inputs per second. Run by {@code scripts/fuzz.sh}.
 */
public final class FuzzCampaign {
    public static void main(String[] args) throws Exception {
        int iterations = Integer.parseInt(args[0]);
        long seed = Long.parseLong(args[1]);
        Path out = Path.of(args[2]);
        Files.createDirectories(out);
        FuzzTargets.Target[] which = args.length > 3
                ? java.util.Arrays.stream(args, 3, args.length).map(FuzzTargets.Target::valueOf).toArray(FuzzTargets.Target[]::new)
                : FuzzTargets.Target.values();
        Path tmp = Files.createTempDirectory("gsa4j-fuzz");
        for (FuzzTargets.Target t : which) {
            ExecutorService[] worker = {Executors.newSingleThreadExecutor(daemon())};
            FuzzTargets targets = worker[0].submit(() -> new FuzzTargets(tmp.resolve(t.name()))).get();
            Mutator mut = new Mutator(seed ^ t.ordinal(), t.kind, FuzzTargets.seeds(t, tmp));
            Map<FuzzTargets.Outcome, Integer> counts = new EnumMap<>(FuzzTargets.Outcome.class);
            Map<String, Integer> failures = new LinkedHashMap<>();
            long t0 = System.nanoTime();
            for (int k = 0; k < iterations; k++) {
                byte[] in = mut.next();
                Files.write(out.resolve("current-" + t), in);
                Future<FuzzTargets.Outcome> f = worker[0].submit(() -> targets.run(t, in));
                String failure = null;
                try {
                    counts.merge(f.get(10, TimeUnit.SECONDS), 1, Integer::sum);
                } catch (TimeoutException e) {
                    f.cancel(true);
                    worker[0].shutdownNow();
                    worker[0] = Executors.newSingleThreadExecutor(daemon());
                    failure = "hang (> 10 s)";
                } catch (java.util.concurrent.ExecutionException e) {
                    Throwable c = e.getCause();
                    String m = String.valueOf(c.getMessage());
                    failure = m.replaceAll("/tmp/\\S+", "FILE").replaceAll("\\d+", "N");
                    failure = failure.substring(0, Math.min(160, failure.length()));
                }
                if (failure != null) {
                    int n = failures.merge(failure, 1, Integer::sum);
                    if (n == 1) {
                        Path saved = out.resolve(t + "-failure-" + failures.size());
                        Files.write(saved, in);
                        System.out.println("  " + t + " failure " + failures.size() + " at input " + k + ": " + failure + " -> " + saved);
                    }
                }
            }
            double s = (System.nanoTime() - t0) / 1e9;
            System.out.printf(Locale.ROOT, "%-12s seed %d: %d inputs in %.0f s (%.0f/s): %s, %d distinct failures %s%n",
                    t, seed, iterations, s, iterations / s, counts, failures.size(), failures.values());
            worker[0].shutdownNow();
        }
        System.exit(0);
    }

    private static java.util.concurrent.ThreadFactory daemon() {
        return r -> {
            Thread th = new Thread(r, "fuzz-worker");
            th.setDaemon(true);
            return th;
        };
    }
}
