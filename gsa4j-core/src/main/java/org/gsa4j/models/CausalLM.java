package org.gsa4j.models;

import org.gsa4j.Gsa4jException;
import org.gsa4j.autograd.Functions;
import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.config.ModelConfig;
import org.gsa4j.layers.GatedMlp;
import org.gsa4j.layers.ModelLevelParams;
import org.gsa4j.layers.ParamScope;
import org.gsa4j.layers.ParamSpec;
import org.gsa4j.layers.StepRows;
import org.gsa4j.layers.TokenMixer;
import org.gsa4j.ops.CrossEntropy;
import org.gsa4j.ops.RmsNorm;
import org.gsa4j.tensor.MatVec;
import org.gsa4j.tensor.Parallel;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.tensor.VectorOps;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A causal language model on the shared block skeleton (docs/MATH.md#the-block-skeleton):
 * {@code x = E[ids]; x += mixer(norm(x)); x += mlp(norm(x)) per layer; logits = lm_head(norm(x))}.
 * Parameters live in one name → tensor map under their Hugging Face names, so loading and saving
 * are a copy; the architecture is in the token mixer.
 */
public final class CausalLM {
    public static final int IGNORE_INDEX = -100;

    /** The typed config this model was built from ({@code toJson()} is its config.json). */
    public final ModelConfig config;
    public final Naming naming;
    private final ModelRegistry.Architecture architecture;
    private final TokenMixer[] mixers;
    private final GatedMlp mlp;
    private final Map<String, Tensor> params;

    /** The model an architecture describes, with these weights (by state-dict name). */
    public CausalLM(ModelRegistry.Architecture architecture, Map<String, Tensor> params) {
        this.architecture = architecture;
        this.config = architecture.config();
        this.naming = architecture.naming();
        this.mixers = architecture.mixers();
        this.mlp = new GatedMlp(config.hiddenSize(), config.intermediateSize());
        this.params = params;
    }

    /** Every parameter an architecture has, in a stable order, with shape and initialisation. */
    public static List<ParamSpec> paramSpecs(ModelRegistry.Architecture architecture) {
        ModelConfig c = architecture.config();
        Naming n = architecture.naming();
        TokenMixer[] mixers = architecture.mixers();
        int d = c.hiddenSize();
        List<ParamSpec> specs = new ArrayList<>();
        specs.add(ParamSpec.matrix(n.embeddings(), c.vocabSize(), d));
        GatedMlp mlp = new GatedMlp(d, c.intermediateSize());
        for (int i = 0; i < c.numLayers(); i++) {
            String l = n.layer(i);
            specs.add(ParamSpec.ones(l + n.mixerNorm(), d));
            for (ParamSpec s : mixers[i].params()) specs.add(new ParamSpec(l + n.mixer() + s.name(), s.shape(), s.init()));
            specs.add(ParamSpec.ones(l + n.mlpNorm(), d));
            for (ParamSpec s : mlp.params()) specs.add(new ParamSpec(l + n.mlp() + s.name(), s.shape(), s.init()));
        }
        // model-level parameters some mixers read (HGRN2's model.lower_bounds), once each
        java.util.Set<String> modelLevel = new java.util.HashSet<>();
        for (TokenMixer m : mixers) {
            if (m instanceof ModelLevelParams mp) for (ParamSpec s : mp.modelParams()) if (modelLevel.add(s.name())) specs.add(s);
        }
        specs.add(ParamSpec.ones(n.finalNorm(), d));
        if (!c.tieWordEmbeddings()) specs.add(ParamSpec.matrix(n.lmHead(), c.vocabSize(), d));
        return specs;
    }

    public List<ParamSpec> paramSpecs() {
        return paramSpecs(architecture);
    }

    /** The config, naming and token mixers this model was built from. */
    public ModelRegistry.Architecture architecture() {
        return architecture;
    }

    /** Fresh weights drawn as the reference library does (docs/MATH.md#initialisation): N(0, std) matrices, unit norms. */
    public static Map<String, Tensor> initParams(List<ParamSpec> specs, double std, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (ParamSpec s : specs) {
            Tensor t = switch (s.init()) {
                case NORMAL -> Tensor.randn(rng.split(), std, s.shape());
                case ONES -> { Tensor o = Tensor.zeros(s.shape()); o.fill(1); yield o; }
                case ZEROS -> Tensor.zeros(s.shape());
            };
            out.put(s.name(), t);
        }
        return out;
    }

    /** The weights by name (live: the optimizer updates them in place). */
    public Map<String, Tensor> params() {
        return params;
    }

    /** Leaves on a tape for every parameter (trainable, unless the tape is for inference). */
    public Map<String, Var> bind(Tape tape) {
        if (tape.enabled()) {
            for (Map.Entry<String, Tensor> e : params.entrySet()) {
                if (e.getValue().isBf16()) {
                    throw new Gsa4jException("weight " + e.getKey() + " is held as BF16, which is for inference only;"
                            + " load the model with F32 weights to train it");
                }
            }
        }
        Map<String, Var> vars = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : params.entrySet()) vars.put(e.getKey(), tape.leaf(e.getValue(), true));
        return vars;
    }

    /** As {@link #bind(Tape)}, but only the parameters {@code trainable} accepts get gradients; the rest are constants. */
    public Map<String, Var> bind(Tape tape, java.util.function.Predicate<String> trainable) {
        Map<String, Var> vars = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : params.entrySet()) vars.put(e.getKey(), tape.leaf(e.getValue(), trainable.test(e.getKey())));
        return vars;
    }

    /** Logits [B·T, vocab] for ids [B·T] (row-major B×T); state null in training. */
    public Var logits(Tape tape, Map<String, Var> p, int[] ids, int batch, int seqLen, DecodeState state) {
        if (ids.length != batch * seqLen) throw new IllegalArgumentException(ids.length + " ids for batch " + batch + " × " + seqLen);
        int d = config.hiddenSize();
        ParamScope root = new ParamScope(p, "");
        Var embed = root.get(naming.embeddings());
        Var x = Functions.reshape(tape, Functions.embedding(tape, embed, ids), batch, seqLen, d);
        for (int i = 0; i < config.numLayers(); i++) {
            ParamScope layer = root.child(naming.layer(i));
            Var h = RmsNorm.apply(tape, x, layer.get(naming.mixerNorm()), config.normEps());
            Var mixed = mixers[i].forward(tape, layer.child(naming.mixer()), h, state == null ? null : state.layers[i]);
            x = Functions.add(tape, x, mixed);
            h = RmsNorm.apply(tape, x, layer.get(naming.mlpNorm()), config.normEps());
            x = Functions.add(tape, x, mlp.forward(tape, layer.child(naming.mlp()), h));
        }
        x = RmsNorm.apply(tape, x, root.get(naming.finalNorm()), config.normEps());
        Var head = config.tieWordEmbeddings() ? embed : root.get(naming.lmHead());
        if (state != null) state.advance(seqLen);
        return Functions.linear(tape, Functions.reshape(tape, x, batch * seqLen, d), head);
    }

    /**
     * The reference library's loss: labels shifted inside the model (position t predicts ids[t+1]),
     * mean cross-entropy over positions whose label is not {@link #IGNORE_INDEX}.
     */
    public Var loss(Tape tape, Map<String, Var> p, int[] ids, int batch, int seqLen) {
        return CrossEntropy.apply(tape, logits(tape, p, ids, batch, seqLen, null), shiftedLabels(ids, batch, seqLen), IGNORE_INDEX);
    }

    public static int[] shiftedLabels(int[] ids, int batch, int seqLen) {
        int[] labels = new int[ids.length];
        for (int b = 0; b < batch; b++)
            for (int t = 0; t < seqLen; t++)
                labels[b * seqLen + t] = t + 1 < seqLen ? ids[b * seqLen + t + 1] : IGNORE_INDEX;
        return labels;
    }

    /** A fresh decoding state for {@code batch} sequences decoded in lock-step (1 for one conversation). */
    public DecodeState newState(int batch) {
        if (batch <= 0) throw new IllegalArgumentException("batch must be > 0, got " + batch);
        TokenMixer.MixerState[] states = new TokenMixer.MixerState[mixers.length];
        for (int i = 0; i < mixers.length; i++) states[i] = mixers[i].newState(batch);
        return new DecodeState(this, states, batch);
    }

    /**
     * What a snapshot of this model's states records and checks: the architecture, the config's
     * hash, the weights' precision and a fingerprint of their values (computed now: the weights
     * are live, and training changes them).
     */
    public ModelIdentity identity() {
        return ModelIdentity.of(config.modelType(), config.toJson(), params);
    }

    /** Bytes of weights one decoded token reads: every matrix once, but one row of an untied input embedding. */
    public long weightBytesReadPerToken() {
        long n = 0;
        for (Map.Entry<String, Tensor> e : params.entrySet()) {
            Tensor t = e.getValue();
            long width = t.isBf16() ? 2 : t.isF64() ? 8 : 4;
            boolean embeddingRow = e.getKey().equals(naming.embeddings()) && !config.tieWordEmbeddings();
            n += width * (embeddingRow ? t.dim(-1) : t.size());
        }
        return n;
    }

    /**
     * The state a snapshot of this model holds ({@link DecodeState#snapshot}); it continues bit for
     * bit as the saved state would have. A snapshot of another model or weights, a corrupted or a
     * truncated one is refused with one line ({@link Gsa4jException}).
     */
    public DecodeState restore(byte[] snapshot) {
        return StateSnapshot.fromBytes(this, snapshot).state();
    }

    /**
     * Feeds tokens [B×T] through the model from the state (chunk form for T &gt; 1, the recurrent
     * step for T = 1) and returns the last position's logits per batch row, [B, vocab].
     */
    public Tensor feed(int[] ids, int batch, int seqLen, DecodeState state) {
        checkOwn(state);
        if (seqLen == 1 && ids.length == batch && workspace(state).complete) return step(ids, state).copy();
        Tape tape = Tape.inference();
        Map<String, Var> p = bind(tape);
        Tensor all = logits(tape, p, ids, batch, seqLen, state).value;
        int v = config.vocabSize();
        Tensor last = Tensor.zeros(batch, v);
        for (int b = 0; b < batch; b++) System.arraycopy(all.f, ((b + 1) * seqLen - 1) * v, last.f, b * v, v);
        return last;
    }

    /**
     * Like {@link #feed} but returns the logits of every position, [B·T, vocab] (row-major B×T):
     * for scoring a stream chunk by chunk while the state carries the context.
     */
    public Tensor feedAll(int[] ids, int batch, int seqLen, DecodeState state) {
        checkOwn(state);
        Tape tape = Tape.inference();
        return logits(tape, bind(tape), ids, batch, seqLen, state).value;
    }

    /**
     * One token per sequence (ids [B], B = the state's batch) through the recurrent step on the
     * state's own buffers: allocation-free after the first call. Returns the logits [B, vocab],
     * a buffer the next step overwrites.
     */
    public Tensor step(int[] ids, DecodeState state) {
        checkOwn(state);
        if (ids.length != state.batch) throw new IllegalArgumentException(ids.length + " ids for a state of batch " + state.batch);
        Workspace w = workspace(state);
        if (!w.complete) throw new UnsupportedOperationException(config.modelType() + " has no single-token step; use feed");
        w.lockStep(state);
        w.run(ids);
        state.advance(1);
        return w.logits;
    }

    /** Whether {@link #step} serves this state (every layer has a single-token step). */
    public boolean canStep(DecodeState state) {
        return workspace(state).complete;
    }

    private void checkOwn(DecodeState state) {
        if (state.model != this) throw new IllegalArgumentException("the decode state belongs to another model instance");
    }

    private Workspace workspace(DecodeState state) {
        if (state.workspace instanceof Workspace ws && ws.model() == this) return ws;
        Workspace ws = new Workspace(state.batch);
        state.workspace = ws;
        return ws;
    }

    /** Buffers for passes of up to {@code rows} tokens of several independent states ({@link BatchDecoder}). */
    Workspace newWorkspace(int rows) {
        Workspace w = new Workspace(rows);
        if (!w.complete) {
            throw new UnsupportedOperationException(config.modelType() + " with " + weightKind()
                    + " weights has no single-token step for every layer; batched decoding needs one");
        }
        return w;
    }

    private String weightKind() {
        return params.values().stream().anyMatch(Tensor::isF64) ? "float64" : "these";
    }

    /**
     * Weights resolved by name once and the activations of one pass of up to {@code capacity}
     * rows: each row a token of some sequence ({@link StepRows}), the logits only for each
     * sequence's last row. Every row is computed by the same kernels in the same order whatever
     * the other rows, so a sequence's logits do not depend on what it was batched with, nor on
     * how its tokens were split into passes.
     */
    final class Workspace {
        final int capacity, d, inter, vocab;
        final TokenMixer.Stepper[] steppers;
        final Tensor embed, head, finalNorm;
        final Tensor[] mixerNorm, mlpNorm, down;
        final Tensor[][] gateUp;
        final float[] x, h, mixed, gate, up, last;
        /** The logits of a pass, one row per sequence: [capacity, vocab]. */
        final Tensor logits;
        final StepRows rows;
        /** Per sequence of the pass: its model state (for the layers' states) and last row. */
        private final DecodeState[] seqStates;
        private int rowCount;
        /** Whether every layer has a stepper (otherwise T = 1 goes through the tape). */
        final boolean complete;

        Workspace(int capacity) {
            this.capacity = capacity;
            d = config.hiddenSize();
            inter = config.intermediateSize();
            vocab = config.vocabSize();
            int n = config.numLayers();
            steppers = new TokenMixer.Stepper[n];
            mixerNorm = new Tensor[n];
            mlpNorm = new Tensor[n];
            down = new Tensor[n];
            gateUp = new Tensor[n][];
            // the steps are float32 code (BF16-held matrices are widened in registers)
            boolean all = params.values().stream().noneMatch(Tensor::isF64);
            for (int i = 0; i < n && all; i++) {
                String mx = naming.layer(i) + naming.mixer();
                java.util.Set<String> modelLevel = new java.util.HashSet<>();
                if (mixers[i] instanceof ModelLevelParams mp) for (ParamSpec s : mp.modelParams()) modelLevel.add(s.name());
                steppers[i] = mixers[i].stepper(name -> param(modelLevel.contains(name) ? name : mx + name), capacity);
                all = steppers[i] != null;
            }
            for (int i = 0; i < n; i++) {
                String l = naming.layer(i), mlp = l + naming.mlp();
                mixerNorm[i] = param(l + naming.mixerNorm());
                mlpNorm[i] = param(l + naming.mlpNorm());
                gateUp[i] = new Tensor[] {param(mlp + "gate_proj.weight"), param(mlp + "up_proj.weight")};
                down[i] = param(mlp + "down_proj.weight");
            }
            embed = param(naming.embeddings());
            head = config.tieWordEmbeddings() ? embed : param(naming.lmHead());
            finalNorm = param(naming.finalNorm());
            x = new float[capacity * d];
            h = new float[capacity * d];
            mixed = new float[capacity * d];
            gate = new float[capacity * inter];
            up = new float[capacity * inter];
            last = new float[capacity * d];
            logits = Tensor.zeros(capacity, vocab);
            rows = new StepRows(capacity);
            seqStates = new DecodeState[capacity];
            complete = all;
            mlpChunks = MatVec.chunkCount(inter);
        }

        /** The MLP's first half as one parallel job: chunk c computes gate and up rows and their swiglu. */
        private final int mlpChunks;
        private int layer;
        private final java.util.function.IntConsumer mlpJob = this::mlpChunk;

        private void mlpChunk(int c) {
            int a = MatVec.chunkStart(inter, c), b = MatVec.chunkStart(inter, c + 1);
            MatVec.rows(h, 0, rowCount, d, gateUp[layer][0], a, b, gate, 0);
            MatVec.rows(h, 0, rowCount, d, gateUp[layer][1], a, b, up, 0);
            for (int r = 0; r < rowCount; r++) VectorOps.swigluInPlace(gate, up, r * inter + a, b - a);
        }

        CausalLM model() {
            return CausalLM.this;
        }

        private Tensor param(String name) {
            Tensor t = params.get(name);
            if (t == null) throw new IllegalStateException("missing parameter " + name);
            return t;
        }

        /** A pass of one token for each of a lock-step state's batch rows. */
        void lockStep(DecodeState state) {
            rows.lockStep(state.layers[0], state.batch);
            for (int s = 0; s < state.batch; s++) seqStates[s] = state;
        }

        /** Starts an empty pass. */
        void clear() {
            java.util.Arrays.fill(seqStates, 0, rows.sequences(), null);
            rows.clear();
        }

        /** Adds a sequence of {@code tokens} rows of a single-sequence state to the pass. */
        void add(DecodeState state, int tokens) {
            seqStates[rows.sequences()] = state;
            rows.add(state.layers[0], 0, tokens);
        }

        DecodeState seqState(int s) {
            return seqStates[s];
        }

        /** Runs the pass over {@code ids} (one per row, in row order). */
        void run(int[] ids) {
            int n = rows.rows(), seqs = rows.sequences();
            rowCount = n;
            double eps = config.normEps();
            for (int r = 0; r < n; r++) {
                int id = ids[r];
                if (id < 0 || id >= vocab) throw new IllegalArgumentException("token id " + id + " outside the vocabulary [0, " + vocab + ")");
                if (embed.isBf16()) for (int j = 0; j < d; j++) x[r * d + j] = Float.intBitsToFloat(embed.h[id * d + j] << 16);
                else System.arraycopy(embed.f, id * d, x, r * d, d);
            }
            for (int i = 0; i < steppers.length; i++) {
                for (int s = 0; s < seqs; s++) rows.setState(s, seqStates[s].layers[i]);
                RmsNorm.step(x, mixerNorm[i].f, eps, n, d, h);
                steppers[i].step(h, rows, mixed);
                VectorOps.add(x, 0, mixed, 0, x, 0, n * d);
                RmsNorm.step(x, mlpNorm[i].f, eps, n, d, h);
                layer = i;
                Parallel.forDecode(mlpChunks, mlpJob);   // gate and up rows, then swiglu on them, per chunk
                MatVec.multiply(gate, 0, n, down[i], mixed, 0);
                VectorOps.add(x, 0, mixed, 0, x, 0, n * d);
            }
            // the head only for each sequence's last row
            for (int s = 0; s < seqs; s++) System.arraycopy(x, (rows.first(s) + rows.count(s) - 1) * d, last, s * d, d);
            RmsNorm.step(last, finalNorm.f, eps, seqs, d, h);
            MatVec.multiply(h, 0, seqs, head, logits.f, 0);
        }
    }
}
