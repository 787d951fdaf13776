package org.gsa4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import me.tongfei.progressbar.ProgressBar;
import org.gsa4j.Gsa4jException;
import org.gsa4j.config.ModelSize;
import org.gsa4j.data.DataPrep;
import org.gsa4j.data.TokenFile;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.models.ModelRegistry;
import org.gsa4j.train.Checkpoints;
import org.gsa4j.train.LmData;
import org.gsa4j.train.TrainConfig;
import org.gsa4j.train.Trainable;
import org.gsa4j.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code gsa4j train}: any architecture, from a config file and/or flags. */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Train a language model (gsa, or any architecture the model loader supports) on text.",
                "Settings come from --config (JSON: {\"model\": {config.json fields}, \"train\": {training fields}}), then flags.",
                "Writes OUT/checkpoints/step-N (Hugging Face layout + optimizer and trainer state), OUT/metrics.jsonl, OUT/loss.png."})
public final class TrainCommand implements Callable<Integer> {

    @Option(names = "--config", paramLabel = "FILE", description = "JSON run config: {\"model\": {...} or \"path/config.json\", \"train\": {...}}.")
    Path config;

    @Option(names = "--out", paramLabel = "DIR", defaultValue = "runs/train", description = "Output directory (default: ${DEFAULT-VALUE}).")
    Path out;

    @Option(names = "--resume", arity = "0..1", paramLabel = "CKPT", fallbackValue = "",
            description = "Continue from a checkpoint directory (no value: the newest in OUT/checkpoints); losses continue exactly.")
    String resume;

    @Option(names = "--force", description = "Start afresh even though OUT already has checkpoints (they are replaced as new ones are written).")
    boolean force;

    @Option(names = "--init-from", paramLabel = "DIR",
            description = {"Start from the weights of this Hugging Face model directory (any architecture the loader supports, "
                    + "e.g. one made by `gsa4j convert`, or a checkpoint) instead of a fresh model; the model flags are then ignored.",
                    "Without --lr the peak learning rate is 3e-4 (finetuning), not 3e-3."})
    Path initFrom;

    @Option(names = "--train-only", paramLabel = "GROUPS",
            description = {"Train only these parameter groups, freeze the rest (no gradient, no optimizer state, no decay): "
                    + "all (default), or a comma list of new (what a conversion adds: f_proj, gk_proj, g_norm ...), "
                    + "attention (all token-mixer parameters), mlp, norms, embeddings, head. E.g. --train-only new,attention."})
    String trainOnly;

    // ---- data
    @Option(names = "--data", paramLabel = "DIR", description = "Prepared data (prep.json) or a directory of .txt files; default: the embedded Austen corpus.")
    Path data;

    @Option(names = "--vocab-size", defaultValue = "4096", description = "BPE vocabulary when data must be prepared (default: ${DEFAULT-VALUE}).")
    int vocabSize;

    @Option(names = "--tokenizer", paramLabel = "FILE", description = "Use this tokenizer.json instead of training a BPE when preparing data.")
    Path tokenizer;

    // ---- model (ignored with --config's model or --model-config)
    @Option(names = "--model-config", paramLabel = "FILE", description = "A config.json (fla format) for the model.")
    Path modelConfig;

    @Option(names = "--arch", defaultValue = "gsa", description = "Architecture: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE}).",
            completionCandidates = Archs.class)
    String arch;

    @Option(names = "--hidden-size", defaultValue = "128") int hidden;
    @Option(names = "--layers", defaultValue = "2") int layers;
    @Option(names = "--heads", defaultValue = "4") int heads;
    @Option(names = "--slots", defaultValue = "32", description = "GSA memory slots (default: ${DEFAULT-VALUE}).") int slots;
    @Option(names = "--intermediate-size", defaultValue = "0", description = "MLP width; 0: about 8/3 · hidden.") int intermediate;

