package org.gsa4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.Gsa4jException;
import org.gsa4j.config.ModelSize;
import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.models.CudaTrainEngine;
import org.gsa4j.models.ModelRegistry;
import org.gsa4j.tensor.Parallel;
import org.gsa4j.train.Mqar;
import org.gsa4j.train.MqarRun;
import org.gsa4j.train.TrainConfig;
import org.gsa4j.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code gsa4j mqar}: the Zoology multi-query associative recall task for any architecture ({@link MqarRun}). */
@Command(name = "mqar", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Train a model on multi-query associative recall (Zoology's MQAR) and print its test accuracy as JSON.",
                "Generates the training and test sets, trains, and scores the labelled (query) positions (docs/TRAINING.md)."})
public final class MqarCommand implements Callable<Integer> {

    @Mixin
    DeviceOption device;

    @Option(names = "--arch", defaultValue = "gsa", paramLabel = "ARCH",
            description = "Architecture: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE}).", completionCandidates = TrainCommand.Archs.class)
    String arch;

    @Option(names = "--model-config", paramLabel = "FILE",
            description = "A config.json for the model instead of --arch and the size flags; its vocab_size is set to --vocab-size (default: none).")
    Path modelConfig;

    @Option(names = "--hidden-size", defaultValue = "64", paramLabel = "N", description = "Model width (default: ${DEFAULT-VALUE}).")
    int hiddenSize;

    @Option(names = "--num-hidden-layers", defaultValue = "2", paramLabel = "N", description = "Layers (default: ${DEFAULT-VALUE}).")
    int numHiddenLayers;

    @Option(names = "--num-heads", defaultValue = "2", paramLabel = "N", description = "Heads per layer (default: ${DEFAULT-VALUE}).")
    int numHeads;

    @Option(names = "--num-slots", defaultValue = "16", paramLabel = "N", description = "GSA memory slots per head (default: ${DEFAULT-VALUE}).")
    int numSlots;

    @Option(names = "--intermediate-size", defaultValue = "0", paramLabel = "N",
            description = "MLP width; 0: about 8/3 · hidden, a multiple of 64 (default: ${DEFAULT-VALUE}).")
    int intermediateSize;

    @Option(names = "--vocab-size", defaultValue = "8192", paramLabel = "V",
            description = "Vocabulary V; keys from [1, V/2), values from [V/2, V) (default: ${DEFAULT-VALUE}).")
    int vocabSize;

    @Option(names = "--seq-len", defaultValue = "64", paramLabel = "L", description = "Sequence length L (default: ${DEFAULT-VALUE}).")
    int seqLen;

    @Option(names = "--kv-pairs", defaultValue = "4", paramLabel = "N", description = "Key-value pairs N, 4N <= L (default: ${DEFAULT-VALUE}).")
    int kvPairs;

    @Option(names = "--power-a", defaultValue = "0.01", paramLabel = "A",
            description = "Power-law exponent of the query gaps (default: ${DEFAULT-VALUE}).")
    double powerA;

    @Option(names = "--no-random-non-queries", description = "Fill non-query positions with 0 instead of random tokens.")
    boolean zeros;

    @Option(names = "--train-examples", defaultValue = "100000", paramLabel = "N", description = "Training examples (default: ${DEFAULT-VALUE}).")
    int trainExamples;

    @Option(names = "--test-examples", defaultValue = "3000", paramLabel = "N", description = "Test examples (default: ${DEFAULT-VALUE}).")
    int testExamples;

    @Option(names = "--epochs", defaultValue = "4", paramLabel = "N",
            description = "Passes over the training set; --steps overrides (default: ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--steps", paramLabel = "N", description = "Optimizer updates (default: from --epochs).")
    Long steps;

    @Option(names = "--batch-size", defaultValue = "64", paramLabel = "N", description = "Examples per update (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--lr", defaultValue = "3e-3", paramLabel = "X",
            description = "Peak learning rate, cosine decay to 0 (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--warmup-steps", defaultValue = "50", paramLabel = "N", description = "Linear warm-up updates (default: ${DEFAULT-VALUE}).")
    long warmupSteps;

    @Option(names = "--weight-decay", defaultValue = "0.1", paramLabel = "X", description = "AdamW weight decay (default: ${DEFAULT-VALUE}).")
    double weightDecay;

    @Option(names = "--eval-every", defaultValue = "0", paramLabel = "N",
            description = "Test-set evaluation every N updates; 0: at the end (default: ${DEFAULT-VALUE}).")
    long evalEvery;

    @Option(names = {"-s", "--seed"}, defaultValue = "0", paramLabel = "N",
            description = "Data seed (test set: seed + 10) and initialisation seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--out", paramLabel = "DIR", description = "Also write checkpoints, metrics.jsonl and loss.png here (default: none).")
    Path out;

    @Option(names = "--no-progress", description = "Plain log lines instead of a progress bar (redirected output always gets lines).")
    boolean noProgress;

    @Override
    public Integer call() throws Exception {
        int gpu = device.gpu();
        Mqar.Spec spec = new Mqar.Spec(vocabSize, seqLen, kvPairs, powerA, !zeros);
        MqarRun.Options options = new MqarRun.Options(spec, trainExamples, testExamples, epochs, steps, batchSize, lr, warmupSteps,
                weightDecay, evalEvery, seed);
        ObjectNode mc = modelConfig != null ? asObject(TrainCommand.readJson(modelConfig))
                : ModelRegistry.preset(arch, new ModelSize(vocabSize, hiddenSize, numHiddenLayers, numHeads, numSlots, intermediateSize)).toJson();
        MqarRun run = MqarRun.prepare(options, mc);
        TrainConfig tc = run.config();
        int threads = Parallel.threads();
        try (CudaDevice d = gpu >= 0 ? CudaDevice.open(gpu) : null) {
            String where = d != null ? "on " + device.describe(d) : threads + " threads";
            System.err.printf("MQAR V=%d L=%d N=%d: %,d train / %,d test examples (%.1f s); %s with %,d parameters; %d updates of %d; %s%n",
                    vocabSize, seqLen, kvPairs, trainExamples, testExamples, run.generationSeconds(), run.model().config.modelType(),
                    run.parameters(), tc.steps(), batchSize, where);
            ObjectNode result;
            try (TrainProgress progress = new TrainProgress(CliSupport.progressBar(noProgress), tc.tokensPerStep(), System.err);
                 Trainer trainer = run.trainer(out, progress)) {
                if (d != null) trainer.on(CudaTrainEngine.on(d, device.precision()));
                Trainer.Result r = CliSupport.runTrainer(trainer, out != null, System.err);
                result = run.result(r, threads, trainer.scoring());
            }
            if (d != null) result.put("device", device.describe(d));
            System.out.println(new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(result));
        }
        return 0;
    }

    private ObjectNode asObject(com.fasterxml.jackson.databind.JsonNode n) {
        if (!n.isObject()) throw Gsa4jException.at(modelConfig, null, "must be a JSON object");
        return (ObjectNode) n;
    }
}
