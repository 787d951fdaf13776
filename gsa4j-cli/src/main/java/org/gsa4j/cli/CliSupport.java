package org.gsa4j.cli;

import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import org.gsa4j.Gsa4jException;
import org.gsa4j.data.Corpus;
import org.gsa4j.data.DataPrep;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ForkJoinPool;

/** What the training-side commands share: threads, progress bars, prepared data. */
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

    /** A progress bar only on an interactive terminal (redirected output gets plain log lines instead). */
    static boolean interactive() {
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

    /** The user's cache directory for prepared data (GSA4J_CACHE, else ~/.cache/gsa4j). */
    static Path cacheDir() {
        String env = System.getenv("GSA4J_CACHE");
        if (env != null && !env.isBlank()) return Path.of(env);
        return Path.of(System.getProperty("user.home"), ".cache", "gsa4j");
    }

    /**
     * Training data: a prepared directory (with prep.json), a directory of text files (prepared into
     * DIR/.gsa4j-prep-VOCAB), or null for the embedded Austen corpus (prepared into the cache).
     */
    static DataPrep.Result data(Path data, int vocabSize, Path tokenizer) {
        if (data != null && !Files.exists(data)) throw Gsa4jException.at(data, null, "no such data directory");
        if (data != null && !Files.isDirectory(data)) {
            throw Gsa4jException.at(data, null, "--data must be a directory: either prepared (prep.json, train.bin, val.bin) or of .txt files");
        }
        if (data != null && Files.isRegularFile(data.resolve(DataPrep.PREP))) {
            DataPrep.Result r = DataPrep.load(data);
            checkNonEmpty(r);
            return r;
        }
        Corpus corpus = Corpus.load(data);
        Path dir = data == null ? cacheDir().resolve("austen-bpe" + vocabSize) : data.resolve(".gsa4j-prep-" + vocabSize);
        if (tokenizer != null) dir = dir.resolveSibling(dir.getFileName() + "-custom");
        long t0 = System.nanoTime();
        boolean cached = Files.isRegularFile(dir.resolve(DataPrep.PREP));
        if (!cached) System.err.printf("preparing %s: byte-level BPE tokenizer (vocabulary %d) and token files in %s ...%n",
                corpus.source(), vocabSize, dir);
        DataPrep.Result r = tokenizer != null ? DataPrep.prepare(corpus, dir, tokenizer) : DataPrep.loadOrPrepare(corpus, dir, vocabSize);
        System.err.printf("data: %s — train %,d tokens, validation %,d tokens (%s, %.1f s)%n", dir, r.train().tokens(),
                r.validation().tokens(), cached ? "cached" : "prepared", (System.nanoTime() - t0) / 1e9);
        checkNonEmpty(r);
        return r;
    }

    private static void checkNonEmpty(DataPrep.Result r) {
        if (r.train().tokens() < 2) throw Gsa4jException.at(r.trainPath(), null, "the training split is empty");
        if (r.validation().tokens() < 2) throw Gsa4jException.at(r.validationPath(), null, "the validation split is empty");
    }

    static String fmtSeconds(double s) {
        if (s < 60) return String.format("%.1f s", s);
        return String.format("%d min %02d s", (long) s / 60, (long) s % 60);
    }
}