    // ---- training (null: from --config or the defaults)
    @Option(names = "--steps") Long steps;
    @Option(names = "--batch-size") Integer batchSize;
    @Option(names = "--seq-len") Integer seqLen;
    @Option(names = "--grad-accum") Integer gradAccum;
    @Option(names = "--lr", description = "Peak learning rate.") Double lr;
    @Option(names = "--min-lr-ratio", description = "Cosine floor as a fraction of the peak.") Double minLrRatio;
    @Option(names = "--warmup", description = "Warm-up updates (default: min(100, steps/10)).") Long warmup;
    @Option(names = "--weight-decay") Double weightDecay;
    @Option(names = "--beta1") Double beta1;
    @Option(names = "--beta2") Double beta2;
    @Option(names = "--eps") Double eps;
    @Option(names = "--clip", description = "Gradient-norm clipping (0: off).") Double clip;
    @Option(names = "--decay-all", description = "Weight decay on norms, embeddings and biases too.") Boolean decayAll;
    @Option(names = "--seed") Long seed;
    @Option(names = "--eval-every") Long evalEvery;
    @Option(names = "--eval-tokens") Integer evalTokens;
    @Option(names = "--checkpoint-every") Long checkpointEvery;
    @Option(names = "--keep", description = "Checkpoints to keep.") Integer keep;

    @Option(names = "--threads", defaultValue = "0", description = "Worker threads (0: all cores). Same seed and threads ⇒ identical losses.")
    int threads;

    @Option(names = "--no-progress", description = "Plain log lines instead of a progress bar.")
    boolean noProgress;

    static final class Archs implements Iterable<String> {
        @Override
        public Iterator<String> iterator() {
            return ModelRegistry.modelTypes().iterator();
        }
    }

