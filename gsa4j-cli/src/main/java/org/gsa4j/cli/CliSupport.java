package org.gsa4j.cli;

import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.gsa4j.Gsa4jException;
import org.gsa4j.train.Trainer;

import java.io.PrintStream;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.TimeUnit;

/** What the commands share: threads, the terminal check, progress bars, Ctrl-C during training. */
final class CliSupport {
    private CliSupport() {}

    /**
     * Sets the worker threads (the common fork-join pool plus the calling thread). Must run before
     * any parallel work; 0 keeps the default (all cores).
     */
    static int threads(int n) {
        if (n < 0) throw new Gsa4jException("--threads must be >= 0, is " + n);
        if (n > 0) System.setProperty("java.util.concurrent.ForkJoinPool.common.parallelism", Integer.toString(Math.max(1, n - 1)));
        return ForkJoinPool.getCommonPoolParallelism() + 1;
    }

    /** Whether progress is drawn as a live bar: only when stderr (where it goes) is a terminal. */
    static boolean progressBar(boolean noProgress) {
        return !noProgress && stderrIsTerminal();
    }

    /**
     * Whether standard error is a terminal. {@code System.console()} answers for standard input and
     * output, so {@code eval --json > out.json} on a terminal would count as redirected; this asks
     * the C library about file descriptor 2 ({@code isatty}), falling back to the console check
     * where that is not available.
     */
    static boolean stderrIsTerminal() {
        try {
            Linker linker = Linker.nativeLinker();
            var symbol = linker.defaultLookup().find("isatty").or(() -> linker.defaultLookup().find("_isatty"));
            if (symbol.isPresent()) {
                MethodHandle isatty = linker.downcallHandle(symbol.get(), FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
                return (int) isatty.invokeExact(2) != 0;
            }
        } catch (Throwable unavailable) {
            // no native access: fall through to the console check
        }
        java.io.Console c = System.console();
        return c != null && c.isTerminal();
    }

    static ProgressBar bar(String task, long max, long start, String unit) {
        ProgressBarBuilder b = new ProgressBarBuilder()
                .setTaskName(task)
                .setInitialMax(max)
                .setStyle(ProgressBarStyle.ASCII)
                .setUpdateIntervalMillis(250)
                .setMaxRenderedLength(120)
                .setConsumer(new ConsoleProgressBarConsumer(System.err));
        if (unit != null) b.setUnit(unit, 1);
        if (start > 0) b.startsFrom(start, Duration.ZERO);
        return b.build();
    }

    /**
     * Runs a trainer; Ctrl-C (or SIGTERM) finishes the update in progress, writes a checkpoint when
     * the run has an output folder, and then lets the JVM exit.
     */
    static Trainer.Result runTrainer(Trainer trainer, boolean writesCheckpoints, PrintStream err) {
        CountDownLatch done = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            trainer.requestStop();
            err.println();
            err.println("gsa4j: interrupted: finishing the current update" + (writesCheckpoints ? " and writing a checkpoint ..." : " ..."));
            try {
                done.await(10, TimeUnit.MINUTES);
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
        }, "gsa4j-train-stop");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            Trainer.Result r = trainer.run();
            if (trainer.stopRequested()) {
                err.printf("gsa4j: stopped at step %d%s%n", r.step(), r.lastCheckpoint() != null ? "; resume with --resume (" + r.lastCheckpoint() + ")" : "");
            }
            return r;
        } finally {
            done.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running: it returns now that the latch is open
            }
        }
    }

    static String fmtSeconds(double s) {
        if (s < 60) return String.format("%.1f s", s);
        return String.format("%d min %02d s", (long) s / 60, (long) s % 60);
    }
}
