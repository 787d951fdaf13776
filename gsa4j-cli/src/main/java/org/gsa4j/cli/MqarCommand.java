package org.gsa4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.Gsa4jException;
import org.gsa4j.config.ModelSize;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.models.ModelRegistry;
import org.gsa4j.train.Mqar;
import org.gsa4j.train.TrainConfig;
import org.gsa4j.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code gsa4j mqar}: the Zoology multi-query associative recall task for any architecture. */
@Command(name = "mqar", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Multi-query associative recall (Zoology's MQAR, docs/MATH.md#mqar): generate train/test sets, train a model,",
                "print the test accuracy on the labelled (query) positions as JSON."})
public final class MqarCommand implements Callable<Integer> {

    @Option(names = "--arch", defaultValue = "gsa", description = "Architecture: gsa, gla, retnet, hgrn2, transformer, llama (default: ${DEFAULT-VALUE}).")
    String arch;

    @Option(names = "--model-config", paramLabel = "FILE", description = "A config.json for the model instead of --arch and the size flags (vocab_size is set to --vocab).")
    Path modelConfig;

    @Option(names = "--d-model", defaultValue = "64", description = "Hidden size (default: ${DEFAULT-VALUE}).") int dModel;
    @Option(names = "--layers", defaultValue = "2") int layers;
    @Option(names = "--heads", defaultValue = "2") int heads;
    @Option(names = "--slots", defaultValue = "16", description = "GSA memory slots (default: ${DEFAULT-VALUE}).") int slots;
    @Option(names = "--intermediate-size", defaultValue = "0") int intermediate;

    @Option(names = "--vocab", defaultValue = "8192", description = "Vocabulary V; keys from [1, V/2), values from [V/2, V) (default: ${DEFAULT-VALUE}).") int vocab;
    @Option(names = "--seq-len", defaultValue = "64", description = "Sequence length L (default: ${DEFAULT-VALUE}).") int seqLen;
    @Option(names = "--kv-pairs", defaultValue = "4", description = "Key-value pairs N, 4N <= L (default: ${DEFAULT-VALUE}).") int kvPairs;
    @Option(names = "--power-a", defaultValue = "0.01", description = "Power-law exponent of the query gaps (default: ${DEFAULT-VALUE}).") double powerA;
    @Option(names = "--no-random-non-queries", description = "Fill non-query positions with 0 instead of random tokens.") boolean zeros;
    @Option(names = "--train-examples", defaultValue = "100000") int trainExamples;
    @Option(names = "--test-examples", defaultValue = "3000") int testExamples;

    @Option(names = "--epochs", defaultValue = "4", description = "Passes over the training set (default: ${DEFAULT-VALUE}); --steps overrides.") int epochs;
    @Option(names = "--steps", description = "Optimizer updates.") Long steps;
    @Option(names = "--batch-size", defaultValue = "64") int batchSize;
    @Option(names = "--lr", defaultValue = "3e-3") double lr;
    @Option(names = "--warmup", defaultValue = "50") long warmup;
    @Option(names = "--weight-decay", defaultValue = "0.1") double weightDecay;
    @Option(names = "--eval-every", defaultValue = "0", description = "Test-set evaluation every N updates (0: at the end).") long evalEvery;
    @Option(names = "--seed", defaultValue = "0", description = "Data seed (test set: seed + 10) and initialisation seed.") long seed;
    @Option(names = "--out", paramLabel = "DIR", description = "Also write checkpoints, metrics.jsonl and loss.png here.") Path out;
    @Option(names = "--threads", defaultValue = "0") int threads;
    @Option(names = "--no-progress") boolean noProgress;

    @Override
    public Integer call() throws Exception {
        int nThreads = CliSupport.threads(threads);
        Mqar.Spec spec = new Mqar.Spec(vocab, seqLen, kvPairs, powerA, !zeros);
        if (trainExamples <= 0 || testExamples <= 0) throw new Gsa4jException("--train-examples and --test-examples must be positive");
        long t0 = System.nanoTime();
        Mqar.Dataset train = Mqar.generate(spec, trainExamples, seed);
        Mqar.Dataset test = Mqar.generate(spec, testExamples, seed + 10);
        double genSeconds = (System.nanoTime() - t0) / 1e9;

        ObjectNode mc;
        if (modelConfig != null) {
            JsonNode n = TrainCommand.readJson(modelConfig);
            mc = ((ObjectNode) n).deepCopy();
        } else {
            mc = ModelRegistry.preset(arch, new ModelSize(vocab, dModel, layers, heads, slots, intermediate)).toJson();
        }
        mc.put("vocab_size", vocab);
        CausalLM model = ModelLoader.create(mc, seed);

        TrainConfig tc = new TrainConfig();
        tc.batchSize = batchSize;
        tc.seqLen = seqLen;
        tc.steps = steps != null ? steps : Math.max(1, (long) epochs * (trainExamples / Math.max(1, batchSize)));
        tc.lr = lr;
        tc.minLrRatio = 0;
        tc.warmupSteps = Math.min(warmup, tc.steps);
        tc.weightDecay = weightDecay;
        tc.seed = seed;
        tc.evalEvery = evalEvery;
        tc.checkpointEvery = 0;
        tc.validate(null);
        System.err.printf("MQAR V=%d L=%d N=%d: %,d train / %,d test examples (%.1f s); %s with %,d parameters; %d updates of %d; %d threads%n",
                vocab, seqLen, kvPairs, trainExamples, testExamples, genSeconds, model.config.modelType(),
                model.params().values().stream().mapToLong(t -> t.size()).sum(), tc.steps, batchSize, nThreads);

        Trainer.Result r = TrainCommand.run(model, tc, Mqar.batches(train, batchSize, seed), Mqar.validator(test, 256), out, null, null,
                !noProgress && CliSupport.interactive(), System.err);
        Mqar.Score s = Mqar.score(model, test, 256);

        ObjectMapper json = new ObjectMapper();
        ObjectNode o = json.createObjectNode();
        o.put("task", "mqar");
        o.put("model_type", model.config.modelType());
        o.put("d_model", model.config.hiddenSize());
        o.put("layers", model.config.numLayers());
        o.put("vocab", vocab);
        o.put("seq_len", seqLen);
        o.put("kv_pairs", kvPairs);
        o.put("power_a", powerA);
        o.put("random_non_queries", !zeros);
        o.put("train_examples", trainExamples);
        o.put("test_examples", testExamples);
        o.put("seed", seed);
        o.put("steps", r.step());
        o.put("batch_size", batchSize);
        o.put("lr", lr);
        o.put("final_train_loss", r.losses().isEmpty() ? Double.NaN : r.losses().get(r.losses().size() - 1));
        o.put("test_loss", s.loss());
        o.put("accuracy", s.accuracy());
        o.put("correct", s.correct());
        o.put("labelled_positions", s.labelled());
        o.put("chance", 2.0 / vocab);
        o.put("train_seconds", Math.round(r.seconds() * 10) / 10.0);
        o.put("tokens_per_second", Math.round(r.tokensPerSecond()));
        o.put("threads", nThreads);
        if (out != null) o.put("checkpoint", String.valueOf(r.lastCheckpoint()));
        System.out.println(json.writerWithDefaultPrettyPrinter().writeValueAsString(o));
        return 0;
    }
}