    @Override
    public Integer call() throws IOException {
        int nThreads = CliSupport.threads(threads);
        PrintStream err = System.err;
        JsonNode runConfig = config == null ? null : readJson(config);
        Trainer.ensureWritable(out);

        DataPrep.Result prep = CliSupport.data(data, vocabSize, tokenizer);
        int tokVocab = prep.vocabSize();

        Checkpoints.Loaded ckpt = null;
        if (initFrom != null && resume != null) {
            throw new Gsa4jException("--init-from starts a new run and --resume continues one: pass only one of them");
        }
        if (resume != null) {
            Path dir = resume.isEmpty() ? Checkpoints.latest(out.resolve("checkpoints")) : Path.of(resume);
            if (dir == null) throw Gsa4jException.at(out.resolve("checkpoints"), null, "--resume: there is no checkpoint to resume from");
            ckpt = Checkpoints.load(dir);
        } else if (!force && !Checkpoints.list(out.resolve("checkpoints")).isEmpty()) {
            throw Gsa4jException.at(out, null, "already has checkpoints (newest " + Checkpoints.latest(out.resolve("checkpoints")).getFileName()
                    + "): use --resume to continue, --force to start over, or another --out");
        }

        TrainConfig tc = new TrainConfig();
        if (ckpt != null) tc = TrainConfig.fromJson(ckpt.state().get("train_config"), ckpt.dir().resolve(Checkpoints.TRAINER_STATE));
        else if (runConfig != null) tc = tc.overlay(runConfig.get("train"), config);
        boolean warmupGiven = warmup != null || (runConfig != null && runConfig.path("train").has("warmup_steps")) || ckpt != null;
        boolean lrGiven = lr != null || (runConfig != null && runConfig.path("train").has("lr")) || ckpt != null;
        if (initFrom != null) {
            tc.initFrom = initFrom.toString();
            if (!lrGiven) tc.lr = 3e-4; // finetuning a pretrained model: a small peak (the paper: 3e-5 at 7B)
        }
        if (trainOnly != null) {
            if (ckpt != null) throw new Gsa4jException("--train-only cannot change on --resume: the checkpoint's run trains "
                    + (tc.trainOnly == null ? "all parameters" : "'" + tc.trainOnly + "'"));
            tc.trainOnly = trainOnly;
        }
        applyFlags(tc);
        if (!warmupGiven) tc.warmupSteps = Math.min(tc.warmupSteps, Math.max(1, tc.steps / 10));

        CausalLM model;
        if (ckpt != null) {
            model = ckpt.model();
        } else if (initFrom != null) {
            model = ModelLoader.load(initFrom);
            Path initTok = initFrom.resolve("tokenizer.json");
            if (Files.isRegularFile(initTok) && !java.util.Arrays.equals(Files.readAllBytes(initTok), Files.readAllBytes(prep.tokenizerPath()))) {
                throw new Gsa4jException("--init-from " + initFrom + " comes with another tokenizer than the data's (" + prep.tokenizerPath()
                        + "): pass --tokenizer " + initTok + " or the --data / --vocab-size it was trained with");
            }
        } else {
            ObjectNode mc = modelConfigJson(runConfig);
            if (!mc.has("vocab_size")) mc.put("vocab_size", tokVocab);
            model = ModelLoader.create(mc, tc.seed);
        }
        if (model.config.vocabSize() != tokVocab) {
            throw new Gsa4jException("the tokenizer (" + prep.tokenizerPath() + ") has " + tokVocab + " tokens but the model's vocab_size is "
                    + model.config.vocabSize() + ": they must match (omit vocab_size from the model config to take the tokenizer's)");
        }
        long nParams = model.params().values().stream().mapToLong(t -> t.size()).sum();
        byte[] tokJson = Files.readAllBytes(prep.tokenizerPath());

        try (TokenFile train = TokenFile.open(prep.trainPath()); TokenFile val = TokenFile.open(prep.validationPath())) {
            if (train.vocabSize() > model.config.vocabSize()) {
                throw Gsa4jException.at(prep.trainPath(), null, "token ids up to " + train.vocabSize() + " do not fit the model's vocabulary " + model.config.vocabSize());
            }
            var source = LmData.train(train, tc.batchSize, tc.seqLen, tc.seed);
            var validator = val.size() >= 2 ? LmData.validator(val, tc.batchSize, tc.seqLen, tc.evalTokens) : null;
            err.printf("model: %s, %,d parameters (%d layers, hidden %d, vocabulary %d); %d threads%n", model.config.modelType(), nParams,
                    model.config.numLayers(), model.config.hiddenSize(), model.config.vocabSize(), nThreads);
            if (initFrom != null) err.printf("initial weights: %s%n", initFrom);
            if (tc.trainOnly != null && !Trainable.groups(tc.trainOnly).contains("all")) {
                long trained = Trainable.trainedNames(tc.trainOnly, model).stream().mapToLong(n -> model.params().get(n).size()).sum();
                err.printf("training only %s: %,d of %,d parameters; the rest are frozen%n", tc.trainOnly, trained, nParams);
            }
            err.printf("training: %d updates × %d sequences × %d tokens (× %d accumulation) = %,d tokens; lr %.2g warm-up %d, cosine to %.2g; AdamW wd %.3g β (%.3g, %.3g)%n",
                    tc.steps, tc.batchSize, tc.seqLen, tc.gradAccum, tc.steps * tc.tokensPerStep(), tc.lr, tc.warmupSteps, tc.lr * tc.minLrRatio,
                    tc.weightDecay, tc.beta1, tc.beta2);
            if (ckpt != null) {
                Path ckTok = ckpt.dir().resolve("tokenizer.json");
                if (Files.isRegularFile(ckTok) && !java.util.Arrays.equals(Files.readAllBytes(ckTok), tokJson)) {
                    throw new Gsa4jException("the checkpoint " + ckpt.dir() + " was trained with another tokenizer than " + prep.tokenizerPath()
                            + ": pass the same --data / --vocab-size / --tokenizer as the original run");
                }
                if (ckpt.step() >= tc.steps) throw new Gsa4jException("the checkpoint " + ckpt.dir() + " is already at step " + ckpt.step()
                        + " of " + tc.steps + ": pass a larger --steps to train further");
                err.printf("resuming from %s (step %d)%n", ckpt.dir(), ckpt.step());
            }
            Trainer.Result r = runWithProgress(model, tc, source, validator, tokJson, ckpt, !noProgress && CliSupport.interactive(), err);
            PrintStream o = System.out;
            o.printf("trained %s to step %d in %s (%,.0f tokens/s)%n", model.config.modelType(), r.step(), CliSupport.fmtSeconds(r.seconds()), r.tokensPerSecond());
            if (!r.losses().isEmpty()) o.printf("final training loss %.4f%n", r.losses().get(r.losses().size() - 1));
            if (r.lastValidation() != null) o.printf("validation loss %.4f (perplexity %.2f on the first %,d validation tokens)%n",
                    r.lastValidation().get("val_loss"), r.lastValidation().get("val_ppl"), Math.min(tc.evalTokens, val.size() - 1));
            o.printf("checkpoint %s%nmetrics %s%nloss plot %s%n", r.lastCheckpoint(), out.resolve("metrics.jsonl"), out.resolve("loss.png"));
        }
        return 0;
    }

