package org.gsa4j.cuda.models;

import java.util.Objects;
import org.gsa4j.config.ModelConfig;
import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.CudaStream;
import org.gsa4j.cuda.CublasLt;
import org.gsa4j.cuda.DeviceAllocator;
import org.gsa4j.cuda.ops.CudaCrossEntropy;
import org.gsa4j.cuda.ops.CudaEmbedding;
import org.gsa4j.cuda.ops.CudaRmsNorm;
import org.gsa4j.cuda.ops.CudaSwiglu;
import org.gsa4j.cuda.ops.DeviceTensor;
import org.gsa4j.cuda.ops.Precision;
import org.gsa4j.models.CausalLM;
import org.gsa4j.tensor.Tensor;

/**
 * A causal language model on the GPU, the device twin of the CPU engine's {@link CausalLM}: the block skeleton
 * (docs/MATH.md#the-block-skeleton) written out as in llm.c, with one forward and one backward method per part and
 * every activation the backward reads listed in {@link Activations}; the token mixer of each layer is a
 * {@link CudaMixer} ({@link CudaMixers#of}: GSA's is {@link CudaGsaMixer}).
 *
 * <pre>
 *   x₀ = E[ids]
 *   per layer:  x = x + mixer(RMSNorm(x) ⊙ w₁)
 *               x = x + (silu(h₂ W_gateᵀ) ⊙ h₂ W_upᵀ) W_downᵀ,  h₂ = RMSNorm(x) ⊙ w₂
 *   logits = (RMSNorm(x) ⊙ w_f) W_headᵀ,   W_head = E when tie_word_embeddings
 * </pre>
 * The residual adds are fused into the norm that follows them (org.gsa4j.cuda.ops.CudaRmsNorm).
 *
 * <p>Two precisions ({@link #load(CudaDevice, CausalLM, Precision)}, docs/MATH.md#bf16-mode-on-the-gpu):
 * {@link Precision#F32}, the conformance mode: activations, products (cuBLASLt, no TF32) and operators in float32,
 * compared with the CPU engine to 1e-5. {@link Precision#BF16}, the training and inference mode: activations and
 * the residual stream stored in bfloat16, products on the tensor cores (bf16 operands, float32 accumulation), the
 * weights' bf16 copies read by the kernels; float32 master weights, gradients, optimizer moments, norm statistics,
 * gates, recurrent states and the loss. Parameters live in {@link DeviceParams} under the CPU names.
 *
 * <p>Memory: the activations of one batch shape are allocated once and reused by every step of that shape
 * ({@link #memory()} reports them and the allocator's peak). The block recomputes, instead of keeping, the two
 * norms' outputs (from the residual stream and the stored 1/rms) and silu(gate) ⊙ up: element-wise kernels that
 * give the same bits. Per token and layer the 1.3B shape (hidden 2048, intermediate 5632, 4 heads of 512, 64
 * slots) then keeps, in bf16 mode: the residual stream before and after the mixer, gate and up (2·2048 + 2·5632
 * values), GSA's projections, feature-mapped q, k, v, the slot gate and its output (7·2048 + 2·256) — 60 KB — and
 * the operator's float32 saved tensors (softmax input and output, the chunk states of both passes: 19 KB); 80 KB in
 * all, 32 GB at 24 layers × 16K tokens, beside 18 bytes per parameter for weights, copies, gradients and moments
 * (25 GB): about 58 GB of the H200's 141.
 *
 * <p>Every public method may be called from any thread; the work runs on the device's thread and stream.
 */
public final class CudaCausalLM implements AutoCloseable {
    /** Rows of logits the fused cross-entropy computes at once (its workspace is this × vocab floats, at most). */
    private static final int CROSS_ENTROPY_ROWS = 1024;

    private final CudaDevice device;
    private final ModelConfig c;
    private final Precision precision;
    private final BlockNames names;
    private final DeviceParams params;
    private final CublasLt blas;
    private final Products mm;
    private final CudaEmbedding embedding;
    private final CudaRmsNorm norm;
    private final CudaSwiglu swiglu;
    private final CudaCrossEntropy crossEntropy;
    private final CudaMixer[] mixers;
    private final CudaStream stream;
    private Activations acts;

