package org.gsa4j.bench.suites;

import java.lang.management.ManagementFactory;
import java.util.Arrays;

/**
 * Timing: medians of repeated runs after warm-up, with the share of the machine the process got
 * while measuring (process CPU seconds ÷ (wall seconds × threads)). On a shared machine a low
 * share means the figure is bounded by other load, not by the code.
 */
public final class Measure {
    private Measure() {}

    /** Seconds per repetition (median, min, max) and the process's CPU share while timing. */
    public record Stat(double median, double min, double max, int reps, double cpuShare) {
        /** The same figures per call when each repetition made {@code calls} calls. */
        public Stat scaled(int calls) {
            return new Stat(median / calls, min / calls, max / calls, reps, cpuShare);
        }
    }

    /** Runs {@code body} {@code warmup} times untimed, then {@code reps} times timed. */
    public static Stat time(int warmup, int reps, int threads, Runnable body) {
        for (int i = 0; i < warmup; i++) body.run();
        double[] s = new double[reps];
        long cpu0 = processCpuNanos(), wall0 = System.nanoTime();
        for (int r = 0; r < reps; r++) {
            long t0 = System.nanoTime();
            body.run();
            s[r] = (System.nanoTime() - t0) * 1e-9;
        }
        double wall = (System.nanoTime() - wall0) * 1e-9, cpu = (processCpuNanos() - cpu0) * 1e-9;
        return of(s, cpu / (wall * threads));
    }

    /** Median, min and max of timed repetitions {@code s} (seconds), with the CPU share they had. */
    public static Stat of(double[] s, double cpuShare) {
        double[] sorted = s.clone();
        Arrays.sort(sorted);
        return new Stat(median(s), sorted[0], sorted[s.length - 1], s.length, cpuShare);
    }

    /** Repetitions of {@code body} so that one timed repetition lasts about {@code seconds}. */
    public static int innerFor(double seconds, Runnable body) {
        long t0 = System.nanoTime();
        body.run();
        double one = Math.max(1e-7, (System.nanoTime() - t0) * 1e-9);
        return (int) Math.max(1, Math.min(1_000_000, Math.round(seconds / one)));
    }

    public static double median(double[] x) {
        double[] s = x.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    }

    public static long processCpuNanos() {
        var os = ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean sun) return sun.getProcessCpuTime();
        return 0;
    }

    /** 1-minute load average (-1 where unknown). */
    public static double loadAverage() {
        return ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
    }
}
