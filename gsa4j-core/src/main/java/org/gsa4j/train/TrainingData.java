package org.gsa4j.train;

import org.gsa4j.Gsa4jException;
import org.gsa4j.data.Corpus;
import org.gsa4j.data.DataPrep;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermission;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Where a run's tokens come from: a prepared directory (with prep.json), a directory of text files
 * (prepared on first use into {@code DIR/.gsa4j-prep-VOCAB}, or into the cache when DIR is read-only),
 * or the embedded Austen corpus (prepared into the cache).
 */
public final class TrainingData {
    private TrainingData() {}

    /** The user's cache directory for prepared data: {@code $GSA4J_CACHE}, else {@code ~/.cache/gsa4j}. */
    public static Path defaultCacheDir() {
        String env = System.getenv("GSA4J_CACHE");
        if (env != null && !env.isBlank()) return Path.of(env);
        return Path.of(System.getProperty("user.home"), ".cache", "gsa4j");
    }

    /** Fails with one line when {@code data} cannot be training data (cheap: nothing is read or written). */
    public static void check(Path data) {
        if (data == null) return;
        if (!Files.exists(data)) throw Gsa4jException.at(data, null, "no such data directory");
        if (!Files.isDirectory(data)) {
            throw Gsa4jException.at(data, null, "--data must be a directory: either prepared (prep.json, train.bin, val.bin) or of .txt files");
        }
    }

    /**
     * Loads or prepares the data.
     *
     * @param data      a prepared directory, a directory of .txt/.txt.gz files, or null for the embedded corpus
     * @param vocabSize the BPE vocabulary when a tokenizer must be trained
     * @param tokenizer a tokenizer.json to use instead of training one (may be null)
     * @param cacheDir  where prepared files go for the embedded corpus and read-only directories
     * @param log       hears one line before a (slow) preparation and one when the data are ready
     */
    public static DataPrep.Result load(Path data, int vocabSize, Path tokenizer, Path cacheDir, Consumer<String> log) {
        check(data);
        if (data != null && Files.isRegularFile(data.resolve(DataPrep.PREP))) {
            DataPrep.Result r = DataPrep.load(data);
            checkNonEmpty(r);
            return r;
        }
        String name = (data == null ? "austen-bpe" : ".gsa4j-prep-") + vocabSize + (tokenizer != null ? "-custom" : "");
        Path dir = data == null ? cacheDir.resolve(name) : data.resolve(name);
        if (data != null && !Files.isRegularFile(dir.resolve(DataPrep.PREP)) && !writable(data)) {
            // e.g. a shared, read-only dataset: its prepared files go to the cache, one folder per source directory
            dir = cacheDir.resolve("prep-" + pathHash(data) + "-" + vocabSize + (tokenizer != null ? "-custom" : ""));
        }
        Corpus corpus = Corpus.load(data);
        long t0 = System.nanoTime();
        boolean cached = Files.isRegularFile(dir.resolve(DataPrep.PREP));
        if (!cached) log.accept(String.format("preparing %s: byte-level BPE tokenizer (vocabulary %d) and token files in %s ...",
                corpus.source(), vocabSize, dir));
        DataPrep.Result r = tokenizer != null ? DataPrep.prepare(corpus, dir, tokenizer) : DataPrep.loadOrPrepare(corpus, dir, vocabSize);
        log.accept(String.format("data: %s — train %,d tokens, validation %,d tokens (%s, %.1f s)", dir, r.train().tokens(),
                r.validation().tokens(), cached ? "cached" : "prepared", (System.nanoTime() - t0) / 1e9));
        checkNonEmpty(r);
        return r;
    }

    /**
     * Whether files may be written into {@code dir}: it accepts a new file, and its permissions allow
     * writing to someone (a directory marked read-only, e.g. mode 555, is respected even by root, who
     * could write there anyway).
     */
    static boolean writable(Path dir) {
        try {
            PosixFileAttributeView v = Files.getFileAttributeView(dir, PosixFileAttributeView.class);
            if (v != null) {
                Set<PosixFilePermission> p = v.readAttributes().permissions();
                if (!p.contains(PosixFilePermission.OWNER_WRITE) && !p.contains(PosixFilePermission.GROUP_WRITE)
                        && !p.contains(PosixFilePermission.OTHERS_WRITE)) {
                    return false;
                }
            }
            Path probe = Files.createTempFile(dir, ".write-probe-", ".tmp");
            Files.delete(probe);
            return true;
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            return false;
        }
    }

    private static String pathHash(Path p) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(p.toAbsolutePath().normalize().toString().getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void checkNonEmpty(DataPrep.Result r) {
        if (r.train().tokens() < 2) throw Gsa4jException.at(r.trainPath(), null, "the training split is empty");
        if (r.validation().tokens() < 2) throw Gsa4jException.at(r.validationPath(), null, "the validation split is empty");
    }
}