    private CudaCausalLM(CudaDevice device, CausalLM model, Precision precision) {
        this.device = device;
        this.c = model.config;
        this.precision = precision;
        this.names = BlockNames.of(c, model.naming);
        this.stream = device.stream();
        this.embedding = device.call(() -> new CudaEmbedding(device, precision));
        this.norm = device.call(() -> new CudaRmsNorm(device, precision));
        this.swiglu = device.call(() -> new CudaSwiglu(device, precision));
        GlueKernels glue = device.call(() -> GlueKernels.of(device, precision));
        this.blas = new CublasLt(device);
        this.mm = new Products(blas, precision);
        int rows = Math.max(1, Math.min(CROSS_ENTROPY_ROWS, (1 << 26) / c.vocabSize()));
        this.crossEntropy = device.call(() -> new CudaCrossEntropy(device, precision, blas, rows));
        this.params = DeviceParams.upload(device, model, precision);
        try {
            CudaMixer.Context ctx = new CudaMixer.Context(device, precision, params, mm, glue, norm, stream);
            this.mixers = device.call(() -> CudaMixers.of(model, ctx));
        } catch (RuntimeException unsupported) {
            close();
            throw unsupported;
        }
    }

    /**
     * {@code model} (a model of the CPU engine, float32 or float64 weights) on {@code device} in float32 mode
     * ({@link Precision#F32}, the conformance mode): its weights are copied; the CPU model is not changed.
     */
    public static CudaCausalLM load(CudaDevice device, CausalLM model) {
        return load(device, model, Precision.F32);
    }

    /**
     * {@code model} on {@code device} in {@code precision}: {@link Precision#F32} (conformance) or
     * {@link Precision#BF16} (training and inference at the tensor cores' rate). A model whose token mixer does not
     * run on the GPU yet is refused, naming the config field.
     */
    public static CudaCausalLM load(CudaDevice device, CausalLM model, Precision precision) {
        return new CudaCausalLM(device, model, precision);
    }

    /** The weights (and gradients) on the device, under the CPU engine's names. */
    public DeviceParams params() {
        return params;
    }

    public ModelConfig config() {
        return c;
    }

    /** The storage precision of the activations and of the weights the kernels read. */
    public Precision precision() {
        return precision;
    }

    public CudaDevice device() {
        return device;
    }

    /** Logits [B·T, vocab] (row-major B×T, float32) of ids [B·T] from empty states, downloaded. */
    public Tensor logits(int[] ids, int batch, int seqLen) {
        return device.call(() -> {
            Activations a = activations(batch, seqLen);
            try (CudaEmbedding.Tokens tokens = embedding.upload(checkShape(ids, batch, seqLen), c.vocabSize())) {
                forward(a, tokens, null);
                a.releaseSaved();
                try (DeviceTensor logits = DeviceTensor.allocate(device, Precision.F32, a.rows, c.vocabSize())) {
                    mm.forwardIntoFloat32(a.hFinal, w(names.head()), logits, a.rows, stream);
                    return logits.download();
                }
            }
        });
    }

    /**
     * Forward and backward of one batch: the mean cross-entropy of the logits against {@code targets} [B·T]
     * ({@link CausalLM#IGNORE_INDEX} rows excluded) is returned, and its gradients are added to
     * {@link DeviceParams#grad} (allocated on first use; the caller zeroes them between updates).
     */
    public double forwardBackward(int[] ids, int[] targets, int batch, int seqLen) {
        params.allocateGradients();
        return device.call(() -> {
            Activations a = activations(batch, seqLen);
            try (CudaEmbedding.Tokens tokens = embedding.upload(checkShape(ids, batch, seqLen), c.vocabSize());
                 CudaCrossEntropy.Targets labels = crossEntropy.upload(targets, c.vocabSize())) {
                forward(a, tokens, null);
                crossEntropy.run(a.hFinal, w(names.head()), labels, 1f, a.loss, a.dh, g(names.head()), stream);
                backward(a, tokens);
                return lossValue(a);
            }
        });
    }

    /** The mean cross-entropy without gradients (evaluation), from empty states. */
    public double loss(int[] ids, int[] targets, int batch, int seqLen) {
        return loss(ids, targets, batch, seqLen, null);
    }

