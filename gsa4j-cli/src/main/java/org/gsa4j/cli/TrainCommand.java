package org.gsa4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.Gsa4jException;
import org.gsa4j.config.ModelSize;
import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.models.CudaTrainEngine;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelRegistry;
import org.gsa4j.train.TrainConfig;
import org.gsa4j.train.TrainRun;
import org.gsa4j.train.Trainable;
import org.gsa4j.train.Trainer;
import org.gsa4j.train.TrainingData;
import org.gsa4j.tensor.Parallel;
import org.gsa4j.train.dist.Launcher;
import org.gsa4j.train.dist.ProcessGroup;
import org.gsa4j.train.dist.RankEnv;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * {@code gsa4j train}: any architecture, from a config file and/or flags. The training settings'
 * flags are added from {@link TrainConfig.Field} ({@link TrainFlags}); the set-up is
 * {@link TrainRun}'s.
 */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Train a language model of any architecture the model loader supports on text.",
                "Settings come from --config (JSON: {\"model\": {config.json fields}, \"train\": {training settings}}), then flags;"
                        + " every training setting's flag is its JSON field name with dashes.",
                "Writes OUT/checkpoints/step-N (Hugging Face layout + optimizer and trainer state), OUT/metrics.jsonl, OUT/loss.png.",
                "With --nproc-per-node N, starts N ranks like torchrun (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT); rank 0 writes the files."})
