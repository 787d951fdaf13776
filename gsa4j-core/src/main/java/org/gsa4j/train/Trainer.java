package org.gsa4j.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.Gsa4jException;
import org.gsa4j.models.CausalLM;
import org.gsa4j.tensor.Parallel;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.train.dist.ProcessGroup;
import org.gsa4j.train.dist.ShardPlan;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The training loop for any {@link CausalLM}: for each update, {@code grad_accum} micro-batches
 * (forward on a recording tape, mean cross-entropy over the labelled positions, backward), gradients
 * averaged, the global norm clipped, one AdamW step at the scheduled learning rate.
 *
 * <p>Deterministic: batches are a pure function of their index, the kernels reduce in a fixed order,
 * and the optimizer updates fixed blocks of each parameter in parallel with the same arithmetic
 * per element whatever the thread count ({@link AdamW}), so the same seed and thread count give
 * bit-identical losses.
 * Resuming from a checkpoint restores weights, moments and the update count, and the data position
 * is the update count, so a resumed run continues exactly as the uninterrupted one would have.
 *
 * <p>A non-finite loss or gradient norm stops training with a {@link NonFiniteLossException} that
 * names the update; nothing is written for it, so the last checkpoint stays the last good one.
 *
 * <p>The updates are computed by a {@link TrainEngine}: the CPU's unless {@link #on} gives another (a GPU's).
 * The loop, the schedule, validation, checkpoints and metrics are the same on every engine, and a
 * checkpoint is the CPU model's and optimizer's whatever the engine, so a run continues on another.
 */
public final class Trainer implements AutoCloseable {

    /** What the caller sees while training runs (progress bars, logs). All methods optional. */
    public interface Listener {
        default void onStart(long fromStep, long totalSteps) {}

        default void onStep(StepMetrics m) {}

        default void onValidation(long step, Map<String, Double> metrics) {}

        default void onCheckpoint(long step, Path dir) {}
    }

    /** One update: its 1-based number, mean loss, learning rate, gradient norm (before clipping), throughput. */
    public record StepMetrics(long step, double loss, double lr, double gradNorm, long tokens, double tokensPerSecond,
                              double elapsedSeconds, double stepSeconds) {}

    /** The outcome of {@link #run}. */
    public record Result(long step, List<Double> losses, Map<String, Double> lastValidation, Path lastCheckpoint,
                         double seconds, double tokensPerSecond) {}

    private final CausalLM model;
    private TrainConfig cfg;
    private final BatchSource data;
    private final Validator validator;
    private final Path outDir;
    private final byte[] tokenizerJson;
    private final Listener listener;
    private final AdamW optimizer;
    private final Set<String> trainable;
    private LrSchedule schedule;
    private long step;
    private volatile boolean stopRequested;
    private double priorSeconds;
    private Path lastCheckpoint;
    private ProcessGroup group;
    private ShardPlan plan;
    private TrainEngine engine;
    /** With several ranks: the stop every rank agreed on at the last update. */
    private boolean agreedStop;
    /** The update whose state the CPU model and optimizer hold (-1: unknown, e.g. after a new engine). */
    private long hostStep = -1;

    /**
     * @param validator     may be null (no validation)
     * @param outDir        may be null (no checkpoints, metrics or plot); otherwise checkpoints go to
     *                      {@code outDir/checkpoints}, metrics to {@code outDir/metrics.jsonl}, the plot to
     *                      {@code outDir/loss.png}
     * @param tokenizerJson copied into every checkpoint when given
     */
    public Trainer(CausalLM model, TrainConfig cfg, BatchSource data, Validator validator, Path outDir, byte[] tokenizerJson,
                   Listener listener) {
        this.model = model;
        this.cfg = cfg;
        this.data = data;
        this.validator = validator;
        this.outDir = outDir;
        this.tokenizerJson = tokenizerJson;
        this.listener = listener == null ? new Listener() {} : listener;
        this.optimizer = AdamW.of(cfg, model.params());
        this.trainable = Set.copyOf(Trainable.trainedNames(cfg.trainOnly(), model));
        this.schedule = cfg.schedule();
        this.plan = ShardPlan.single(cfg.gradAccum());
        this.engine = new CpuTrainEngine(model, cfg, optimizer, trainable);
        if (outDir != null) ensureWritable(outDir);
    }