    /**
     * The mean cross-entropy without gradients, from {@code state} (null: empty states), which it moves on past
     * these tokens: evaluation of a long text in pieces, each continuing the previous one.
     */
    public double loss(int[] ids, int[] targets, int batch, int seqLen, State state) {
        checkBatch(state, batch);
        return device.call(() -> {
            Activations a = activations(batch, seqLen);
            try (CudaEmbedding.Tokens tokens = embedding.upload(checkShape(ids, batch, seqLen), c.vocabSize());
                 CudaCrossEntropy.Targets labels = crossEntropy.upload(targets, c.vocabSize())) {
                forward(a, tokens, state);
                a.releaseSaved();
                crossEntropy.run(a.hFinal, w(names.head()), labels, 1f, a.loss, null, null, stream);
                return lossValue(a);
            }
        });
    }

    private static double lossValue(Activations a) {
        float[] loss = new float[1];
        a.loss.buffer().copyTo(loss);
        return loss[0];
    }

    private static void checkBatch(State state, int batch) {
        if (state != null && state.batch != batch) throw new IllegalArgumentException("a state of batch " + state.batch + " fed batch " + batch);
    }

    private static int[] checkShape(int[] ids, int batch, int seqLen) {
        if (ids.length != batch * seqLen) throw new IllegalArgumentException(ids.length + " ids for batch " + batch + " × " + seqLen);
        return ids;
    }

    // ---- memory ----

    /**
     * Device memory in bytes: the parameters ({@link DeviceParams#bytes}), the activations of the batch shape used
     * last (0 before the first), the caching allocator's live bytes and its high-water mark since the device was
     * opened (everything the kernels allocate comes from it), and what the driver reports used of the total.
     */
    public record Memory(long parameterBytes, long activationBytes, long bytesInUse, long peakBytesInUse, long deviceUsedBytes,
                         long deviceTotalBytes) {
    }

    public Memory memory() {
        return device.call(() -> {
            DeviceAllocator.Stats s = device.allocator().stats();
            return new Memory(params.bytes(), acts == null ? 0 : acts.arena.bytes(), s.bytesInUse(), s.peakBytesInUse(),
                    device.totalMemory() - device.freeMemory(), device.totalMemory());
        });
    }

    // ---- decoding ----

    /** The decoding state of {@code batch} sequences decoded in lock-step: each layer's mixer's. */
    public final class State implements AutoCloseable {
        final int batch;
        final TensorArena arena = new TensorArena(device, precision);
        final CudaMixer.State[] layers;

        private State(int batch) {
            this.batch = batch;
            layers = new CudaMixer.State[mixers.length];
            for (int i = 0; i < layers.length; i++) layers[i] = mixers[i].newState(batch, arena);
        }

        @Override
        public void close() {
            arena.close();
        }
    }

    /** A fresh (zero) decoding state for {@code batch} sequences. */
    public State newState(int batch) {
        if (batch < 1) throw new IllegalArgumentException("batch must be > 0, got " + batch);
        return device.call(() -> new State(batch));
    }

    /**
     * Feeds tokens [B×T] through the model from {@code state} (each mixer picks its path: GSA's the chunk kernels
     * for T &gt; 1, its fused recurrent step for T = 1), moves the state on, and returns each sequence's
     * last-position logits [B, vocab] (float32).
     */
    public Tensor feed(int[] ids, int batch, int seqLen, State state) {
        checkBatch(Objects.requireNonNull(state, "state"), batch);
        return device.call(() -> {
            Activations a = activations(batch, seqLen);
            try (CudaEmbedding.Tokens tokens = embedding.upload(checkShape(ids, batch, seqLen), c.vocabSize());
                 DeviceTensor last = DeviceTensor.allocate(device, Precision.F32, batch, c.vocabSize())) {
                forward(a, tokens, state);
                a.releaseSaved();
                // the last row of each sequence: rows T−1, 2T−1, ... of hFinal, a row stride of T·d
                int d = c.hiddenSize(), vocab = c.vocabSize();
                long lastRows = a.hFinal.buffer().address() + (long) precision.bytes * (seqLen - 1) * d;
                blas.gemmStridedBatched(mm.intoFloat32(), false, true, batch, vocab, d, 1f, lastRows, seqLen * d, 0,
                        w(names.head()).buffer().address(), d, 0, 0f, last.buffer().address(), vocab, 0, 1, stream);
                return last.download();
            }
        });
    }

