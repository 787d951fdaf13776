package org.gsa4j.cuda.models;

import org.gsa4j.config.GsaConfig;
import org.gsa4j.config.HeadShape;
import org.gsa4j.cuda.CublasLt;
import org.gsa4j.cuda.CudaDevice;
import org.gsa4j.cuda.CudaStream;
import org.gsa4j.cuda.DeviceArena;
import org.gsa4j.cuda.ops.CudaCrossEntropy;
import org.gsa4j.cuda.ops.CudaEmbedding;
import org.gsa4j.cuda.ops.CudaGates;
import org.gsa4j.cuda.ops.CudaGsa;
import org.gsa4j.cuda.ops.CudaRmsNorm;
import org.gsa4j.cuda.ops.CudaShortConv;
import org.gsa4j.cuda.ops.CudaSwiglu;
import org.gsa4j.cuda.ops.DeviceTensor;
import org.gsa4j.cuda.ops.Precision;
import org.gsa4j.models.CausalLM;
import org.gsa4j.tensor.Tensor;

/**
 * A GSA language model on the GPU, the device twin of the CPU engine's {@link CausalLM} with
 * org.gsa4j.layers.GsaLayer mixers (docs/MATH.md#the-block-skeleton, docs/MATH.md#gsa-layer), written
 * out as in llm.c: one forward and one backward method per layer kind, and every activation the backward
 * reads listed in {@link Layer}.
 *
 * <pre>
 *   x₀ = E[ids]
 *   per layer:  h = RMSNorm(x) ⊙ w₁
 *               q, k, v, f = h W_qᵀ, h W_kᵀ, h W_vᵀ, h W_fᵀ
 *               q, k, v = silu(conv(q)), silu(conv(k)), silu(conv(v))     (use_short_conv)
 *               q, k = φ(q), φ(k)   φ: swish, relu, or relu(· W_φᵀ) per head (t2r);   v = silu(v)
 *               g, s = slot gate(f, τ);  k, v, g, s repeated to the query heads (GQA)
 *               o = GSA(q, k, v, s, g, scale 1)
 *               x = x + (RMSNorm_{1e-5}(silu(o)) ⊙ w_g) W_oᵀ                  (w_g: elementwise_affine)
 *               x = x + (silu(h₂ W_gateᵀ) ⊙ h₂ W_upᵀ) W_downᵀ,  h₂ = RMSNorm(x) ⊙ w₂
 *   logits = (RMSNorm(x) ⊙ w_f) W_headᵀ,   W_head = E when tie_word_embeddings
 * </pre>
 * The residual adds are fused into the norm that follows them (org.gsa4j.cuda.ops.CudaRmsNorm).
 *
 * <p>float32 mode: activations, products (cuBLASLt, no TF32) and the operator in float32, for conformance
 * with the CPU engine (bf16 mode is not built yet). Parameters live in {@link DeviceParams} under the CPU
 * names. Every public method may be called from any thread; the work runs on the device's thread and stream.
 */
public final class CudaGsaModel implements AutoCloseable {
    /** GSA's output norm has its eps hard-wired (docs/MATH.md#gsa-layer), as the CPU GsaLayer. */
    private static final float OUTPUT_NORM_EPS = 1e-5f;
    /** Rows of logits the fused cross-entropy computes at once (its workspace is this × vocab floats, at most). */
    private static final int CROSS_ENTROPY_ROWS = 1024;

    private final CudaDevice device;
    private final GsaConfig c;
    private final HeadShape hs;
    private final GsaParamNames names;
    private final DeviceParams params;
    private final CublasLt blas;
    private final Products mm;
    private final CudaEmbedding embedding;
    private final CudaRmsNorm norm;
    private final CudaSwiglu swiglu;
    private final CudaShortConv conv;
    private final CudaGates gates;
    private final CudaGsa gsa;
    private final GlueKernels glue;
    private final CudaCrossEntropy crossEntropy;
    private final CudaStream stream;
    private Activations acts;

