package org.gsa4j.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.Gsa4jException;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;

import java.nio.file.Path;

/**
 * An MQAR experiment ({@code gsa4j mqar}): generates the training and test sets, builds the model
 * (its vocabulary set to the task's), trains it and scores it on the test set's query positions.
 */
public final class MqarRun {

    /**
     * @param steps     optimizer updates; null: {@code epochs} passes over the training set
     * @param evalEvery test-set evaluation every this many updates (0: at the end)
     * @param seed      data seed (the test set uses seed + 10) and initialisation seed
     */
    public record Options(Mqar.Spec spec, int trainExamples, int testExamples, int epochs, Long steps, int batchSize, double lr,
                          long warmupSteps, double weightDecay, long evalEvery, long seed) {
        public Options {
            if (trainExamples <= 0) throw new Gsa4jException("--train-examples must be positive, is " + trainExamples);
            if (testExamples <= 0) throw new Gsa4jException("--test-examples must be positive, is " + testExamples);
            if (epochs <= 0) throw new Gsa4jException("--epochs must be positive, is " + epochs);
        }
    }

    /** The test batch size of the validator and the final score. */
    static final int TEST_BATCH = 256;

    private final Options options;
    private final Mqar.Dataset train, test;
    private final double generationSeconds;
    private final CausalLM model;
    private final TrainConfig config;

    private MqarRun(Options options, Mqar.Dataset train, Mqar.Dataset test, double generationSeconds, CausalLM model, TrainConfig config) {
        this.options = options;
        this.train = train;
        this.test = test;
        this.generationSeconds = generationSeconds;
        this.model = model;
        this.config = config;
    }

    /** Generates the data and builds the model from {@code modelConfig} (config.json fields; vocab_size is set to the task's). */
    public static MqarRun prepare(Options o, ObjectNode modelConfig) {
        long t0 = System.nanoTime();
        Mqar.Dataset train = Mqar.generate(o.spec(), o.trainExamples(), o.seed());
        Mqar.Dataset test = Mqar.generate(o.spec(), o.testExamples(), o.seed() + 10);
        double genSeconds = (System.nanoTime() - t0) / 1e9;
        ObjectNode mc = modelConfig.deepCopy();
        mc.put("vocab_size", o.spec().vocab());
        CausalLM model = ModelLoader.create(mc, o.seed());
        long steps = o.steps() != null ? o.steps() : Math.max(1, (long) o.epochs() * (o.trainExamples() / Math.max(1, o.batchSize())));
        TrainConfig config = TrainConfig.builder().batchSize(o.batchSize()).seqLen(o.spec().seqLen()).steps(steps).lr(o.lr()).minLrRatio(0)
                .warmupSteps(Math.min(o.warmupSteps(), steps)).weightDecay(o.weightDecay()).seed(o.seed()).evalEvery(o.evalEvery())
                .checkpointEvery(0).build();
        return new MqarRun(o, train, test, genSeconds, model, config);
    }

    public CausalLM model() {
        return model;
    }

    public TrainConfig config() {
        return config;
    }

    public double generationSeconds() {
        return generationSeconds;
    }

    public long parameters() {
        return model.params().values().stream().mapToLong(t -> t.size()).sum();
    }

    /** The trainer; {@code out} (may be null) also gets checkpoints, metrics.jsonl and loss.png. */
    public Trainer trainer(Path out, Trainer.Listener listener) {
        return new Trainer(model, config, Mqar.batches(train, options.batchSize(), options.seed()), Mqar.validator(test, TEST_BATCH), out, null,
                listener);
    }

    /** Scores the trained model on the test set and reports the experiment as one JSON object. */
    public ObjectNode result(Trainer.Result r, int threads) {
        return result(r, threads, ScoringModel.of(model));
    }

    /** {@link #result(Trainer.Result, int)}, scoring through {@code trained} (e.g. the trainer's engine, {@link Trainer#scoring}). */
    public ObjectNode result(Trainer.Result r, int threads, ScoringModel trained) {
        Mqar.Score s = Mqar.score(trained, test, TEST_BATCH);
        Mqar.Spec spec = options.spec();
        ObjectNode o = new ObjectMapper().createObjectNode();
        o.put("task", "mqar");
        o.put("model_type", model.config.modelType());
        o.put("hidden_size", model.config.hiddenSize());
        o.put("num_hidden_layers", model.config.numLayers());
        o.put("vocab_size", spec.vocab());
        o.put("seq_len", spec.seqLen());
        o.put("kv_pairs", spec.numKvPairs());
        o.put("power_a", spec.powerA());
        o.put("random_non_queries", spec.randomNonQueries());
        o.put("train_examples", options.trainExamples());
        o.put("test_examples", options.testExamples());
        o.put("seed", options.seed());
        o.put("steps", r.step());
        o.put("batch_size", options.batchSize());
        o.put("lr", options.lr());
        o.put("final_train_loss", r.losses().isEmpty() ? Double.NaN : r.losses().get(r.losses().size() - 1));
        o.put("test_loss", s.loss());
        o.put("accuracy", s.accuracy());
        o.put("correct", s.correct());
        o.put("labelled_positions", s.labelled());
        o.put("chance", 2.0 / spec.vocab());
        o.put("train_seconds", Math.round(r.seconds() * 10) / 10.0);
        o.put("tokens_per_second", Math.round(r.tokensPerSecond()));
        o.put("threads", threads);
        if (r.lastCheckpoint() != null) o.put("checkpoint", r.lastCheckpoint().toString());
        return o;
    }
}