    // ---- forward ----

    /**
     * The forward to a.hFinal (the final norm's output). Each RMSNorm also adds the block output before it to
     * the residual stream: the MLP's norm the mixer's output, the next layer's mixer norm (or the final norm)
     * the MLP's. With a state, the mixers start from it and move it on.
     */
    private void forward(Activations a, CudaEmbedding.Tokens tokens, State state) {
        int n = a.rows, layers = c.numLayers();
        float eps = (float) c.normEps();
        embedding.forward(tokens, w(names.embeddings()), a.resid[0], stream);
        norm.forward(a.resid[0], null, w(names.layers().get(0).mixerNorm()), eps, a.h, null, a.layers[0].rstd1, stream);
        for (int i = 0; i < layers; i++) {
            Layer l = a.layers[i];
            mixers[i].forward(l.mixer, a.h, a.out, state == null ? null : state.layers[i]);
            norm.forward(a.resid[i], a.out, w(names.layers().get(i).mlpNorm()), eps, a.h, l.x2, l.rstd2, stream);
            mm.forward(a.h, w(names.layers().get(i).gateProj()), l.gate, n, false, stream);
            mm.forward(a.h, w(names.layers().get(i).upProj()), l.up, n, false, stream);
            swiglu.forward(l.gate, l.up, a.act, stream);
            mm.forward(a.act, w(names.layers().get(i).downProj()), a.out, n, false, stream);
            boolean last = i == layers - 1;
            norm.forward(l.x2, a.out, w(last ? names.finalNorm() : names.layers().get(i + 1).mixerNorm()), eps, last ? a.hFinal : a.h,
                    a.resid[i + 1], last ? a.rstdFinal : a.layers[i + 1].rstd1, stream);
        }
    }

    // ---- backward ----

    /**
     * From a.dh (the final norm output's gradient, which the cross-entropy wrote; the head's gradient it
     * added) to every parameter's gradient (added). a.dx carries the residual stream's gradient down. The norms'
     * outputs are computed again from the residual stream (the same bits as the forward's) into a.h.
     */
    private void backward(Activations a, CudaEmbedding.Tokens tokens) {
        int layers = c.numLayers();
        float eps = (float) c.normEps();
        norm.backward(a.resid[layers], w(names.finalNorm()), a.rstdFinal, a.dh, null, a.dx, g(names.finalNorm()), stream);
        for (int i = layers - 1; i >= 0; i--) {
            Layer l = a.layers[i];
            norm.forward(l.x2, null, w(names.layers().get(i).mlpNorm()), eps, a.h, null, l.rstd2, stream);
            mlpBackward(a, l, i);
            norm.backward(l.x2, w(names.layers().get(i).mlpNorm()), l.rstd2, a.dh, a.dx, a.dx, g(names.layers().get(i).mlpNorm()), stream);
            norm.forward(a.resid[i], null, w(names.layers().get(i).mixerNorm()), eps, a.h, null, l.rstd1, stream);
            mixers[i].backward(l.mixer, a.h, a.dx, a.dh);
            norm.backward(a.resid[i], w(names.layers().get(i).mixerNorm()), l.rstd1, a.dh, a.dx, a.dx, g(names.layers().get(i).mixerNorm()), stream);
        }
        embedding.backward(tokens, a.dx, g(names.embeddings()), stream);
    }