    /**
     * Computes the updates with the engine {@code factory} makes (e.g. a GPU's) instead of the CPU's, from the
     * weights and optimizer state as they are now; a later {@link #resume} hands the checkpoint's to it. Not
     * with several ranks: their gradient exchange is the CPU engine's only.
     */
    public Trainer on(TrainEngine.Factory factory) {
        if (group != null && group.worldSize() > 1) throw new Gsa4jException("training with several ranks runs on the CPU engine only");
        if (!(trainable.size() == model.params().size())) {
            throw new Gsa4jException("training settings: field 'train_only': frozen parameters are trained on the CPU engine only");
        }
        TrainEngine next = factory.create(model, cfg, optimizer);
        engine.close();
        engine = next;
        hostStep = step;
        return this;
    }

    /** The trained model's forward where the engine computes it (e.g. to score a test set after {@link #run}). */
    public ScoringModel scoring() {
        return engine.scoring();
    }

    /** Where the updates are computed ({@link TrainEngine#device()}). */
    public String device() {
        return engine.device();
    }

    /**
     * Trains as a rank of {@code group}: the rank computes its shard of every update ({@link ShardPlan}),
     * the ranks sum their losses and gradients ({@link ProcessGroup#allReduceSum}) and take the same
     * optimizer step, and a failure of the run (another rank's) ends it with that rank's line. A stop
     * request (Ctrl-C) on any rank stops every rank after the same update. Only the rank that
     * {@link ProcessGroup#isWriter writes} should be given an output folder.
     */
    public Trainer inGroup(ProcessGroup group) {
        if (group.worldSize() > 1 && !(engine instanceof CpuTrainEngine)) {
            throw new Gsa4jException("training with several ranks runs on the CPU engine only, not on " + engine.device());
        }
        this.plan = group.shardPlan(cfg.gradAccum());
        this.group = group;
        return this;
    }

    /** Creates the directory if needed and proves a file can be written there, or says clearly why not. */
    public static void ensureWritable(Path dir) {
        try {
            java.nio.file.Files.createDirectories(dir);
            Path probe = java.nio.file.Files.createTempFile(dir, ".write-probe-", ".tmp");
            java.nio.file.Files.delete(probe);
        } catch (java.nio.file.FileAlreadyExistsException e) {
            throw Gsa4jException.at(dir, null, "the output directory is not writable: " + e.getFile() + " exists and is not a directory", e);
        } catch (java.nio.file.AccessDeniedException e) {
            throw Gsa4jException.at(dir, null, "the output directory is not writable: permission denied", e);
        } catch (java.io.IOException e) {
            throw Gsa4jException.at(dir, null, "the output directory is not writable: " + e, e);
        }
    }

    public Path checkpointRoot() {
        return outDir == null ? null : outDir.resolve("checkpoints");
    }

    public Path metricsFile() {
        return outDir == null ? null : outDir.resolve("metrics.jsonl");
    }

    public Path plotFile() {
        return outDir == null ? null : outDir.resolve("loss.png");
    }

    public long step() {
        return step;
    }

    public AdamW optimizer() {
        return optimizer;
    }

    /** The parameters this run trains (all unless {@code train_only} says otherwise); the rest are frozen. */
    public Set<String> trainableNames() {
        return trainable;
    }

    /**
     * Continues from a checkpoint: weights, optimizer moments and update count. The checkpoint's
     * model must have exactly this model's parameters (names and shapes).
     */
    public void resume(Checkpoints.Loaded ckpt) {
        Map<String, Tensor> live = model.params(), saved = ckpt.model().params();
        if (!live.keySet().equals(saved.keySet())) {
            throw new Gsa4jException("cannot resume from " + ckpt.dir() + ": its model has other parameters than the one configured ("
                    + ckpt.model().config.modelType() + " vs " + model.config.modelType() + ")");
        }
        for (Map.Entry<String, Tensor> e : live.entrySet()) {
            Tensor s = saved.get(e.getKey());
            if (!Arrays.equals(s.shape, e.getValue().shape)) {
                throw new Gsa4jException("cannot resume from " + ckpt.dir() + ": " + e.getKey() + " has shape " + Arrays.toString(s.shape)
                        + " there and " + Arrays.toString(e.getValue().shape) + " in the configured model");
            }
        }
        optimizer.load(ckpt.dir().resolve(Checkpoints.OPTIMIZER), live);
        if (optimizer.stepCount() != ckpt.step()) {
            throw new Gsa4jException("cannot resume from " + ckpt.dir() + ": optimizer step " + optimizer.stepCount()
                    + " != checkpoint step " + ckpt.step() + " (corrupt checkpoint)");
        }
        for (Map.Entry<String, Tensor> e : live.entrySet()) System.arraycopy(saved.get(e.getKey()).f, 0, e.getValue().f, 0, e.getValue().f.length);
        engine.fromHost();
        step = ckpt.step();
        hostStep = step;
        priorSeconds = ckpt.state().path("elapsed_seconds").asDouble(0);
        lastCheckpoint = ckpt.dir();
    }

