package org.gsa4j.train;

import org.gsa4j.Gsa4jException;
import org.gsa4j.config.ModelSize;
import org.gsa4j.data.Corpus;
import org.gsa4j.data.DataPrep;
import org.gsa4j.data.TokenFile;
import org.gsa4j.data.Tokenizer;
import org.gsa4j.infer.Generator;
import org.gsa4j.infer.Sampler;
import org.gsa4j.infer.TextStream;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.models.ModelRegistry;

import java.io.IOException;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * The demo pipeline ({@code gsa4j demo}) in four stages, each a method: {@link #prepare} the embedded
 * Austen corpus and a fresh GSA model, {@link #trainer} for a time budget or a number of updates,
 * {@link #evaluate} on the whole held-out novel against a unigram baseline, {@link #sample} a
 * continuation. The command prints between the stages.
 */
public final class Demo implements AutoCloseable {

    /**
     * The demo's knobs.
     *
     * @param minutes training time budget; ignored when {@code steps} is given
     * @param steps   a fixed number of updates instead of the budget (null: use the budget)
     */
    public record Options(double minutes, Long steps, int batchSize, int seqLen, double lr, int hiddenSize, int numHiddenLayers,
                          int numHeads, int numSlots, int vocabSize, long seed, String prompt, int maxNewTokens, double temperature,
                          int topK) {
        public Options {
            if (steps == null && !(minutes > 0 && Double.isFinite(minutes))) {
                throw new Gsa4jException("--minutes must be a positive number, is " + minutes);
            }
            if (steps != null && steps <= 0) throw new Gsa4jException("--steps must be positive, is " + steps);
            if (maxNewTokens < 0) throw new Gsa4jException("--max-new-tokens must be >= 0, is " + maxNewTokens);
        }

        /** The demo as the README records it: four minutes of a 2-layer, 128-wide GSA. */
        public static Options defaults() {
            return new Options(4, null, 8, 128, 4e-3, 128, 2, 4, 32, 4096, 42, "It is a truth universally acknowledged, that", 80, 0.8, 40);
        }

        boolean budgeted() {
            return steps == null;
        }
    }

    private final Options options;
    private final Path out;
    private final DataPrep.Result data;
    private final double dataSeconds;
    private final CausalLM model;
    private final TrainConfig config;
    private final TokenFile train, validation;

    private Demo(Options options, Path out, DataPrep.Result data, double dataSeconds, CausalLM model, TrainConfig config,
                 TokenFile train, TokenFile validation) {
        this.options = options;
        this.out = out;
        this.data = data;
        this.dataSeconds = dataSeconds;
        this.model = model;
        this.config = config;
        this.train = train;
        this.validation = validation;
    }

    /**
     * Stage 1: prepares (or finds cached) data, empties {@code out}'s checkpoints and metrics from
     * an earlier demo, and creates the model.
     */
    public static Demo prepare(Options o, Path out, Path cacheDir, Consumer<String> log) {
        long t0 = System.nanoTime();
        DataPrep.Result prep = TrainingData.load(null, o.vocabSize(), null, cacheDir, log);
        double dataSeconds = (System.nanoTime() - t0) / 1e9;
        Trainer.ensureWritable(out);
        try {
            Path ckRoot = out.resolve("checkpoints");
            if (Files.exists(ckRoot)) {
                for (Path p : Checkpoints.list(ckRoot)) deleteTree(p);
                Files.deleteIfExists(out.resolve("metrics.jsonl"));
            }
        } catch (IOException e) {
            throw Gsa4jException.at(out, null, "cannot clear the previous demo: " + e.getMessage(), e);
        }
        CausalLM model = ModelLoader.create(ModelRegistry.preset("gsa", new ModelSize(prep.vocabSize(), o.hiddenSize(), o.numHiddenLayers(), o.numHeads(), o.numSlots(), 0)).toJson(), o.seed());
        TrainConfig.Builder b = TrainConfig.builder().batchSize(o.batchSize()).seqLen(o.seqLen()).lr(o.lr()).seed(o.seed())
                .evalTokens(8192).checkpointEvery(0).keepCheckpoints(1);
        if (o.budgeted()) TimeBudget.initialSettings(b);
        else b.steps(o.steps()).warmupSteps(Math.max(1, o.steps() / 20)).evalEvery(Math.max(1, o.steps() / 6));
        TrainConfig config = b.build();
        TokenFile train = TokenFile.open(prep.trainPath());
        TokenFile val = TokenFile.open(prep.validationPath());
        return new Demo(o, out, prep, dataSeconds, model, config, train, val);
    }

    public DataPrep.Result data() {
        return data;
    }

    /** Seconds spent finding or preparing the data. */
    public double dataSeconds() {
        return dataSeconds;
    }

    public CausalLM model() {
        return model;
    }

    public TrainConfig config() {
        return config;
    }

    public long parameters() {
        return model.params().values().stream().mapToLong(t -> t.size()).sum();
    }

    /**
     * Stage 2: the trainer (on {@code out}), with the time budget when the options have no fixed
     * number of updates; {@code listener} also hears the budget's plans.
     */
    public Trainer trainer(TimeBudget.Listener listener) {
        byte[] tok;
        try {
            tok = Files.readAllBytes(data.tokenizerPath());
        } catch (IOException e) {
            throw Gsa4jException.at(data.tokenizerPath(), null, "cannot read: " + e.getMessage(), e);
        }
        BatchSource batches = LmData.train(train, config.batchSize(), config.seqLen(), config.seed());
        Validator validator = LmData.validator(validation, config.batchSize(), config.seqLen(), config.evalTokens());
        if (!options.budgeted()) return new Trainer(model, config, batches, validator, out, tok, listener);
        TimeBudget budget = new TimeBudget(options.minutes() * 60, true);
        Trainer t = new Trainer(model, config, batches, validator, out, tok, budget.listener(listener));
        budget.attach(t);
        return t;
    }

    /** Stage 3's outcome: the model on the whole validation novel, and the unigram baseline on the same text. */
    public record Evaluation(String source, LmEval.Result result, double unigramBitsPerByte) {}

    /**
     * Stage 3: the whole validation novel streamed through the recurrent state in chunks of 1,024
     * tokens; the baseline is a unigram model of the training tokens (add-one smoothed) on the same text.
     */
    public Evaluation evaluate(LmEval.Progress progress) {
        Corpus.Document text = Corpus.austen().validation();
        try (Tokenizer tok = Tokenizer.loadFast(data.tokenizerPath())) {
            LmEval.Result r = LmEval.evaluate(model, tok, new StringReader(text.text()), 1024, progress);
            Unigram unigram = Unigram.fit(train, model.config.vocabSize());
            double baseline = Unigram.bitsPerByte(unigram.nllNats(tok.encode(text.text())), text.utf8Bytes());
            return new Evaluation("embedded " + text.name(), r, baseline);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Stage 4's outcome: the prompt and its sampled continuation. */
    public record Sample(String prompt, String continuation, Generator.Stats stats) {}

    /** Stage 4: samples a continuation of the options' prompt (temperature, top-k, seed). */
    public Sample sample() {
        try (Tokenizer tok = Tokenizer.loadFast(data.tokenizerPath())) {
            StringBuilder text = new StringBuilder();
            TextStream stream = new TextStream(tok, text::append);
            int[] prompt = tok.encode(options.prompt());
            stream.context(prompt);
            Generator.Stats s = new Generator(model).generate(prompt, options.maxNewTokens(),
                    Sampler.of(options.temperature(), options.topK(), 1.0, options.seed()), stream);
            stream.finish();
            return new Sample(options.prompt(), text.toString(), s);
        }
    }

    @Override
    public void close() {
        train.close();
        validation.close();
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