    /** Runs the trainer with a progress bar (or log lines); shared with the demo. */
    Trainer.Result runWithProgress(CausalLM model, TrainConfig tc, org.gsa4j.train.BatchSource source, org.gsa4j.train.Validator validator,
                                   byte[] tokJson, Checkpoints.Loaded ckpt, boolean progress, PrintStream err) {
        return run(model, tc, source, validator, out, tokJson, ckpt, progress, err, 0);
    }

    static Trainer.Result run(CausalLM model, TrainConfig tc, org.gsa4j.train.BatchSource source, org.gsa4j.train.Validator validator,
                              Path out, byte[] tokJson, Checkpoints.Loaded ckpt, boolean progress, PrintStream err) {
        return run(model, tc, source, validator, out, tokJson, ckpt, progress, err, 0);
    }

    /**
     * With a time budget (the demo) the run's length is set from the speed of updates 30–60, then
     * set again from updates 60–120, 120–240, … while the run is in its first quarter: the first
     * window still includes JIT compilation and heap growth, and the demo's 4-minute budget ended
     * after 3 min 15 s when it was the only estimate. Later changes would bend the learning-rate
     * schedule (cosine over the total) noticeably; in the first quarter it is near its top.
     */
    static final int BUDGET_PROBE_FROM = 30, BUDGET_PROBE_TO = 60;
    /** Validations in a run with a time budget: five evenly spaced and one at the end. */
    static final int BUDGET_VALIDATIONS = 6;

    /**
     * The run's length that spends what is left of the budget on updates at {@code perStep} seconds
     * each, after {@code otherSeconds} of validations; at least one more update.
     */
    static long plannedTotal(double budgetSeconds, double elapsedSeconds, long stepsDone, double perStep, double otherSeconds) {
        return Math.max(stepsDone + 1, stepsDone + (long) ((budgetSeconds - elapsedSeconds - otherSeconds) / perStep));
    }

