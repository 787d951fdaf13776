package org.gsa4j.train;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.Gsa4jException;

import java.nio.file.Path;

/**
 * The optimisation settings of a training run (everything except the model's architecture and the
 * data). Read from and written to JSON in snake_case ({@code batch_size}, {@code warmup_steps} ...);
 * unknown fields are refused so that a typo cannot silently fall back to a default.
 *
 * <p>Defaults follow the paper's recipe (docs/MATH.md#training-recipe): AdamW with weight decay 0.01, linear
 * warm-up, cosine decay to a floor of one tenth of the peak learning rate, gradient clipping at 1.
 */
public final class TrainConfig {
    /** Optimizer updates to run in all (the schedule's length). */
    public long steps = 1000;
    /** Sequences per micro-batch. */
    public int batchSize = 8;
    /** Tokens per sequence. */
    public int seqLen = 128;
    /** Micro-batches per optimizer update (gradients averaged). */
    public int gradAccum = 1;
    /** Peak learning rate, reached at the end of warm-up. */
    public double lr = 3e-3;
    /** The cosine decay's floor, as a fraction of the peak (0.1: 3e-4 → 3e-5 as in the paper). */
    public double minLrRatio = 0.1;
    /** Linear warm-up from lr/warmup to lr over this many updates. */
    public long warmupSteps = 100;
    /** Decoupled weight decay (AdamW). */
    public double weightDecay = 0.01;
    public double beta1 = 0.9;
    public double beta2 = 0.95;
    public double eps = 1e-8;
    /** Global gradient-norm clipping threshold; 0 disables clipping. */
    public double clipGradNorm = 1.0;
    /** Also decay norm weights, embeddings and biases (off by default, as is usual). */
    public boolean decayNormsAndEmbeddings = false;
    /** Seed of the model's initialisation and of the data order. */
    public long seed = 42;
    /** Validation every this many updates (0: only at the end). */
    public long evalEvery = 100;
    /** Validation tokens per evaluation (the first ones of the validation split). */
    public int evalTokens = 16384;
    /** A checkpoint every this many updates (0: only at the end). */
    public long checkpointEvery = 500;
    /** Checkpoints kept (the oldest are deleted once a newer one is complete). */
    public int keepCheckpoints = 3;
    /**
     * Which parameters are trained: null or "all", or groups such as "new,attention" (see
     * {@link Trainable}); the others are frozen (no gradient, no optimizer state, no decay).
     */
    public String trainOnly = null;
    /** Where the initial weights came from ({@code --init-from}); informational, null for a fresh model. */
    public String initFrom = null;

    private static final ObjectMapper MAPPER = new ObjectMapper()
            .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(SerializationFeature.INDENT_OUTPUT);

    public TrainConfig copy() {
        return MAPPER.convertValue(MAPPER.valueToTree(this), TrainConfig.class);
    }

    /** Overlays the fields present in {@code node} on this config (file = where it came from, for errors). */
    public TrainConfig overlay(JsonNode node, Path file) {
        if (node == null || node.isNull()) return this;
        if (!node.isObject()) throw Gsa4jException.at(file, null, "training settings must be a JSON object");
        try {
            ObjectNode merged = (ObjectNode) MAPPER.valueToTree(this);
            merged.setAll((ObjectNode) node);
            TrainConfig c = MAPPER.treeToValue(merged, TrainConfig.class);
            c.validate(file);
            return c;
        } catch (com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException e) {
            throw Gsa4jException.at(file, e.getPropertyName(), "unknown training setting (known: " + e.getKnownPropertyIds() + ")");
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw Gsa4jException.at(file, null, "invalid training settings: " + e.getOriginalMessage());
        }
    }

    public JsonNode toJson() {
        return MAPPER.valueToTree(this);
    }

    public static TrainConfig fromJson(JsonNode node, Path file) {
        return new TrainConfig().overlay(node, file);
    }

    /** Checks ranges; {@code file} names the source in the message (may be null for flags). */
    public TrainConfig validate(Path file) {
        String where = file == null ? "training settings" : file.toString();
        check(steps > 0, where, "steps", "must be positive, is " + steps);
        check(batchSize > 0, where, "batch_size", "must be positive, is " + batchSize);
        check(seqLen > 0, where, "seq_len", "must be positive, is " + seqLen);
        check(gradAccum > 0, where, "grad_accum", "must be positive, is " + gradAccum);
        // One batch of windows (T+1 tokens each) is one Java array, and its activations scale with it.
        check((long) batchSize * (seqLen + 1L) <= Integer.MAX_VALUE - 8, where, "seq_len",
                "batch_size × (seq_len + 1) = " + (long) batchSize * (seqLen + 1L) + " tokens per batch is more than one array holds");
        check(lr > 0 && Double.isFinite(lr), where, "lr", "must be positive, is " + lr);
        check(minLrRatio >= 0 && minLrRatio <= 1, where, "min_lr_ratio", "must be in [0, 1], is " + minLrRatio);
        check(warmupSteps >= 0, where, "warmup_steps", "must be >= 0, is " + warmupSteps);
        check(weightDecay >= 0, where, "weight_decay", "must be >= 0, is " + weightDecay);
        check(beta1 >= 0 && beta1 < 1, where, "beta1", "must be in [0, 1), is " + beta1);
        check(beta2 >= 0 && beta2 < 1, where, "beta2", "must be in [0, 1), is " + beta2);
        check(eps > 0, where, "eps", "must be positive, is " + eps);
        check(clipGradNorm >= 0, where, "clip_grad_norm", "must be >= 0 (0 disables), is " + clipGradNorm);
        check(evalEvery >= 0, where, "eval_every", "must be >= 0, is " + evalEvery);
        check(evalTokens >= 0, where, "eval_tokens", "must be >= 0, is " + evalTokens);
        check(checkpointEvery >= 0, where, "checkpoint_every", "must be >= 0, is " + checkpointEvery);
        check(keepCheckpoints > 0, where, "keep_checkpoints", "must be positive, is " + keepCheckpoints);
        Trainable.groups(trainOnly);
        return this;
    }

    private static void check(boolean ok, String where, String field, String problem) {
        if (!ok) throw new Gsa4jException(where + ": field '" + field + "': " + problem);
    }

    public LrSchedule schedule() {
        return new LrSchedule(lr, lr * minLrRatio, warmupSteps, steps);
    }

    public long tokensPerStep() {
        return (long) batchSize * seqLen * gradAccum;
    }
}