    /**
     * The SwiGLU MLP's backward: a.dx (its output's gradient) → a.dh (its normed input's, a.h). silu(gate) ⊙ up is
     * computed again into a.act, which then takes its own gradient (it is dead once down_proj's gradient is taken).
     */
    private void mlpBackward(Activations a, Layer l, int i) {
        int n = a.rows;
        swiglu.forward(l.gate, l.up, a.act, stream);
        mm.weightGradient(a.dx, a.act, g(names.layers().get(i).downProj()), n, stream);
        DeviceTensor dAct = a.act;
        mm.inputGradient(a.dx, w(names.layers().get(i).downProj()), dAct, n, false, stream);
        swiglu.backward(l.gate, l.up, dAct, a.dGate, a.dUp, stream);
        mm.weightGradient(a.dGate, a.h, g(names.layers().get(i).gateProj()), n, stream);
        mm.weightGradient(a.dUp, a.h, g(names.layers().get(i).upProj()), n, stream);
        mm.inputGradient(a.dGate, w(names.layers().get(i).gateProj()), a.dh, n, false, stream);
        mm.inputGradient(a.dUp, w(names.layers().get(i).upProj()), a.dh, n, true, stream);
    }

    private DeviceTensor w(String name) {
        return params.weight(name);
    }

    private DeviceTensor g(String name) {
        return params.grad(name);
    }

    // ---- activations ----

    private Activations activations(int batch, int seqLen) {
        if (batch < 1 || seqLen < 1) throw new IllegalArgumentException("batch " + batch + " × " + seqLen);
        if (acts != null && (acts.batch != batch || acts.seqLen != seqLen)) {
            acts.close();
            acts = null;
        }
        if (acts == null) acts = new Activations(batch, seqLen);
        return acts;
    }

    /** What one layer's forward keeps for its backward: the mixer's, and the MLP's. */
    private static final class Layer {
        /** The mixer's norm's 1/rms (float32), and the mixer's own. */
        DeviceTensor rstd1;
        CudaMixer.Saved mixer;
        /** The residual stream after the mixer; the MLP's norm's 1/rms, its gate and up projections. */
        DeviceTensor x2, rstd2, gate, up;
    }

    /** The activations of one batch shape, and the scratch the layers share. */
    private final class Activations implements AutoCloseable {
        final int batch, seqLen, rows;
        final TensorArena arena = new TensorArena(device, precision);
        final DeviceTensor loss;
        /** The residual stream entering each layer, and after the last one. */
        final DeviceTensor[] resid;
        final Layer[] layers;
        /** A norm's output (the mixer's or the MLP's input), a block's output before its residual add, silu(gate) ⊙ up. */
        final DeviceTensor h, out, act;
        /** The final norm's 1/rms and output (the head's input). */
        final DeviceTensor rstdFinal, hFinal;
        /** The residual stream's gradient, a block input's gradient, and the MLP's scratch. */
        final DeviceTensor dx, dh, dGate, dUp;

        Activations(int batch, int seqLen) {
            this.batch = batch;
            this.seqLen = seqLen;
            this.rows = batch * seqLen;
            int d = c.hiddenSize(), inter = c.intermediateSize(), n = rows;
            loss = arena.f32(1);
            resid = new DeviceTensor[c.numLayers() + 1];
            for (int i = 0; i < resid.length; i++) resid[i] = arena.io(n, d);
            layers = new Layer[c.numLayers()];
            for (int i = 0; i < layers.length; i++) {
                Layer l = new Layer();
                l.rstd1 = arena.f32(n);
                l.mixer = mixers[i].activations(batch, seqLen, arena);
                l.x2 = arena.io(n, d);
                l.rstd2 = arena.f32(n);
                l.gate = arena.io(n, inter);
                l.up = arena.io(n, inter);
                layers[i] = l;
            }
            h = arena.io(n, d);
            out = arena.io(n, d);
            act = arena.io(n, inter);
            rstdFinal = arena.f32(n);
            hFinal = arena.io(n, d);
            dx = arena.io(n, d);
            dh = arena.io(n, d);
            dGate = arena.io(n, inter);
            dUp = arena.io(n, inter);
        }

        /** Frees what a forward kept for a backward that will not come (evaluation, decoding). */
        void releaseSaved() {
            for (Layer l : layers) l.mixer.release();
        }

        @Override
        public void close() {
            releaseSaved();
            arena.close();
        }
    }

    /** Frees the activations, the parameters and the cuBLASLt handle. */
    @Override
    public void close() {
        if (device.isClosed()) {
            return;
        }
        device.run(() -> {
            if (acts != null) {
                acts.close();
                acts = null;
            }
            params.close();
            blas.close();
        });
    }
}