    private CudaGsaModel(CudaDevice device, CausalLM model) {
        this.c = GsaParamNames.supported(model.config);
        this.device = device;
        this.hs = c.heads();
        this.names = GsaParamNames.of(c);
        this.stream = device.stream();
        this.blas = new CublasLt(device);
        this.mm = new Products(blas, CublasLt.Precision.FLOAT32);
        Precision f32 = Precision.F32;
        this.embedding = device.call(() -> new CudaEmbedding(device, f32));
        this.norm = device.call(() -> new CudaRmsNorm(device, f32));
        this.swiglu = device.call(() -> new CudaSwiglu(device, f32));
        this.conv = device.call(() -> new CudaShortConv(device, f32));
        this.gates = device.call(() -> new CudaGates(device, f32));
        this.gsa = device.call(() -> new CudaGsa(device, f32));
        this.glue = device.call(() -> GlueKernels.of(device, f32));
        int rows = Math.max(1, Math.min(CROSS_ENTROPY_ROWS, (1 << 26) / c.vocabSize()));
        this.crossEntropy = device.call(() -> new CudaCrossEntropy(device, f32, blas, rows));
        this.params = DeviceParams.upload(device, model);
    }

    /**
     * {@code model} (a GSA model of the CPU engine, float32 or float64 weights) on {@code device}: its weights
     * are copied; the CPU model is not changed. A config the GPU does not run yet is refused, naming the field.
     */
    public static CudaGsaModel load(CudaDevice device, CausalLM model) {
        return new CudaGsaModel(device, model);
    }

    /** The weights (and gradients) on the device, under the CPU engine's names. */
    public DeviceParams params() {
        return params;
    }

    public GsaConfig config() {
        return c;
    }

    public CudaDevice device() {
        return device;
    }