    public Result run() {
        return runUntil(Long.MAX_VALUE);
    }

    /**
     * Changes the run's length (and so the cosine schedule's end) at a step boundary, e.g. from a
     * listener after timing the first updates to fit a time budget. Later checkpoints record the new
     * length, so a resume continues the changed schedule exactly.
     */
    public void setTotalSteps(long steps) {
        if (steps < step || steps < 1) throw new IllegalArgumentException("total steps " + steps + " < steps done " + step);
        cfg = cfg.with(TrainConfig.Field.STEPS, steps);
        schedule = cfg.schedule();
    }

    /** Changes how often the run validates, at a step boundary (e.g. together with {@link #setTotalSteps}). */
    public void setEvalEvery(long every) {
        cfg = cfg.with(TrainConfig.Field.EVAL_EVERY, every);
    }

    /** The run's settings as they are now ({@link #setTotalSteps} and {@link #setEvalEvery} change them). */
    public TrainConfig config() {
        return cfg;
    }

    /**
     * Asks a running {@link #run} to stop after the update in progress; it then writes a checkpoint
     * (when it has an output directory) and returns normally. Safe to call from another thread,
     * e.g. a shutdown hook on Ctrl-C.
     */
    public void requestStop() {
        stopRequested = true;
    }

    public boolean stopRequested() {
        return stopRequested;
    }

    /** Trains until update {@code stopAt} (≤ steps; fewer simulates an interruption). */
    public Result run(long stopAt) {
        if (stopAt > cfg.steps()) throw new IllegalArgumentException("stopAt " + stopAt + " > steps " + cfg.steps());
        return runUntil(stopAt);
    }

    private Result runUntil(long stopAt) {
        List<Double> losses = new ArrayList<>();
        Map<String, Double> lastVal = null;
        long startStep = step;
        long t0 = System.nanoTime();
        long tokensPerStep = cfg.tokensPerStep();
        listener.onStart(startStep, cfg.steps());
        try (MetricsLog log = outDir == null ? null : new MetricsLog(metricsFile(), step)) {
            boolean alone = group == null || group.worldSize() == 1;
            agreedStop = false;
            while (step < Math.min(stopAt, cfg.steps()) && !agreedStop && !(alone && stopRequested)) {
                if (group != null) group.checkAlive();
                long ts = System.nanoTime();
                double lr = schedule.at(step);
                List<BatchSource.Batch> micro = new ArrayList<>(plan.microBatchesPerRank());
                for (int i = 0; i < plan.microBatchesPerRank(); i++) micro.add(data.batch(plan.batchIndex(step, i)));
                TrainEngine.Update u = engine.update(micro, lr, alone ? null : ranks);
                double loss = u.loss(), gradNorm = u.gradNorm();
                long number = step + 1;
                if (!u.finite()) {
                    String what = !Double.isFinite(loss) ? "the loss is " + loss : "the gradient norm is " + gradNorm + " (loss " + loss + ")";
                    throw new NonFiniteLossException(number, "training stopped at step " + number + ": " + what + " (learning rate "
                            + String.format("%.3g", lr) + "). Nothing was saved for this step; "
                            + (lastCheckpoint == null ? "there is no earlier checkpoint" : "the last good checkpoint is " + lastCheckpoint)
                            + ". Try a lower --lr, a longer warm-up or gradient clipping.");
                }
                step = number;
                losses.add(loss);
                double now = (System.nanoTime() - t0) / 1e9;
                double tps = (step - startStep) * tokensPerStep / Math.max(now, 1e-9);
                StepMetrics m = new StepMetrics(step, loss, lr, gradNorm, step * tokensPerStep, tps, priorSeconds + now,
                        (System.nanoTime() - ts) / 1e9);
                if (log != null) {
                    ObjectNode r = log.record("train", step);
                    r.put("loss", loss).put("lr", lr).put("grad_norm", gradNorm).put("tokens", m.tokens())
                            .put("tok_per_s", Math.round(tps * 10) / 10.0).put("elapsed_s", Math.round(m.elapsedSeconds() * 1000) / 1000.0);
                    log.append(r);
                }
                listener.onStep(m);
                boolean last = step == cfg.steps();
                if (validator != null && (last || (cfg.evalEvery() > 0 && step % cfg.evalEvery() == 0))) {
                    lastVal = validator.evaluate(engine.scoring());
                    if (log != null) {
                        ObjectNode r = log.record("val", step);
                        lastVal.forEach(r::put);
                        log.append(r);
                    }
                    listener.onValidation(step, lastVal);
                    if (log != null) drawPlot(); // keep the plot current (and drawn even if the run is killed later)
                }
                if (outDir != null && (last || step == stopAt || (alone ? stopRequested : agreedStop) || (cfg.checkpointEvery() > 0 && step % cfg.checkpointEvery() == 0))) {
                    checkpoint(priorSeconds + (System.nanoTime() - t0) / 1e9, loss, lastVal);
                }
            }
        } finally {
            if (outDir != null && java.nio.file.Files.exists(metricsFile())) drawPlot();
        }
        syncToHost(); // the CPU model and optimizer hold the trained state when run returns
        double secs = (System.nanoTime() - t0) / 1e9;
        return new Result(step, losses, lastVal, lastCheckpoint, secs, (step - startStep) * tokensPerStep / Math.max(secs, 1e-9));
    }