public final class TrainCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Mixin
    DeviceOption device;

    @Option(names = "--config", paramLabel = "FILE",
            description = "JSON run config: {\"model\": {...} or \"path/config.json\", \"train\": {...}} (default: none, flags only).")
    Path config;

    @Option(names = "--out", paramLabel = "DIR", defaultValue = "runs/train", description = "Output directory (default: ${DEFAULT-VALUE}).")
    Path out;

    @Option(names = "--resume", arity = "0..1", paramLabel = "CKPT", fallbackValue = "",
            description = "Continue from a checkpoint directory (no value: the newest in OUT/checkpoints); losses continue exactly"
                    + " (default: a new run).")
    String resume;

    @Option(names = "--force", description = "Start afresh even though OUT already has checkpoints (they are replaced as new ones are written).")
    boolean force;

    // ---- data
    @Option(names = "--data", paramLabel = "DIR",
            description = "Prepared data (prep.json) or a directory of .txt files (default: the embedded Austen corpus).")
    Path data;

    @Option(names = "--vocab-size", defaultValue = "4096", paramLabel = "N",
            description = "BPE vocabulary when data must be prepared; the model's vocab_size (default: ${DEFAULT-VALUE}).")
    int vocabSize;

    @Option(names = "--tokenizer", paramLabel = "FILE",
            description = "Use this tokenizer.json instead of training a BPE when preparing data (default: train one).")
    Path tokenizer;

    // ---- model (ignored with --config's model, --model-config, --init-from or --resume)
    @Option(names = "--model-config", paramLabel = "FILE",
            description = "A config.json (reference-library format) for the model (default: built from --arch and the size flags).")
    Path modelConfig;

    @Option(names = "--arch", defaultValue = "gsa", paramLabel = "ARCH",
            description = "Architecture: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE}).", completionCandidates = Archs.class)
    String arch;

    @Option(names = "--hidden-size", defaultValue = "128", paramLabel = "N", description = "Model width (default: ${DEFAULT-VALUE}).")
    int hiddenSize;

    @Option(names = "--num-hidden-layers", defaultValue = "2", paramLabel = "N", description = "Layers (default: ${DEFAULT-VALUE}).")
    int numHiddenLayers;

    @Option(names = "--num-heads", defaultValue = "4", paramLabel = "N", description = "Attention heads per layer (default: ${DEFAULT-VALUE}).")
    int numHeads;

    @Option(names = "--num-slots", defaultValue = "32", paramLabel = "N", description = "GSA memory slots per head (default: ${DEFAULT-VALUE}).")
    int numSlots;

    @Option(names = "--intermediate-size", defaultValue = "0", paramLabel = "N",
            description = "MLP width; 0: about 8/3 · hidden, a multiple of 64 (default: ${DEFAULT-VALUE}).")
    int intermediateSize;

    @Option(names = "--no-progress", description = "Plain log lines instead of a progress bar (redirected output always gets lines).")
    boolean noProgress;

    // ---- several processes (data parallel), as torchrun starts them
    @Option(names = "--nproc-per-node", paramLabel = "N",
            description = "Start N ranks (processes) on this machine, one per GPU; each computes its share of every update"
                    + " and the ranks sum their gradients (default: train in this process). On the CPU, one process already uses"
                    + " every core: several ranks there share the cores and exchange gradients over TCP.")
    Integer nprocPerNode;

    @Option(names = "--nnodes", defaultValue = "1", paramLabel = "N", description = "Machines in the run (default: ${DEFAULT-VALUE}).")
    int nnodes;

    @Option(names = "--node-rank", defaultValue = "0", paramLabel = "N", description = "This machine's number, 0 for the machine of rank 0 (default: ${DEFAULT-VALUE}).")
    int nodeRank;

    @Option(names = "--master-addr", defaultValue = "127.0.0.1", paramLabel = "HOST",
            description = "The host of rank 0, where the ranks meet (default: ${DEFAULT-VALUE}).")
    String masterAddr;

    @Option(names = "--master-port", defaultValue = "0", paramLabel = "PORT",
            description = "The TCP port where the ranks meet; 0: a free one, on one machine (default: ${DEFAULT-VALUE}).")
    int masterPort;

    static final class Archs implements Iterable<String> {
        @Override
        public Iterator<String> iterator() {
            return ModelRegistry.modelTypes().iterator();
        }
    }

    @Override
    public Integer call() throws IOException {
        int gpu = device.gpu();
        if (gpu >= 0 && (nprocPerNode != null || nnodes > 1 || System.getenv(RankEnv.RANK) != null)) {
            throw new Gsa4jException("--device " + device.device + ": training with several ranks on GPUs is not built yet (their gradient"
                    + " exchange over NCCL is to come): train on one GPU, or with several ranks on the CPU");
        }
        if (System.getenv(RankEnv.RANK) == null && (nprocPerNode != null || nnodes > 1)) {
            Launcher.Spec ranks = new Launcher.Spec(nprocPerNode == null ? 1 : nprocPerNode, nnodes, nodeRank, masterAddr, masterPort);
            List<String> command = Launcher.javaCommand(Main.class.getName(), List.of(), spec.root().commandLine().getParseResult().originalArgs());
            return Launcher.run(ranks, r -> command, Map.of(), Duration.ofSeconds(30), System.out, System.err);
        }
        ProcessGroup group = TrainRun.joinGroup(System.getenv());
        // on a stop request (SIGTERM, Ctrl-C) the JVM ends when its shutdown hooks have: this one holds it
        // until the group has finished, so that the other ranks see an orderly end, not a lost rank
        CountDownLatch ended = new CountDownLatch(1);
        Thread holdUntilFinished = new Thread(() -> {
            try {
                ended.await(10, TimeUnit.MINUTES);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "gsa4j-rank-finish");
        if (group.worldSize() > 1) Runtime.getRuntime().addShutdownHook(holdUntilFinished);
        try {
            if (gpu >= 0) {
                try (CudaDevice d = CudaDevice.open(gpu)) {
                    train(group, d);
                }
            } else {
                train(group, null);
            }
            group.finish();
        } catch (RuntimeException e) {
            group.reportFailure(String.valueOf(e.getMessage()));
            throw e;
        } finally {
            group.close();
            ended.countDown();
            try {
                if (group.worldSize() > 1) Runtime.getRuntime().removeShutdownHook(holdUntilFinished);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running: it returns now
            }
        }
        return 0;
    }

    /** Trains as a rank of {@code group}, on {@code gpu} when given (then alone). */
    private void train(ProcessGroup group, CudaDevice gpu) throws IOException {
        // rank 0 speaks for the run; the other ranks say only their errors
        PrintStream err = group.isWriter() ? System.err : new PrintStream(OutputStream.nullOutputStream());
        boolean threadsGiven = spec.commandLine().getParseResult().hasMatchedOption("--threads")
                || spec.root().commandLine().getParseResult().hasMatchedOption("--threads");
        if (group.env().localWorldSize() > 1 && !threadsGiven) {
            // the ranks of one machine share its cores (on GPUs the threads only feed the devices)
            Parallel.useThreads(Math.max(1, Parallel.machineThreads() / group.env().localWorldSize()));
        }
        JsonNode runConfig = config == null ? null : readJson(config);
        TrainRun.Request request = new TrainRun.Request(out, data, vocabSize, tokenizer, TrainingData.defaultCacheDir(),
                modelConfigJson(runConfig), runConfig == null ? null : runConfig.get("train"), config, TrainFlags.given(spec), resume, force);
        // rank 0 sets the run up first (it may prepare the data into the cache); the others then read what it made
        if (!group.isWriter()) group.barrier();
        try (TrainRun run = TrainRun.prepare(request, err::println)) {
            if (group.isWriter()) group.barrier();
            TrainConfig tc = run.config();
            CausalLM model = run.model();
            err.printf("model: %s, %,d parameters (%d layers, hidden %d, vocabulary %d); %s%n", model.config.modelType(), run.parameters(),
                    model.config.numLayers(), model.config.hiddenSize(), model.config.vocabSize(), gpu != null ? "on " + device.describe(gpu)
                            : Parallel.threads() + " threads" + (group.worldSize() > 1 ? " in each of " + group.worldSize() + " ranks" : ""));
            if (tc.initFrom() != null && run.resumedFrom() == null) err.printf("initial weights: %s%n", tc.initFrom());
            if (tc.trainOnly() != null && !Trainable.groups(tc.trainOnly()).contains("all")) {
                err.printf("training only %s: %,d of %,d parameters; the rest are frozen%n", tc.trainOnly(), run.trainedParameters(), run.parameters());
            }
            err.printf("training: %d updates × %d sequences × %d tokens (× %d accumulation) = %,d tokens; lr %.2g warm-up %d, cosine to %.2g;"
                            + " AdamW wd %.3g β (%.3g, %.3g)%n", tc.steps(), tc.batchSize(), tc.seqLen(), tc.gradAccum(),
                    tc.steps() * tc.tokensPerStep(), tc.lr(), tc.warmupSteps(), tc.lr() * tc.minLrRatio(), tc.weightDecay(), tc.beta1(), tc.beta2());
            if (run.resumedFrom() != null) err.printf("resuming from %s (step %d)%n", run.resumedFrom().dir(), run.resumedFrom().step());
            Trainer.Result r;
            try (TrainProgress progress = new TrainProgress(CliSupport.progressBar(noProgress), tc.tokensPerStep(), err);
                 Trainer trainer = run.trainer(progress, group)) {
                if (gpu != null) trainer.on(CudaTrainEngine.on(gpu, device.precision()));
                r = CliSupport.runTrainer(trainer, true, err);
            }
            if (!group.isWriter()) return;
            PrintStream o = System.out;
            o.printf("trained %s to step %d in %s (%,.0f tokens/s)%n", model.config.modelType(), r.step(), CliSupport.fmtSeconds(r.seconds()),
                    r.tokensPerSecond());
            if (!r.losses().isEmpty()) o.printf("final training loss %.4f%n", r.losses().get(r.losses().size() - 1));
            if (r.lastValidation() != null) o.printf("validation loss %.4f (perplexity %.2f on the first %,d validation tokens)%n",
                    r.lastValidation().get("val_loss"), r.lastValidation().get("val_ppl"), run.validationTokens());
            o.printf("checkpoint %s%nmetrics %s%nloss plot %s%n", r.lastCheckpoint(), out.resolve("metrics.jsonl"), out.resolve("loss.png"));
        }
    }

    /** The model's config.json fields: from --config's "model", --model-config, or the architecture and size flags. */
    private ObjectNode modelConfigJson(JsonNode runConfig) {
        JsonNode m = runConfig == null ? null : runConfig.get("model");
        if (m != null && m.isTextual()) m = readJson(config.resolveSibling(m.asText()));
        if (m == null && modelConfig != null) m = readJson(modelConfig);
        if (m != null) {
            if (!m.isObject()) throw Gsa4jException.at(config, "model", "must be a config.json object or a path to one");
            return ((ObjectNode) m).deepCopy();
        }
        ObjectNode o = ModelRegistry.preset(arch, new ModelSize(1, hiddenSize, numHiddenLayers, numHeads, numSlots, intermediateSize)).toJson();
        o.remove("vocab_size");
        return o;
    }

    static JsonNode readJson(Path file) {
        if (!Files.isRegularFile(file)) throw Gsa4jException.at(file, null, "no such file");
        try {
            JsonNode n = new ObjectMapper().readTree(file.toFile());
            if (n == null || !n.isObject()) throw Gsa4jException.at(file, null, "must be a JSON object");
            return n;
        } catch (IOException e) {
            throw Gsa4jException.at(file, null, "invalid JSON: " + e.getMessage().lines().findFirst().orElse(""), e);
        }
    }
}
