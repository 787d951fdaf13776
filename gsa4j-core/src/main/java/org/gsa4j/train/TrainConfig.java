package org.gsa4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.Gsa4jException;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * The optimisation settings of a training run (everything except the model's architecture and the
 * data): immutable and validated when built. Every setting is a {@link Field} with one name: its
 * JSON field ({@code warmup_steps}) and, derived from it, its command-line flag ({@code --warmup-steps});
 * {@link #fromJson}, {@link #toJson} and the command line all go through that table. Unknown JSON
 * fields are refused so that a typo cannot silently fall back to a default.
 *
 * <p>Defaults follow the paper's recipe (docs/MATH.md#training-recipe): AdamW with weight decay 0.01, linear warm-up, cosine decay
 * to a floor of one tenth of the peak learning rate, gradient clipping at 1 (docs/TRAINING.md).
 *
 * @param steps                    optimizer updates in all (the schedule's length)
 * @param batchSize                sequences per micro-batch
 * @param seqLen                   tokens per sequence
 * @param gradAccum                micro-batches per optimizer update (gradients averaged)
 * @param lr                       peak learning rate, reached at the end of warm-up
 * @param minLrRatio               the cosine decay's floor as a fraction of the peak
 * @param warmupSteps              linear warm-up from lr/warmup to lr over this many updates
 * @param weightDecay              decoupled weight decay (AdamW)
 * @param beta1                    AdamW's first-moment decay
 * @param beta2                    AdamW's second-moment decay
 * @param eps                      AdamW's denominator guard
 * @param clipGradNorm             global gradient-norm clipping threshold; 0 disables clipping
 * @param decayNormsAndEmbeddings  also decay norm weights, embeddings and biases
 * @param seed                     seed of the model's initialisation and of the data order
 * @param evalEvery                validation every this many updates (0: only at the end)
 * @param evalTokens               validation tokens per evaluation (the first ones of the validation split)
 * @param checkpointEvery          a checkpoint every this many updates (0: only at the end)
 * @param keepCheckpoints          checkpoints kept (the oldest are deleted once a newer one is complete)
 * @param trainOnly                the parameter groups trained (null: all; see {@link Trainable})
 * @param initFrom                 where the initial weights came from; informational, null for a fresh model
 */
public record TrainConfig(long steps, int batchSize, int seqLen, int gradAccum, double lr, double minLrRatio, long warmupSteps,
                          double weightDecay, double beta1, double beta2, double eps, double clipGradNorm,
                          boolean decayNormsAndEmbeddings, long seed, long evalEvery, int evalTokens, long checkpointEvery,
                          int keepCheckpoints, String trainOnly, String initFrom) {

    /** One setting: its JSON name, value type, default (as shown to users) and description. */
    public enum Field {
        STEPS("steps", Long.class, "1000", "Optimizer updates in all (the length of the learning-rate schedule)."),
        BATCH_SIZE("batch_size", Integer.class, "8", "Sequences per micro-batch."),
        SEQ_LEN("seq_len", Integer.class, "128", "Tokens per training sequence."),
        GRAD_ACCUM("grad_accum", Integer.class, "1", "Micro-batches per optimizer update (their gradients are averaged)."),
        LR("lr", Double.class, "3e-3 (3e-4 with --init-from)", "Peak learning rate, reached at the end of the warm-up."),
        MIN_LR_RATIO("min_lr_ratio", Double.class, "0.1", "Floor of the cosine decay, as a fraction of the peak learning rate."),
        WARMUP_STEPS("warmup_steps", Long.class, "min(100, steps/10)", "Updates of linear warm-up from lr/warmup_steps to lr."),
        WEIGHT_DECAY("weight_decay", Double.class, "0.01", "Decoupled (AdamW) weight decay."),
        BETA1("beta1", Double.class, "0.9", "AdamW's first-moment decay."),
        BETA2("beta2", Double.class, "0.95", "AdamW's second-moment decay."),
        EPS("eps", Double.class, "1e-8", "AdamW's denominator guard."),
        CLIP_GRAD_NORM("clip_grad_norm", Double.class, "1.0", "Global gradient-norm clipping threshold; 0 turns clipping off."),
        DECAY_NORMS_AND_EMBEDDINGS("decay_norms_and_embeddings", Boolean.class, "false",
                "Also apply weight decay to norm weights, embeddings and biases."),
        SEED("seed", Long.class, "42", "Seed of the model's initialisation and of the data order."),
        EVAL_EVERY("eval_every", Long.class, "100", "Validation every this many updates; 0: only at the end."),
        EVAL_TOKENS("eval_tokens", Integer.class, "16384", "Validation tokens per evaluation (the first ones of the validation split)."),
        CHECKPOINT_EVERY("checkpoint_every", Long.class, "500", "A checkpoint every this many updates; 0: only at the end."),
        KEEP_CHECKPOINTS("keep_checkpoints", Integer.class, "3", "Checkpoints kept; older ones are deleted once a newer one is complete."),
        TRAIN_ONLY("train_only", String.class, "all", "Parameter groups to train, the rest frozen: all, or a comma list of "
                + "new (what a conversion adds: f_proj, gk_proj, g_norm ...), attention, mlp, norms, embeddings, head."),
        INIT_FROM("init_from", String.class, "none: a fresh model", "Start from the weights of this model directory (any architecture "
                + "the loader reads, e.g. one made by convert, or a checkpoint) instead of a fresh model; recorded in checkpoints.");

        private final String json;
        private final Class<?> type;
        private final String defaultText;
        private final String description;

        Field(String json, Class<?> type, String defaultText, String description) {
            this.json = json;
            this.type = type;
            this.defaultText = defaultText;
            this.description = description;
        }

        /** The JSON field name, e.g. {@code warmup_steps}. */
        public String json() {
            return json;
        }

        /** The command-line flag, the JSON name in kebab case: {@code --warmup-steps}. */
        public String flag() {
            return "--" + json.replace('_', '-');
        }

        /** {@code Long}, {@code Integer}, {@code Double}, {@code Boolean} or {@code String}. */
        public Class<?> type() {
            return type;
        }

        public String defaultText() {
            return defaultText;
        }

        public String description() {
            return description;
        }

        public static Field ofJson(String name) {
            for (Field f : values()) if (f.json.equals(name)) return f;
            return null;
        }
    }

    /** A setting out of range: names the field; the message reads "field 'x': problem". */
    public static final class InvalidSetting extends Gsa4jException {
        private final Field field;
        private final String problem;

        InvalidSetting(Field field, String problem) {
            super("field '" + field.json + "': " + problem);
            this.field = field;
            this.problem = problem;
        }

        public Field field() {
            return field;
        }

        /** What is wrong, without the field's name. */
        public String problem() {
            return problem;
        }
    }

    public TrainConfig {
        check(steps > 0, Field.STEPS, "must be positive, is " + steps);
        check(batchSize > 0, Field.BATCH_SIZE, "must be positive, is " + batchSize);
        check(seqLen > 0, Field.SEQ_LEN, "must be positive, is " + seqLen);
        check(gradAccum > 0, Field.GRAD_ACCUM, "must be positive, is " + gradAccum);
        // One batch of windows (T+1 tokens each) is one Java array, and its activations scale with it.
        check((long) batchSize * (seqLen + 1L) <= Integer.MAX_VALUE - 8, Field.SEQ_LEN,
                "batch_size × (seq_len + 1) = " + (long) batchSize * (seqLen + 1L) + " tokens per batch is more than one array holds");
        check(lr > 0 && Double.isFinite(lr), Field.LR, "must be positive, is " + lr);
        check(minLrRatio >= 0 && minLrRatio <= 1, Field.MIN_LR_RATIO, "must be in [0, 1], is " + minLrRatio);
        check(warmupSteps >= 0, Field.WARMUP_STEPS, "must be >= 0, is " + warmupSteps);
        check(weightDecay >= 0 && Double.isFinite(weightDecay), Field.WEIGHT_DECAY, "must be >= 0, is " + weightDecay);
        check(beta1 >= 0 && beta1 < 1, Field.BETA1, "must be in [0, 1), is " + beta1);
        check(beta2 >= 0 && beta2 < 1, Field.BETA2, "must be in [0, 1), is " + beta2);
        check(eps > 0 && Double.isFinite(eps), Field.EPS, "must be positive, is " + eps);
        check(clipGradNorm >= 0 && Double.isFinite(clipGradNorm), Field.CLIP_GRAD_NORM, "must be >= 0 (0 disables), is " + clipGradNorm);
        check(evalEvery >= 0, Field.EVAL_EVERY, "must be >= 0, is " + evalEvery);
        check(evalTokens >= 0, Field.EVAL_TOKENS, "must be >= 0, is " + evalTokens);
        check(checkpointEvery >= 0, Field.CHECKPOINT_EVERY, "must be >= 0, is " + checkpointEvery);
        check(keepCheckpoints > 0, Field.KEEP_CHECKPOINTS, "must be positive, is " + keepCheckpoints);
        if ("all".equals(trainOnly) || (trainOnly != null && trainOnly.isBlank())) trainOnly = null;
        try {
            Trainable.groups(trainOnly);
        } catch (Gsa4jException e) {
            throw new InvalidSetting(Field.TRAIN_ONLY, e.getMessage());
        }
    }

    private static void check(boolean ok, Field field, String problem) {
        if (!ok) throw new InvalidSetting(field, problem);
    }

    /** The defaults of every field. */
    public static TrainConfig defaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A builder holding this config's values (warm-up as set, not derived again). */
    public Builder toBuilder() {
        Builder b = new Builder();
        for (Field f : Field.values()) b.set(f, get(f));
        return b;
    }

    /** A copy with one setting changed. */
    public TrainConfig with(Field field, Object value) {
        return toBuilder().set(field, value).build();
    }

    /** The value of a setting (boxed). */
    public Object get(Field f) {
        return switch (f) {
            case STEPS -> steps;
            case BATCH_SIZE -> batchSize;
            case SEQ_LEN -> seqLen;
            case GRAD_ACCUM -> gradAccum;
            case LR -> lr;
            case MIN_LR_RATIO -> minLrRatio;
            case WARMUP_STEPS -> warmupSteps;
            case WEIGHT_DECAY -> weightDecay;
            case BETA1 -> beta1;
            case BETA2 -> beta2;
            case EPS -> eps;
            case CLIP_GRAD_NORM -> clipGradNorm;
            case DECAY_NORMS_AND_EMBEDDINGS -> decayNormsAndEmbeddings;
            case SEED -> seed;
            case EVAL_EVERY -> evalEvery;
            case EVAL_TOKENS -> evalTokens;
            case CHECKPOINT_EVERY -> checkpointEvery;
            case KEEP_CHECKPOINTS -> keepCheckpoints;
            case TRAIN_ONLY -> trainOnly;
            case INIT_FROM -> initFrom;
        };
    }

    /**
     * Collects settings; unset ones take their defaults at {@link #build()}. The warm-up, when not set,
     * is {@code min(100, max(1, steps/10))} of the steps built with.
     */
    public static final class Builder {
        private final Map<Field, Object> values = new EnumMap<>(Field.class);

        private Builder() {}

        /** Sets a field; the value must be of the field's type (an Integer for a Long field is widened). */
        public Builder set(Field f, Object value) {
            if (value == null) {
                if (f.type != String.class) throw new IllegalArgumentException(f.json + " cannot be null");
                values.remove(f);
                return this;
            }
            if (f.type == Long.class && value instanceof Integer i) value = i.longValue();
            if (f.type == Double.class && value instanceof Number n && !(value instanceof Double)) value = n.doubleValue();
            if (!f.type.isInstance(value)) {
                throw new IllegalArgumentException(f.json + " takes a " + f.type.getSimpleName() + ", not " + value.getClass().getSimpleName());
            }
            values.put(f, value);
            return this;
        }

        /** Sets every entry of the map. */
        public Builder setAll(Map<Field, ?> settings) {
            settings.forEach(this::set);
            return this;
        }

        public boolean isSet(Field f) {
            return values.containsKey(f);
        }

        public Builder steps(long v) { return set(Field.STEPS, v); }
        public Builder batchSize(int v) { return set(Field.BATCH_SIZE, v); }
        public Builder seqLen(int v) { return set(Field.SEQ_LEN, v); }
        public Builder gradAccum(int v) { return set(Field.GRAD_ACCUM, v); }
        public Builder lr(double v) { return set(Field.LR, v); }
        public Builder minLrRatio(double v) { return set(Field.MIN_LR_RATIO, v); }
        public Builder warmupSteps(long v) { return set(Field.WARMUP_STEPS, v); }
        public Builder weightDecay(double v) { return set(Field.WEIGHT_DECAY, v); }
        public Builder beta1(double v) { return set(Field.BETA1, v); }
        public Builder beta2(double v) { return set(Field.BETA2, v); }
        public Builder eps(double v) { return set(Field.EPS, v); }
        public Builder clipGradNorm(double v) { return set(Field.CLIP_GRAD_NORM, v); }
        public Builder decayNormsAndEmbeddings(boolean v) { return set(Field.DECAY_NORMS_AND_EMBEDDINGS, v); }
        public Builder seed(long v) { return set(Field.SEED, v); }
        public Builder evalEvery(long v) { return set(Field.EVAL_EVERY, v); }
        public Builder evalTokens(int v) { return set(Field.EVAL_TOKENS, v); }
        public Builder checkpointEvery(long v) { return set(Field.CHECKPOINT_EVERY, v); }
        public Builder keepCheckpoints(int v) { return set(Field.KEEP_CHECKPOINTS, v); }
        public Builder trainOnly(String v) { return set(Field.TRAIN_ONLY, v); }
        public Builder initFrom(String v) { return set(Field.INIT_FROM, v); }

        private long l(Field f, long d) { return (Long) values.getOrDefault(f, d); }
        private int i(Field f, int d) { return (Integer) values.getOrDefault(f, d); }
        private double d(Field f, double d) { return (Double) values.getOrDefault(f, d); }

        /** {@link #build()}, naming {@code file} in the error when a value is out of range. */
        public TrainConfig build(Path file) {
            try {
                return build();
            } catch (InvalidSetting e) {
                if (file == null) throw e;
                throw Gsa4jException.at(file, e.field().json(), e.problem(), e);
            }
        }

        /** Validates and builds; a value out of range is an {@link InvalidSetting} naming the field. */
        public TrainConfig build() {
            long steps = l(Field.STEPS, 1000);
            return new TrainConfig(steps, i(Field.BATCH_SIZE, 8), i(Field.SEQ_LEN, 128), i(Field.GRAD_ACCUM, 1), d(Field.LR, 3e-3),
                    d(Field.MIN_LR_RATIO, 0.1), l(Field.WARMUP_STEPS, Math.min(100, Math.max(1, steps / 10))), d(Field.WEIGHT_DECAY, 0.01),
                    d(Field.BETA1, 0.9), d(Field.BETA2, 0.95), d(Field.EPS, 1e-8), d(Field.CLIP_GRAD_NORM, 1.0),
                    (Boolean) values.getOrDefault(Field.DECAY_NORMS_AND_EMBEDDINGS, false), l(Field.SEED, 42), l(Field.EVAL_EVERY, 100),
                    i(Field.EVAL_TOKENS, 16384), l(Field.CHECKPOINT_EVERY, 500), i(Field.KEEP_CHECKPOINTS, 3),
                    (String) values.get(Field.TRAIN_ONLY), (String) values.get(Field.INIT_FROM));
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    /** The settings in snake_case JSON (every field; absent strings as null). */
    public ObjectNode toJson() {
        ObjectNode o = JSON.createObjectNode();
        for (Field f : Field.values()) o.set(f.json, JSON.valueToTree(get(f)));
        return o;
    }

    /**
     * Reads settings from a JSON object (fields not present take their defaults). {@code file} names
     * the source in errors, which name the field: "FILE: field 'batch_size': must be positive, is 0".
     */
    public static TrainConfig fromJson(JsonNode node, Path file) {
        return readJson(builder(), node, file).build(file);
    }

    /** Overlays the fields present in {@code node} on this config. */
    public TrainConfig overlay(JsonNode node, Path file) {
        return readJson(toBuilder(), node, file).build(file);
    }

    /** Sets the fields present in a JSON object on a builder, refusing unknown fields and wrong types by name. */
    public static Builder readJson(Builder b, JsonNode node, Path file) {
        if (node == null || node.isNull()) return b;
        if (!node.isObject()) throw Gsa4jException.at(file, null, "training settings must be a JSON object");
        List<String> known = new ArrayList<>();
        for (Field f : Field.values()) known.add(f.json);
        for (Map.Entry<String, JsonNode> e : node.properties()) {
            Field f = Field.ofJson(e.getKey());
            if (f == null) throw Gsa4jException.at(file, e.getKey(), "unknown training setting (known: " + known + ")");
            JsonNode v = e.getValue();
            Object value;
            if (v.isNull() && f.type == String.class) value = null;
            else if (f.type == Long.class && v.canConvertToExactIntegral() && v.canConvertToLong()) value = v.longValue();
            else if (f.type == Integer.class && v.canConvertToExactIntegral() && v.canConvertToInt()) value = v.intValue();
            else if (f.type == Double.class && v.isNumber()) value = v.doubleValue();
            else if (f.type == Boolean.class && v.isBoolean()) value = v.booleanValue();
            else if (f.type == String.class && v.isTextual()) value = v.textValue();
            else throw Gsa4jException.at(file, f.json, "must be " + typeName(f.type) + ", is " + v);
            b.set(f, value);
        }
        return b;
    }

    private static String typeName(Class<?> t) {
        if (t == Long.class || t == Integer.class) return "an integer";
        if (t == Double.class) return "a number";
        if (t == Boolean.class) return "true or false";
        return "a string";
    }

    public LrSchedule schedule() {
        return new LrSchedule(lr, lr * minLrRatio, warmupSteps, steps);
    }

    public long tokensPerStep() {
        return (long) batchSize * seqLen * gradAccum;
    }
}