    private void drawPlot() {
        try {
            LossPlot.write(metricsFile(), plotFile(), model.config.modelType() + " — " + data.describe());
        } catch (RuntimeException | LinkageError | InternalError e) {
            System.err.println("gsa4j: warning: the loss plot was not (re)drawn: " + e.getMessage());
        }
    }

    /** Brings the engine's weights and moments to the CPU model and optimizer, once per update. */
    private void syncToHost() {
        if (hostStep == step) return;
        engine.toHost();
        hostStep = step;
    }

    /** The ranks' exchange of an update: the loss and the stop votes first, then the gradients. */
    private final TrainEngine.Ranks ranks = new TrainEngine.Ranks() {
        @Override
        public double sumLosses(double local) {
            // a non-finite loss anywhere ends the run on every rank before gradients that may be missing on
            // one of them are exchanged
            double[] sums = {local, stopRequested ? 1 : 0};
            group.allReduceSum(List.of(), sums);
            agreedStop = sums[1] > 0;
            if (agreedStop) stopRequested = true; // every rank stops, and says so, after this update
            return sums[0];
        }

        @Override
        public void sumGradients(List<float[]> gradients) {
            group.allReduceSum(gradients, new double[0]);
        }
    };

    private void checkpoint(double elapsed, double loss, Map<String, Double> val) {
        ObjectNode s = new ObjectMapper().createObjectNode();
        s.put("format", Checkpoints.FORMAT);
        s.put("version", 1);
        s.put("step", step);
        s.put("tokens_seen", step * cfg.tokensPerStep());
        s.put("elapsed_seconds", elapsed);
        s.put("model_type", model.config.modelType());
        s.put("threads", Parallel.threads());
        s.put("device", engine.device());
        s.put("last_loss", loss);
        if (val != null) val.forEach(s.putObject("last_validation")::put);
        ObjectNode d = s.putObject("data");
        d.put("source", data.describe());
        d.put("next_batch_index", step * cfg.gradAccum());
        d.put("note", "batches are a pure function of (seed, index): the data position is next_batch_index, no generator state is needed;"
                + " update s reads indices s*grad_accum .. s*grad_accum+grad_accum-1, split over the ranks in contiguous blocks");
        d.put("world_size", plan.worldSize());
        s.set("train_config", cfg.toJson());
        syncToHost();
        lastCheckpoint = Checkpoints.save(checkpointRoot(), step, model, optimizer, s, tokenizerJson, cfg.keepCheckpoints());
        listener.onCheckpoint(step, lastCheckpoint);
    }

    /** Frees what the engine holds (a GPU's memory); the CPU model and the optimizer stay usable. */
    @Override
    public void close() {
        engine.close();
    }
}
