package org.gsa4j.reliability;

import org.gsa4j.Gsa4jException;
import org.gsa4j.data.TokenFile;
import org.gsa4j.data.Tokenizer;
import org.gsa4j.io.HfModelDir;
import org.gsa4j.io.SafeTensors;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * The loaders under fuzzing, each behind one method taking the raw bytes of the file under test,
 * and the contract every input must meet: the loader succeeds (and what it loaded works: tensors
 * read, a model runs three tokens, a tokenizer round-trips text, every token is read), or it throws
 * {@link Gsa4jException} whose message names a file of the model directory. Anything else — another
 * exception, an error, more than {@link #MAX_ALLOCATION} bytes allocated on the heap for one input,
 * a weights file outside the directory — is an {@link AssertionError}. Hangs are caught by the
 * callers (a per-input timeout).
 *
 * <p>One instance per thread: it owns a scratch directory that each input overwrites.
 */
final class FuzzTargets {
    /** Heap bytes one input may allocate (the largest legitimate seed allocates a few MB). */
    static final long MAX_ALLOCATION = 256L << 20;

    enum Target {
        SAFETENSORS(Mutator.Kind.SAFETENSORS), CONFIG(Mutator.Kind.JSON), INDEX(Mutator.Kind.JSON),
        WEIGHTS(Mutator.Kind.SAFETENSORS), TOKENIZER(Mutator.Kind.JSON), TOKEN_FILE(Mutator.Kind.BINARY),
        TRAIN_CONFIG(Mutator.Kind.JSON);
        final Mutator.Kind kind;

        Target(Mutator.Kind kind) {
            this.kind = kind;
        }
    }

    /** How an input ended (when it met the contract). */
    enum Outcome { LOADED, REJECTED }

    private final Path root;
    private final Path stFile, refDir, shardDir, weightsDir, tokFile, tokenFile, runConfig;

    FuzzTargets(Path root) {
        this.root = root;
        try {
            stFile = root.resolve("st/x.safetensors");
            Files.createDirectories(stFile.getParent());
            refDir = Files.createDirectories(root.resolve("ref"));
            Files.copy(Seeds.REFERENCE_GSA.resolve("model.safetensors"), refDir.resolve("model.safetensors"), StandardCopyOption.REPLACE_EXISTING);
            shardDir = root.resolve("sharded");
            Seeds.saveTiny(shardDir, true);
            weightsDir = root.resolve("weights");
            Seeds.saveTiny(weightsDir, false);
            tokFile = Files.createDirectories(root.resolve("tok")).resolve("tokenizer.json");
            tokenFile = Files.createDirectories(root.resolve("tokens")).resolve("train.tok");
            runConfig = Files.createDirectories(root.resolve("run")).resolve("run.json");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static List<byte[]> seeds(Target t, Path tmp) {
        return switch (t) {
            case SAFETENSORS -> Seeds.safetensors(tmp);
            case CONFIG -> Seeds.configs();
            case INDEX -> Seeds.indexes(tmp);
            case WEIGHTS -> List.of(Seeds.safetensors(tmp).getLast());
            case TOKENIZER -> Seeds.tokenizers();
            case TOKEN_FILE -> Seeds.tokenFiles(tmp);
            case TRAIN_CONFIG -> Seeds.runConfigs();
        };
    }

    /** Runs one input; returns how it ended or throws AssertionError when the contract is broken. */
    Outcome run(Target t, byte[] input) {
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long before = mx.getCurrentThreadAllocatedBytes();
        Outcome o;
        Path named;
        try {
            named = switch (t) {
                case SAFETENSORS -> write(stFile, input);
                case CONFIG -> write(refDir.resolve("config.json"), input).getParent();
                case INDEX -> write(shardDir.resolve(HfModelDir.INDEX), input).getParent();
                case WEIGHTS -> write(weightsDir.resolve("model.safetensors"), input).getParent();
                case TOKENIZER -> write(tokFile, input);
                case TOKEN_FILE -> write(tokenFile, input);
                case TRAIN_CONFIG -> write(runConfig, input);
            };
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        try {
            switch (t) {
                case SAFETENSORS -> safetensors(stFile);
                case CONFIG -> model(refDir);
                case INDEX -> model(shardDir);
                case WEIGHTS -> model(weightsDir);
                case TOKENIZER -> tokenizer(tokFile);
                case TOKEN_FILE -> tokenFile(tokenFile);
                case TRAIN_CONFIG -> trainConfig(runConfig);
            }
            o = Outcome.LOADED;
        } catch (Gsa4jException e) {
            String m = String.valueOf(e.getMessage());
            if (!m.contains(named.toString())) {
                throw new AssertionError(t + ": Gsa4jException does not name the file (" + named + "): " + m, e);
            }
            o = Outcome.REJECTED;
        } catch (Throwable e) {
            throw new AssertionError(t + ": not a Gsa4jException: " + e, e);
        }
        long allocated = mx.getCurrentThreadAllocatedBytes() - before;
        if (allocated > MAX_ALLOCATION) {
            throw new AssertionError(t + ": one input of " + input.length + " bytes allocated " + allocated + " heap bytes (" + o + ")");
        }
        return o;
    }

    private static Path write(Path f, byte[] b) throws IOException {
        Files.write(f, b);
        return f;
    }

    static void safetensors(Path f) {
        try (SafeTensors st = SafeTensors.open(f)) {
            for (String n : st.names()) {
                SafeTensors.Entry e = st.entry(n);
                st.f32(n);
                st.f64(n);
                if (e.dtype() == SafeTensors.DType.I64 || e.dtype() == SafeTensors.DType.I32) st.i64(n);
            }
        }
    }

    static void model(Path dir) {
        Path real;
        try {
            real = dir.toRealPath();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        try (HfModelDir hf = HfModelDir.open(dir)) {
            for (Path p : hf.weightFiles()) {
                try {
                    if (!p.toRealPath().startsWith(real)) throw new AssertionError("weights file outside the model directory: " + p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        }
        CausalLM m = ModelLoader.load(dir);
        int v = m.config.vocabSize();
        m.feed(new int[] {0, v / 2, v - 1}, 1, 3, m.newState(1));
    }

    static void tokenizer(Path f) {
        try (Tokenizer tok = Tokenizer.loadFast(f)) {
            int[] ids = tok.encode(Seeds.TEXT);
            tok.decode(ids);
        }
    }

    /**
     * A run config ({"model": …, "train": …}) as {@code gsa4j train --config} reads it (the JSON
     * step mirrors TrainCommand.readJson; the "model" part goes through the same ConfigReader as
     * config.json, fuzzed by CONFIG). An accepted config must give a finite, non-negative learning
     * rate at every step and a token count per update that fits a Java array.
     */
    static void trainConfig(Path f) {
        com.fasterxml.jackson.databind.JsonNode root;
        try {
            root = new com.fasterxml.jackson.databind.ObjectMapper().readTree(f.toFile());
        } catch (IOException e) {
            throw Gsa4jException.at(f, null, "invalid JSON: " + e.getMessage().lines().findFirst().orElse(""), e);
        }
        if (root == null || !root.isObject()) throw Gsa4jException.at(f, null, "must be a JSON object");
        org.gsa4j.train.TrainConfig c = org.gsa4j.train.TrainConfig.fromJson(root.get("train"), f);
        var sched = c.schedule();
        for (long s : new long[] {0, 1, c.warmupSteps() - 1, c.warmupSteps(), c.steps() / 2, c.steps() - 1, c.steps()}) {
            double lr = sched.at(Math.max(0, s));
            if (!(lr >= 0) || !Double.isFinite(lr)) throw new AssertionError("accepted config gives lr " + lr + " at step " + s);
        }
        if ((long) c.batchSize() * (c.seqLen() + 1L) > Integer.MAX_VALUE) {
            throw new AssertionError("accepted config needs " + (long) c.batchSize() * (c.seqLen() + 1L) + " tokens in one batch");
        }
    }

    static void tokenFile(Path f) {
        try (TokenFile tf = TokenFile.open(f)) {
            int[] buf = new int[(int) Math.min(tf.size(), 1 << 16)];
            for (long i = 0; i < tf.size(); i += buf.length) {
                int n = (int) Math.min(buf.length, tf.size() - i);
                tf.read(i, buf, 0, n);
            }
        }
    }

    Path root() {
        return root;
    }
}