    /**
     * Trains with a progress bar or log lines. With {@code budgetSeconds > 0} the number of updates is
     * chosen from the measured speed so that training takes about that long (tc.steps is then only
     * the initial guess; see {@link #BUDGET_PROBE_FROM}).
     */
    static Trainer.Result run(CausalLM model, TrainConfig tc, org.gsa4j.train.BatchSource source, org.gsa4j.train.Validator validator,
                              Path out, byte[] tokJson, Checkpoints.Loaded ckpt, boolean progress, PrintStream err, double budgetSeconds) {
        ProgressBar[] bar = new ProgressBar[1];
        Trainer[] self = new Trainer[1];
        Trainer.Listener listener = new Trainer.Listener() {
            double ema = Double.NaN;
            long windowFrom = BUDGET_PROBE_FROM, windowTo = BUDGET_PROBE_TO;
            double windowSeconds;  // update time (validations excluded) summed over the window so far

            @Override
            public void onStart(long fromStep, long totalSteps) {
                if (progress) bar[0] = CliSupport.bar("train", totalSteps, fromStep, null);
            }

            @Override
            public void onStep(Trainer.StepMetrics m) {
                if (budgetSeconds > 0 && m.step() > windowFrom && m.step() <= windowTo) windowSeconds += m.stepSeconds();
                boolean planned = windowFrom > BUDGET_PROBE_FROM;  // tc.steps is still the initial guess until the first plan
                if (budgetSeconds > 0 && m.step() == windowTo && (!planned || m.step() <= tc.steps / 4)) {
                    double perStep = windowSeconds / (windowTo - windowFrom);
                    // validations still to come of eval_tokens each, forward only (about a third of a training token's cost)
                    long validationsLeft = planned ? Math.max(0, BUDGET_VALIDATIONS - m.step() / tc.evalEvery) : BUDGET_VALIDATIONS;
                    double valSeconds = validator == null ? 0 : validationsLeft * perStep * tc.evalTokens / (3.0 * tc.tokensPerStep());
                    long total = plannedTotal(budgetSeconds, m.elapsedSeconds(), m.step(), perStep, valSeconds);
                    self[0].setTotalSteps(total);
                    // rounded up: five in the run and one at its end, not a sixth just before it
                    tc.evalEvery = Math.max(1, (total + BUDGET_VALIDATIONS - 1) / BUDGET_VALIDATIONS);
                    String line = String.format("time budget %s: %.2f s per update over updates %d–%d, so %d updates in all",
                            CliSupport.fmtSeconds(budgetSeconds), perStep, windowFrom, windowTo, total);
                    if (bar[0] != null) bar[0].maxHint(total);
                    else err.println(line);
                    windowFrom = windowTo;
                    windowSeconds = 0;
                    windowTo *= 2;
                }
                ema = Double.isNaN(ema) ? m.loss() : 0.9 * ema + 0.1 * m.loss();
                String msg = String.format("loss %.3f (avg %.3f) lr %.1e %,.0f tok/s", m.loss(), ema, m.lr(), m.tokensPerSecond());
                if (bar[0] != null) {
                    bar[0].stepTo(m.step());
                    bar[0].setExtraMessage(String.format("loss %.3f avg %.3f %,.0f tok/s", m.loss(), ema, m.tokensPerSecond()));
                } else if (m.step() % Math.max(1, tc.steps / 25) == 0 || m.step() == tc.steps) {
                    double eta = (tc.steps - m.step()) * tc.tokensPerStep() / Math.max(1, m.tokensPerSecond());
                    err.printf("step %d/%d %s, elapsed %s, eta %s%n", m.step(), tc.steps, msg, CliSupport.fmtSeconds(m.elapsedSeconds()),
                            CliSupport.fmtSeconds(eta));
                }
            }

            @Override
            public void onValidation(long step, Map<String, Double> v) {
                String line = String.format("step %d: validation loss %.4f, perplexity %.2f", step, v.get("val_loss"), v.getOrDefault("val_ppl", Math.exp(v.get("val_loss"))));
                if (bar[0] != null) bar[0].setExtraMessage(String.format("val loss %.3f ppl %.1f", v.get("val_loss"), Math.exp(v.get("val_loss"))));
                else err.println(line);
            }
        };
        Trainer trainer = new Trainer(model, tc, source, validator, out, tokJson, listener);
        self[0] = trainer;
        if (ckpt != null) trainer.resume(ckpt);
        // Ctrl-C: finish the update in progress, write a checkpoint, then let the JVM exit.
        java.util.concurrent.CountDownLatch done = new java.util.concurrent.CountDownLatch(1);
        Thread hook = new Thread(() -> {
            trainer.requestStop();
            err.println();
            err.println("gsa4j: interrupted: finishing the current update" + (out != null ? " and writing a checkpoint ..." : " ..."));
            try {
                done.await(10, java.util.concurrent.TimeUnit.MINUTES);
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
            if (bar[0] != null) bar[0].close();
            done.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running: it returns now that the latch is open
            }
        }
    }

    private void applyFlags(TrainConfig c) {
        if (steps != null) c.steps = steps;
        if (batchSize != null) c.batchSize = batchSize;
        if (seqLen != null) c.seqLen = seqLen;
        if (gradAccum != null) c.gradAccum = gradAccum;
        if (lr != null) c.lr = lr;
        if (minLrRatio != null) c.minLrRatio = minLrRatio;
        if (warmup != null) c.warmupSteps = warmup;
        if (weightDecay != null) c.weightDecay = weightDecay;
        if (beta1 != null) c.beta1 = beta1;
        if (beta2 != null) c.beta2 = beta2;
        if (eps != null) c.eps = eps;
        if (clip != null) c.clipGradNorm = clip;
        if (decayAll != null) c.decayNormsAndEmbeddings = decayAll;
        if (seed != null) c.seed = seed;
        if (evalEvery != null) c.evalEvery = evalEvery;
        if (evalTokens != null) c.evalTokens = evalTokens;
        if (checkpointEvery != null) c.checkpointEvery = checkpointEvery;
        if (keep != null) c.keepCheckpoints = keep;
        c.validate(null);
    }

    private ObjectNode modelConfigJson(JsonNode runConfig) {
        JsonNode m = runConfig == null ? null : runConfig.get("model");
        if (m != null && m.isTextual()) m = readJson(config.resolveSibling(m.asText()));
        if (m == null && modelConfig != null) m = readJson(modelConfig);
        if (m != null) {
            if (!m.isObject()) throw Gsa4jException.at(config, "model", "must be a config.json object or a path to one");
            return ((ObjectNode) m).deepCopy();
        }
        ObjectNode o = ModelRegistry.preset(arch, new ModelSize(1, hidden, layers, heads, slots, intermediate)).toJson();
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