    /** Logits [B·T, vocab] (row-major B×T) of ids [B·T] from empty states, downloaded. */
    public Tensor logits(int[] ids, int batch, int seqLen) {
        return device.call(() -> {
            Activations a = activations(batch, seqLen);
            try (CudaEmbedding.Tokens tokens = embedding.upload(checkShape(ids, batch, seqLen), c.vocabSize())) {
                forward(a, tokens, null);
                a.releaseSaved();
                try (DeviceTensor logits = DeviceTensor.allocate(device, Precision.F32, a.rows, c.vocabSize())) {
                    mm.forward(a.hFinal, w(names.head()), logits, a.rows, false, stream);
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

    /** The mean cross-entropy without gradients (evaluation). */
    public double loss(int[] ids, int[] targets, int batch, int seqLen) {
        return device.call(() -> {
            Activations a = activations(batch, seqLen);
            try (CudaEmbedding.Tokens tokens = embedding.upload(checkShape(ids, batch, seqLen), c.vocabSize());
                 CudaCrossEntropy.Targets labels = crossEntropy.upload(targets, c.vocabSize())) {
                forward(a, tokens, null);
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

    private static int[] checkShape(int[] ids, int batch, int seqLen) {
        if (ids.length != batch * seqLen) throw new IllegalArgumentException(ids.length + " ids for batch " + batch + " × " + seqLen);
        return ids;
    }

    // ---- decoding ----

    /**
     * The recurrent state of {@code batch} sequences decoded in lock-step: per layer the key and value slot
     * memories hk [B,H,K,M], hv [B,H,M,V] (float32) and, with short convolutions, the last W−1 inputs of each.
     */
    public final class State implements AutoCloseable {
        final int batch;
        final DeviceArena arena = device.arena();
        final DeviceTensor[] hk, hv, hkNext, hvNext;
        /** [layer][q, k, v] convolution caches [B, W−1, C], or null without short convolutions. */
        final DeviceTensor[][] convCache;

        private State(int batch) {
            this.batch = batch;
            int layers = c.numLayers(), h = c.numHeads(), m = c.numSlots();
            hk = new DeviceTensor[layers];
            hv = new DeviceTensor[layers];
            hkNext = new DeviceTensor[layers];
            hvNext = new DeviceTensor[layers];
            convCache = c.useShortConv() ? new DeviceTensor[layers][] : null;
            for (int i = 0; i < layers; i++) {
                hk[i] = zeros(batch, h, hs.headKDim(), m);
                hv[i] = zeros(batch, h, m, hs.headVDim());
                hkNext[i] = zeros(batch, h, hs.headKDim(), m);
                hvNext[i] = zeros(batch, h, m, hs.headVDim());
                if (convCache != null) {
                    int w = c.convSize() - 1;
                    convCache[i] = new DeviceTensor[] {zeros(batch, w, hs.keyDim()), zeros(batch, w, hs.kvKeyDim()),
                            zeros(batch, w, hs.kvValueDim())};
                }
            }
        }

        private DeviceTensor zeros(int... shape) {
            long n = 1;
            for (int s : shape) n *= s;
            DeviceTensor t = new DeviceTensor(arena.allocate(Math.max(1, n) * Float.BYTES), Precision.F32, shape);
            t.buffer().zero();
            return t;
        }

        /** After a pass: the final states become the next pass's initial states. */
        void advance(int layer) {
            DeviceTensor k = hk[layer], v = hv[layer];
            hk[layer] = hkNext[layer];
            hv[layer] = hvNext[layer];
            hkNext[layer] = k;
            hvNext[layer] = v;
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
     * Feeds tokens [B×T] through the model from {@code state} (the chunk kernels for any T, 1 included), moves
     * the state on, and returns each sequence's last-position logits [B, vocab].
     */
    public Tensor feed(int[] ids, int batch, int seqLen, State state) {
        if (state.batch != batch) throw new IllegalArgumentException("a state of batch " + state.batch + " fed batch " + batch);
        return device.call(() -> {
            Activations a = activations(batch, seqLen);
            try (CudaEmbedding.Tokens tokens = embedding.upload(checkShape(ids, batch, seqLen), c.vocabSize());
                 DeviceTensor last = DeviceTensor.allocate(device, Precision.F32, batch, c.vocabSize())) {
                forward(a, tokens, state);
                a.releaseSaved();
                // the last row of each sequence: rows T−1, 2T−1, ... of hFinal, a row stride of T·d
                int d = c.hiddenSize(), vocab = c.vocabSize();
                long lastRows = a.hFinal.buffer().address() + 4L * (seqLen - 1) * d;
                blas.gemmStridedBatched(CublasLt.Precision.FLOAT32, false, true, batch, vocab, d, 1f, lastRows, seqLen * d, 0,
                        w(names.head()).buffer().address(), d, 0, 0f, last.buffer().address(), vocab, 0, 1, stream);
                return last.download();
            }
        });
    }

    // ---- forward ----

    /**
     * The forward to a.hFinal (the final norm's output). Each RMSNorm also adds the block output before it to
     * the residual stream: the MLP's norm the mixer's output, the next layer's mixer norm (or the final norm)
     * the MLP's. With a state, the operator and the convolutions start from it and move it on.
     */
    private void forward(Activations a, CudaEmbedding.Tokens tokens, State state) {
        int n = a.rows, layers = c.numLayers();
        float eps = (float) c.normEps();
        embedding.forward(tokens, w(names.embeddings()), a.resid[0], stream);
        norm.forward(a.resid[0], null, w(names.layers().get(0).mixerNorm()), eps, a.layers[0].h1, null, a.layers[0].rstd1, stream);
        for (int i = 0; i < layers; i++) {
            Layer l = a.layers[i];
            GsaParamNames.Layer p = names.layers().get(i);
            mixerForward(a, l, p, i, state);
            norm.forward(a.resid[i], a.out, w(p.mlpNorm()), eps, l.h2, l.x2, l.rstd2, stream);
            mm.forward(l.h2, w(p.gateProj()), l.gate, n, false, stream);
            mm.forward(l.h2, w(p.upProj()), l.up, n, false, stream);
            swiglu.forward(l.gate, l.up, l.act, stream);
            mm.forward(l.act, w(p.downProj()), a.out, n, false, stream);
            boolean last = i == layers - 1;
            norm.forward(l.x2, a.out, w(last ? names.finalNorm() : names.layers().get(i + 1).mixerNorm()), eps,
                    last ? a.hFinal : a.layers[i + 1].h1, a.resid[i + 1], last ? a.rstdFinal : a.layers[i + 1].rstd1, stream);
        }
    }

    /** The GSA mixer of layer {@code i}: l.h1 → a.out. */
    private void mixerForward(Activations a, Layer l, GsaParamNames.Layer p, int i, State state) {
        int n = a.rows, groups = hs.groups();
        mm.forward(l.h1, w(p.qProj()), l.qp, n, false, stream);
        mm.forward(l.h1, w(p.kProj()), l.kp, n, false, stream);
        mm.forward(l.h1, w(p.vProj()), l.vp, n, false, stream);
        mm.forward(l.h1, w(p.fProj()), l.fp, n, false, stream);
        if (c.useShortConv()) {
            DeviceTensor[] cache = state == null ? new DeviceTensor[3] : state.convCache[i];
            conv.forward(l.qp, w(p.qConv()), cache[0], true, l.q1, cache[0], stream);
            conv.forward(l.kp, w(p.kConv()), cache[1], true, l.k1, cache[1], stream);
            conv.forward(l.vp, w(p.vConv()), cache[2], true, l.v1, cache[2], stream);
        }
        featureMap(l.q1, l.qt, l.q2, n * c.numHeads(), p);
        featureMap(l.k1, l.kt, l.k2, n * c.numKvHeads(), p);
        glue.silu(l.v1, l.v2, stream);
        gates.slotGate(l.fp, c.gateLogitNormalizer(), l.g, l.s, stream);
        if (groups > 1) {
            int hkv = c.numKvHeads();
            glue.repeatHeads(l.k2, l.kE, n, hkv, hs.headKDim(), groups, stream);
            glue.repeatHeads(l.v2, l.vE, n, hkv, hs.headVDim(), groups, stream);
            glue.repeatHeads(l.g, l.gE, n, hkv, c.numSlots(), groups, stream);
            glue.repeatHeads(l.s, l.sE, n, hkv, c.numSlots(), groups, stream);
        }
        if (state == null) {
            l.saved = gsa.forward(l.q2, l.kE, l.vE, l.sE, l.gE, 1f, null, null, l.o, null, null, stream);
        } else {
            l.saved = gsa.forward(l.q2, l.kE, l.vE, l.sE, l.gE, 1f, state.hk[i], state.hv[i], l.o, state.hkNext[i],
                    state.hvNext[i], stream);
            state.advance(i);
        }
        glue.silu(l.o, l.os, stream);
        norm.forward(l.os, null, optional(p.gNorm()), OUTPUT_NORM_EPS, l.on, null, l.rstdO, stream);
        mm.forward(l.on, w(p.oProj()), a.out, n, false, stream);
    }

    /** φ over rows of one head's width: swish, relu, or t2r's relu(x W_φᵀ) (its pre-activation kept in xt). */
    private void featureMap(DeviceTensor x, DeviceTensor xt, DeviceTensor y, int rows, GsaParamNames.Layer p) {
        switch (c.featureMap()) {
            case "swish" -> glue.silu(x, y, stream);
            case "relu" -> glue.relu(x, y, stream);
            case "t2r" -> {
                mm.forward(x, w(p.featureMap()), xt, rows, false, stream);
                glue.relu(xt, y, stream);
            }
            default -> throw new IllegalStateException(c.featureMap());
        }
    }

    // ---- backward ----

    /**
     * From a.dh (the final norm output's gradient, which the cross-entropy wrote; the head's gradient it
     * added) to every parameter's gradient (added). a.dx carries the residual stream's gradient down.
     */
    private void backward(Activations a, CudaEmbedding.Tokens tokens) {
        int layers = c.numLayers();
        norm.backward(a.resid[layers], w(names.finalNorm()), a.rstdFinal, a.dh, null, a.dx, g(names.finalNorm()), stream);
        for (int i = layers - 1; i >= 0; i--) {
            Layer l = a.layers[i];
            GsaParamNames.Layer p = names.layers().get(i);
            mlpBackward(a, l, p);
            norm.backward(l.x2, w(p.mlpNorm()), l.rstd2, a.dh, a.dx, a.dx, g(p.mlpNorm()), stream);
            mixerBackward(a, l, p);
            norm.backward(a.resid[i], w(p.mixerNorm()), l.rstd1, a.dh, a.dx, a.dx, g(p.mixerNorm()), stream);
        }
        embedding.backward(tokens, a.dx, g(names.embeddings()), stream);
    }

    /** The SwiGLU MLP's backward: a.dx (its output's gradient) → a.dh (its normed input's). */
    private void mlpBackward(Activations a, Layer l, GsaParamNames.Layer p) {
        int n = a.rows;
        mm.weightGradient(a.dx, l.act, g(p.downProj()), n, stream);
        mm.inputGradient(a.dx, w(p.downProj()), a.dAct, n, false, stream);
        swiglu.backward(l.gate, l.up, a.dAct, a.dGate, a.dUp, stream);
        mm.weightGradient(a.dGate, l.h2, g(p.gateProj()), n, stream);
        mm.weightGradient(a.dUp, l.h2, g(p.upProj()), n, stream);
        mm.inputGradient(a.dGate, w(p.gateProj()), a.dh, n, false, stream);
        mm.inputGradient(a.dUp, w(p.upProj()), a.dh, n, true, stream);
    }

    /** The GSA mixer's backward: a.dx (its output's gradient) → a.dh (its normed input's). */
    private void mixerBackward(Activations a, Layer l, GsaParamNames.Layer p) {
        int n = a.rows, groups = hs.groups(), hkv = c.numKvHeads();
        mm.weightGradient(a.dx, l.on, g(p.oProj()), n, stream);
        mm.inputGradient(a.dx, w(p.oProj()), a.dOn, n, false, stream);
        norm.backward(l.os, optional(p.gNorm()), l.rstdO, a.dOn, null, a.dOs, p.gNorm() == null ? null : g(p.gNorm()), stream);
        glue.siluBackward(l.o, a.dOs, a.dO, stream);
        gsa.backward(l.q2, l.kE, l.vE, l.sE, l.gE, 1f, l.saved, a.dO, null, null,
                a.dq[0], a.dkE, a.dvE, a.dsE, a.dgE, null, null, stream);
        l.saved.close();
        l.saved = null;
        if (groups > 1) {
            glue.repeatHeadsBackward(a.dkE, a.dk[0], n, hkv, hs.headKDim(), groups, stream);
            glue.repeatHeadsBackward(a.dvE, a.dv[0], n, hkv, hs.headVDim(), groups, stream);
            glue.repeatHeadsBackward(a.dgE, a.dg, n, hkv, c.numSlots(), groups, stream);
            glue.repeatHeadsBackward(a.dsE, a.ds, n, hkv, c.numSlots(), groups, stream);
        }
        gates.slotGateBackward(l.fp, c.gateLogitNormalizer(), a.dg, a.ds, a.df, stream);
        glue.siluBackward(l.v1, a.dv[0], a.dv[1], stream);
        int dq = featureMapBackward(l.q1, l.qt, a.dq, n * c.numHeads(), p);
        int dk = featureMapBackward(l.k1, l.kt, a.dk, n * hkv, p);
        int dv = 1;
        if (c.useShortConv()) {
            dq = convBackward(l.qp, w(p.qConv()), g(p.qConv()), a.dq, dq);
            dk = convBackward(l.kp, w(p.kConv()), g(p.kConv()), a.dk, dk);
            dv = convBackward(l.vp, w(p.vConv()), g(p.vConv()), a.dv, dv);
        }
        mm.weightGradient(a.dq[dq], l.h1, g(p.qProj()), n, stream);
        mm.weightGradient(a.dk[dk], l.h1, g(p.kProj()), n, stream);
        mm.weightGradient(a.dv[dv], l.h1, g(p.vProj()), n, stream);
        mm.weightGradient(a.df, l.h1, g(p.fProj()), n, stream);
        mm.inputGradient(a.dq[dq], w(p.qProj()), a.dh, n, false, stream);
        mm.inputGradient(a.dk[dk], w(p.kProj()), a.dh, n, true, stream);
        mm.inputGradient(a.dv[dv], w(p.vProj()), a.dh, n, true, stream);
        mm.inputGradient(a.df, w(p.fProj()), a.dh, n, true, stream);
    }

    /**
     * φ's backward from φ(x)'s gradient in {@code d[0]}; returns which of the two buffers then holds x's. t2r
     * adds its matrix's gradient.
     */
    private int featureMapBackward(DeviceTensor x, DeviceTensor xt, DeviceTensor[] d, int rows, GsaParamNames.Layer p) {
        switch (c.featureMap()) {
            case "swish" -> glue.siluBackward(x, d[0], d[1], stream);
            case "relu" -> glue.reluBackward(x, d[0], d[1], stream);
            case "t2r" -> {
                glue.reluBackward(xt, d[0], d[1], stream);
                mm.weightGradient(d[1], x, g(p.featureMap()), rows, stream);
                mm.inputGradient(d[1], w(p.featureMap()), d[0], rows, false, stream);
                return 0;
            }
            default -> throw new IllegalStateException(c.featureMap());
        }
        return 1;
    }

    /** silu(conv(x))'s backward from {@code d[from]} into the other buffer (returned); adds the kernel's gradient. */
    private int convBackward(DeviceTensor x, DeviceTensor weight, DeviceTensor weightGrad, DeviceTensor[] d, int from) {
        conv.backward(x, weight, d[from], true, d[1 - from], weightGrad, stream);
        return 1 - from;
    }

    private DeviceTensor w(String name) {
        return params.value(name);
    }

    private DeviceTensor g(String name) {
        return params.grad(name);
    }

    private DeviceTensor optional(String name) {
        return name == null ? null : params.value(name);
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

    /**
     * What one layer's forward keeps for its backward. Without short convolutions q1/k1/v1 are the projections
     * themselves; without t2r there is no qt/kt; with one query head per kv head the expanded kE/vE/gE/sE are
     * k2/v2/g/s.
     */
    private static final class Layer {
        /** The mixer's norm: 1/rms per row and its output (the projections' input). */
        DeviceTensor rstd1, h1;
        /** The projections [B,T,C], and silu(conv(·)) of q, k, v. */
        DeviceTensor qp, kp, vp, fp, q1, k1, v1;
        /** t2r's pre-activation; q and k after the feature map, v after silu. */
        DeviceTensor qt, kt, q2, k2, v2;
        /** The slot gate's log-decay (float32) and write weights, and the four expanded to the query heads. */
        DeviceTensor g, s, kE, vE, gE, sE;
        /** The operator's output [B,T,H,V] and what its backward needs. */
        DeviceTensor o;
        CudaGsa.Saved saved;
        /** silu(o), the output norm's 1/rms and output (o_proj's input). */
        DeviceTensor os, rstdO, on;
        /** The residual stream after the mixer; the MLP's norm (1/rms, output), gate, up and silu(gate) ⊙ up. */
        DeviceTensor x2, rstd2, h2, gate, up, act;
    }

    /** The activations of one batch shape, and the backward's scratch (shared by the layers). */
    private final class Activations implements AutoCloseable {
        final int batch, seqLen, rows;
        final DeviceArena arena = device.arena();
        final DeviceTensor loss;
        /** The residual stream entering each layer, and after the last one. */
        final DeviceTensor[] resid;
        final Layer[] layers;
        /** A block's output before its residual add (the mixer's, then the MLP's). */
        final DeviceTensor out;
        /** The final norm's 1/rms and output (the head's input). */
        final DeviceTensor rstdFinal, hFinal;
        /** The residual stream's gradient, a block input's gradient, and the rest of the backward's scratch. */
        final DeviceTensor dx, dh, dAct, dGate, dUp, dOn, dOs, dO, dkE, dvE, dsE, dgE, ds, dg, df;
        /** Two buffers each for q's, k's and v's gradients along their chains. */
        final DeviceTensor[] dq, dk, dv;

        Activations(int batch, int seqLen) {
            this.batch = batch;
            this.seqLen = seqLen;
            this.rows = batch * seqLen;
            int d = c.hiddenSize(), h = c.numHeads(), hkv = c.numKvHeads(), kd = hs.headKDim(), vd = hs.headVDim(),
                    m = c.numSlots(), inter = c.intermediateSize(), n = rows;
            boolean grouped = hs.groups() > 1;
            loss = f32(1);
            resid = new DeviceTensor[c.numLayers() + 1];
            for (int i = 0; i < resid.length; i++) resid[i] = f32(n, d);
            layers = new Layer[c.numLayers()];
            for (int i = 0; i < layers.length; i++) {
                Layer l = new Layer();
                l.rstd1 = f32(n);
                l.h1 = f32(n, d);
                l.qp = f32(batch, seqLen, hs.keyDim());
                l.kp = f32(batch, seqLen, hs.kvKeyDim());
                l.vp = f32(batch, seqLen, hs.kvValueDim());
                l.fp = f32(batch, seqLen, hkv, m);
                boolean conv = c.useShortConv();
                l.q1 = conv ? f32(batch, seqLen, hs.keyDim()) : l.qp;
                l.k1 = conv ? f32(batch, seqLen, hs.kvKeyDim()) : l.kp;
                l.v1 = conv ? f32(batch, seqLen, hs.kvValueDim()) : l.vp;
                if (c.featureMap().equals("t2r")) {
                    l.qt = f32(batch, seqLen, h, kd);
                    l.kt = f32(batch, seqLen, hkv, kd);
                }
                l.q2 = f32(batch, seqLen, h, kd);
                l.k2 = f32(batch, seqLen, hkv, kd);
                l.v2 = f32(batch, seqLen, hkv, vd);
                l.g = f32(batch, seqLen, hkv, m);
                l.s = f32(batch, seqLen, hkv, m);
                l.kE = grouped ? f32(batch, seqLen, h, kd) : l.k2;
                l.vE = grouped ? f32(batch, seqLen, h, vd) : l.v2;
                l.gE = grouped ? f32(batch, seqLen, h, m) : l.g;
                l.sE = grouped ? f32(batch, seqLen, h, m) : l.s;
                l.o = f32(batch, seqLen, h, vd);
                l.os = f32(n, hs.valueDim());
                l.rstdO = f32(n);
                l.on = f32(n, hs.valueDim());
                l.x2 = f32(n, d);
                l.rstd2 = f32(n);
                l.h2 = f32(n, d);
                l.gate = f32(n, inter);
                l.up = f32(n, inter);
                l.act = f32(n, inter);
                layers[i] = l;
            }
            out = f32(n, d);
            rstdFinal = f32(n);
            hFinal = f32(n, d);
            dx = f32(n, d);
            dh = f32(n, d);
            dAct = f32(n, inter);
            dGate = f32(n, inter);
            dUp = f32(n, inter);
            dOn = f32(n, hs.valueDim());
            dOs = f32(n, hs.valueDim());
            dO = f32(batch, seqLen, h, vd);
            dq = new DeviceTensor[] {f32(batch, seqLen, h, kd), f32(batch, seqLen, h, kd)};
            dk = new DeviceTensor[] {f32(batch, seqLen, hkv, kd), f32(batch, seqLen, hkv, kd)};
            dv = new DeviceTensor[] {f32(batch, seqLen, hkv, vd), f32(batch, seqLen, hkv, vd)};
            dkE = grouped ? f32(batch, seqLen, h, kd) : dk[0];
            dvE = grouped ? f32(batch, seqLen, h, vd) : dv[0];
            dg = f32(batch, seqLen, hkv, m);
            ds = f32(batch, seqLen, hkv, m);
            dgE = grouped ? f32(batch, seqLen, h, m) : dg;
            dsE = grouped ? f32(batch, seqLen, h, m) : ds;
            df = f32(batch, seqLen, hkv, m);
        }

        private DeviceTensor f32(int... shape) {
            long count = 1;
            for (int s : shape) count *= s;
            return new DeviceTensor(arena.allocate(count * Float.BYTES), Precision.F32, shape);
        }

        /** Frees what a forward kept for a backward that will not come (evaluation, decoding). */
        void releaseSaved() {
            for (Layer l : layers) {
                if (l.saved != null) {
                    l.saved.close();
                    l.saved = null;
                }
            }
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
