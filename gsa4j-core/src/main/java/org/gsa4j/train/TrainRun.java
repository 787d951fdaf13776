package org.gsa4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.Gsa4jException;
import org.gsa4j.data.DataPrep;
import org.gsa4j.data.TokenFile;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.train.dist.ProcessGroup;
import org.gsa4j.train.dist.RankEnv;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The set-up of a training run, as {@code gsa4j train} does it: refuses a run folder that already
 * has checkpoints (before any data are read), resolves the settings (a checkpoint's, or a run
 * config's, then the given ones; {@code lr} 3e-4 when finetuning with {@code init_from}), loads or
 * prepares the data, creates, loads or resumes the model and checks that it fits the tokenizer. Then
 * {@link #trainer} builds the {@link Trainer}. Nothing is left behind when the set-up fails: an
 * output folder it created is removed again.
 *
 * <pre>{@code
 * try (TrainRun run = TrainRun.prepare(new TrainRun.Request(out, null, 4096, null, TrainingData.defaultCacheDir(),
 *         modelConfigJson, null, null, Map.of(TrainConfig.Field.STEPS, 500L), null, false), System.err::println)) {
 *     Trainer.Result r = run.trainer(null).run();
 * }
 * }</pre>
 */
public final class TrainRun implements AutoCloseable {

    /** Finetuning's peak learning rate when none is given (a pretrained model needs a small one). */
    public static final double FINETUNE_LR = 3e-4;

    /**
     * What to train.
     *
     * @param out        the run folder (checkpoints, metrics.jsonl, loss.png)
     * @param data       prepared data or a directory of .txt files; null: the embedded corpus
     * @param vocabSize  the BPE vocabulary when data must be prepared
     * @param tokenizer  a tokenizer.json to prepare the data with instead of training one (may be null)
     * @param cacheDir   where prepared data go when not beside the texts
     * @param model      config.json fields of a fresh model ({@code vocab_size} may be omitted: the
     *                   tokenizer's); ignored when resuming or starting from {@code init_from}
     * @param trainJson  training settings from a run config file (may be null)
     * @param configFile the file {@code trainJson} came from, for errors (may be null)
     * @param settings   settings given directly (the command line): they override {@code trainJson}
     * @param resume     null: a new run; "": continue from the newest checkpoint in {@code out}; else that checkpoint
     * @param force      start afresh even though {@code out} has checkpoints
     */
    public record Request(Path out, Path data, int vocabSize, Path tokenizer, Path cacheDir, ObjectNode model, JsonNode trainJson,
                          Path configFile, Map<TrainConfig.Field, Object> settings, String resume, boolean force) {
        public Request {
            settings = settings == null ? Map.of() : Map.copyOf(settings);
        }
    }

    private final CausalLM model;
    private final TrainConfig config;
    private final DataPrep.Result data;
    private final Checkpoints.Loaded resumedFrom;
    private final Path out;
    private final TokenFile trainTokens, validationTokens;
    private final byte[] tokenizerJson;

    private TrainRun(CausalLM model, TrainConfig config, DataPrep.Result data, Checkpoints.Loaded resumedFrom, Path out,
                     TokenFile trainTokens, TokenFile validationTokens, byte[] tokenizerJson) {
        this.model = model;
        this.config = config;
        this.data = data;
        this.resumedFrom = resumedFrom;
        this.out = out;
        this.trainTokens = trainTokens;
        this.validationTokens = validationTokens;
        this.tokenizerJson = tokenizerJson;
    }

    /** Sets the run up; {@code log} hears what is prepared. See the class comment for the order of checks. */
    public static TrainRun prepare(Request r, Consumer<String> log) {
        Path checkpoints = r.out().resolve("checkpoints");
        boolean resume = r.resume() != null;
        if (resume && r.settings().containsKey(TrainConfig.Field.INIT_FROM)) {
            throw new Gsa4jException("--init-from starts a new run and --resume continues one: pass only one of them");
        }
        Checkpoints.Loaded ckpt = null;
        if (resume) {
            Path dir = r.resume().isEmpty() ? Checkpoints.latest(checkpoints) : Path.of(r.resume());
            if (dir == null) throw Gsa4jException.at(checkpoints, null, "--resume: there is no checkpoint to resume from");
            ckpt = Checkpoints.load(dir);
        } else if (!r.force() && !Checkpoints.list(checkpoints).isEmpty()) {
            throw Gsa4jException.at(r.out(), null, "already has checkpoints (newest " + Checkpoints.latest(checkpoints).getFileName()
                    + "): use --resume to continue, --force to start over, or another --out");
        }
        TrainConfig config = settings(r, ckpt);
        TrainingData.check(r.data());
        List<Path> created = createOutput(r.out());
        boolean ok = false;
        try {
            TrainRun run = build(r, ckpt, config, log);
            ok = true;
            return run;
        } finally {
            if (!ok) removeEmpty(created);
        }
    }

    /** The checkpoint's settings or the run config's, then the given ones. */
    static TrainConfig settings(Request r, Checkpoints.Loaded ckpt) {
        TrainConfig.Builder b;
        if (ckpt != null) {
            b = TrainConfig.fromJson(ckpt.state().get("train_config"), ckpt.dir().resolve(Checkpoints.TRAINER_STATE)).toBuilder();
            if (r.settings().containsKey(TrainConfig.Field.TRAIN_ONLY)) {
                TrainConfig saved = b.build();
                throw new Gsa4jException("--train-only cannot change on --resume: the checkpoint's run trains "
                        + (saved.trainOnly() == null ? "all parameters" : "'" + saved.trainOnly() + "'"));
            }
        } else {
            b = TrainConfig.readJson(TrainConfig.builder(), r.trainJson(), r.configFile());
            b.build(r.configFile()); // the file's values, checked on their own so that an error names the file
        }
        b.setAll(r.settings());
        boolean finetune = ckpt == null && b.build().initFrom() != null;
        if (finetune && !b.isSet(TrainConfig.Field.LR)) b.lr(FINETUNE_LR);
        return b.build();
    }

    private static TrainRun build(Request r, Checkpoints.Loaded ckpt, TrainConfig config, Consumer<String> log) {
        DataPrep.Result prep = TrainingData.load(r.data(), r.vocabSize(), r.tokenizer(), r.cacheDir(), log);
        int tokVocab = prep.vocabSize();
        byte[] tokJson = read(prep.tokenizerPath());
        CausalLM model;
        if (ckpt != null) {
            model = ckpt.model();
            Path ckTok = ckpt.dir().resolve("tokenizer.json");
            if (Files.isRegularFile(ckTok) && !Arrays.equals(read(ckTok), tokJson)) {
                throw new Gsa4jException("the checkpoint " + ckpt.dir() + " was trained with another tokenizer than " + prep.tokenizerPath()
                        + ": pass the same --data / --vocab-size / --tokenizer as the original run");
            }
            if (ckpt.step() >= config.steps()) throw new Gsa4jException("the checkpoint " + ckpt.dir() + " is already at step " + ckpt.step()
                    + " of " + config.steps() + ": pass a larger --steps to train further");
        } else if (config.initFrom() != null) {
            Path initFrom = Path.of(config.initFrom());
            model = ModelLoader.load(initFrom);
            Path initTok = initFrom.resolve("tokenizer.json");
            if (Files.isRegularFile(initTok) && !Arrays.equals(read(initTok), tokJson)) {
                throw new Gsa4jException("--init-from " + initFrom + " comes with another tokenizer than the data's (" + prep.tokenizerPath()
                        + "): pass --tokenizer " + initTok + " or the --data / --vocab-size it was trained with");
            }
        } else {
            if (r.model() == null) throw new IllegalArgumentException("a new run needs a model config");
            ObjectNode mc = r.model().deepCopy();
            if (!mc.has("vocab_size")) mc.put("vocab_size", tokVocab);
            model = ModelLoader.create(mc, config.seed());
        }
        if (model.config.vocabSize() != tokVocab) {
            throw new Gsa4jException("the tokenizer (" + prep.tokenizerPath() + ") has " + tokVocab + " tokens but the model's vocab_size is "
                    + model.config.vocabSize() + ": they must match (omit vocab_size from the model config to take the tokenizer's)");
        }
        TokenFile train = TokenFile.open(prep.trainPath());
        TokenFile val = null;
        try {
            val = TokenFile.open(prep.validationPath());
            if (train.vocabSize() > model.config.vocabSize()) {
                throw Gsa4jException.at(prep.trainPath(), null, "token ids up to " + train.vocabSize() + " do not fit the model's vocabulary "
                        + model.config.vocabSize());
            }
            return new TrainRun(model, config, prep, ckpt, r.out(), train, val, tokJson);
        } catch (RuntimeException e) {
            train.close();
            if (val != null) val.close();
            throw e;
        }
    }

    /**
     * A trainer for this run (resumed from the checkpoint when there is one). The batches are random
     * windows of the training tokens; validation runs on the first {@code eval_tokens} of the
     * validation split.
     */
    public Trainer trainer(Trainer.Listener listener) {
        Trainer t = new Trainer(model, config, batches(), validator(), out, tokenizerJson, listener);
        if (resumedFrom != null) t.resume(resumedFrom);
        return t;
    }

    /**
     * A trainer for this run as a rank of {@code group} ({@link Trainer#inGroup}): every rank trains, and
     * only rank 0 validates and writes the run folder (checkpoints, metrics, plot).
     */
    public Trainer trainer(Trainer.Listener listener, ProcessGroup group) {
        if (group.isWriter()) return trainer(listener).inGroup(group);
        Trainer t = new Trainer(model, config, batches(), null, null, tokenizerJson, listener);
        if (resumedFrom != null) t.resume(resumedFrom);
        return t.inGroup(group);
    }

    /**
     * This process's group: the run it was started into by a launcher ({@code RANK} etc. in {@code env}),
     * met over TCP, or a group of one. The unique id is a placeholder: NCCL is not used on the CPU.
     */
    public static ProcessGroup joinGroup(Map<String, String> env) {
        RankEnv rank = RankEnv.fromEnvironment(env);
        if (rank == null) return ProcessGroup.single(TrainRun::placeholderId);
        return ProcessGroup.join(rank, TrainRun::placeholderId, ProcessGroup.Options.fromEnvironment(env));
    }

    private static byte[] placeholderId() {
        return new byte[ProcessGroup.UNIQUE_ID_BYTES];
    }

    public BatchSource batches() {
        return LmData.train(trainTokens, config.batchSize(), config.seqLen(), config.seed());
    }

    public Validator validator() {
        return validationTokens.size() >= 2 ? LmData.validator(validationTokens, config.batchSize(), config.seqLen(), config.evalTokens()) : null;
    }

    public CausalLM model() {
        return model;
    }

    public TrainConfig config() {
        return config;
    }

    public DataPrep.Result data() {
        return data;
    }

    /** The checkpoint this run continues, or null. */
    public Checkpoints.Loaded resumedFrom() {
        return resumedFrom;
    }

    /** Validation tokens scored per validation: {@code eval_tokens}, or fewer when the split is shorter. */
    public long validationTokens() {
        return Math.min(config.evalTokens(), validationTokens.size() - 1);
    }

    public long parameters() {
        return model.params().values().stream().mapToLong(t -> t.size()).sum();
    }

    /** Parameters this run trains ({@code train_only}); the others stay frozen. */
    public long trainedParameters() {
        return Trainable.trainedNames(config.trainOnly(), model).stream().mapToLong(n -> model.params().get(n).size()).sum();
    }

    @Override
    public void close() {
        trainTokens.close();
        validationTokens.close();
    }

    private static byte[] read(Path p) {
        try {
            return Files.readAllBytes(p);
        } catch (IOException e) {
            throw Gsa4jException.at(p, null, "cannot read: " + e.getMessage(), e);
        }
    }

    /** Creates {@code out} (proving it writable) and returns the folders that did not exist before, deepest first. */
    private static List<Path> createOutput(Path out) {
        List<Path> missing = new ArrayList<>();
        for (Path p = out.toAbsolutePath().normalize(); p != null && !Files.exists(p); p = p.getParent()) missing.add(p);
        try {
            Trainer.ensureWritable(out);
        } catch (RuntimeException e) {
            removeEmpty(missing);
            throw e;
        }
        return missing;
    }

    private static void removeEmpty(List<Path> dirs) {
        for (Path d : dirs) {
            try {
                Files.deleteIfExists(d);
            } catch (IOException notEmpty) {
                return; // something was written there: keep it and everything above
            }
        }
    }
}
