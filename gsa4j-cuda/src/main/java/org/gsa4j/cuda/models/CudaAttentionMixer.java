package org.gsa4j.cuda.models;

import org.gsa4j.config.AttentionConfig;
import org.gsa4j.cuda.CudaStream;
import org.gsa4j.cuda.ops.CudaAttention;
import org.gsa4j.cuda.ops.CudaRotary;
import org.gsa4j.cuda.ops.DeviceTensor;
import org.gsa4j.cuda.ops.Precision;

/**
 * Causal softmax attention as a token mixer on the GPU, the device twin of org.gsa4j.layers.SoftmaxAttentionLayer
 * (docs/MATH.md#causal-softmax-attention): the Transformer and Llama baselines' layers and the hybrid models'
 * attention layers.
 * <pre>
 *   q, k, v = h W_qᵀ (+ b_q), h W_kᵀ (+ b_k), h W_vᵀ (+ b_v)          (biases: qkv_bias)
 *   q, k = RMSNorm_{1e-5}(q) ⊙ w_q, RMSNorm_{1e-5}(k) ⊙ w_k per head  (qk_norm)
 *   q, k = rotary(q), rotary(k)     (head_dim, rope_theta; positions from the cache's length when decoding)
 *   o = softmax attention(q, k, v, scale head_dim^-½, window)          (GQA: query head h reads kv head h/G)
 *   out = o W_oᵀ
 * </pre>
 * Decoding keeps every token's rotated keys and values in a cache [B, capacity, Hkv, head_dim] that doubles when
 * full (the old one stays in the state's arena until the state is closed: at most as much again).
 */
final class CudaAttentionMixer implements CudaMixer {

    private final Context ctx;
    private final MixerOps ops;
    private final AttentionConfig c;
    private final CudaStream stream;
    private final String[] proj = new String[3], bias = new String[3];
    private final String qNorm, kNorm, oProj;
    private final float scale;
    private final float[] invFreq;

    CudaAttentionMixer(Context ctx, MixerOps ops, AttentionConfig c, String prefix) {
        if (c.headDim() > CudaAttention.maxHeadDim()) {
            throw new org.gsa4j.Gsa4jException("config.json field 'head_dim': " + c.headDim() + " exceeds the GPU attention kernels' "
                    + CudaAttention.maxHeadDim() + "; use --device cpu");
        }
        this.ctx = ctx;
        this.ops = ops;
        this.c = c;
        this.stream = ctx.stream();
        String[] names = {"q_proj", "k_proj", "v_proj"};
        for (int i = 0; i < 3; i++) {
            proj[i] = prefix + names[i] + ".weight";
            bias[i] = c.qkvBias() ? prefix + names[i] + ".bias" : null;
        }
        qNorm = c.qkNorm() ? prefix + "q_norm.weight" : null;
        kNorm = c.qkNorm() ? prefix + "k_norm.weight" : null;
        oProj = prefix + "o_proj.weight";
        scale = (float) (1 / Math.sqrt(c.headDim()));
        invFreq = CudaRotary.inverseFrequencies(c.headDim(), c.ropeTheta());
    }

    /**
     * One layer's activations: the projections (q/k rotated in place, or, with qk_norm, their norms rotated in place),
     * the norms' 1/rms, the output and its row log-sum-exp. The backward's buffers are shared scratch.
     */
    private static final class Layer implements Saved {
        DeviceTensor[] x = new DeviceTensor[3];
        DeviceTensor qn, kn, rstdQ, rstdK, o, lse, invFreq;
        DeviceTensor dO, dq, dk, dv, dqn, dkn;

        @Override
        public void release() {
        }
    }

    @Override
    public Saved activations(int batch, int seqLen, TensorArena a) {
        int n = batch * seqLen, h = c.numHeads(), hkv = c.numKvHeads(), hd = c.headDim();
        Precision io = a.precision();
        Layer l = new Layer();
        l.x[0] = a.io(batch, seqLen, h, hd);
        l.x[1] = a.io(batch, seqLen, hkv, hd);
        l.x[2] = a.io(batch, seqLen, hkv, hd);
        if (c.qkNorm()) {
            l.qn = a.io(batch, seqLen, h, hd);
            l.kn = a.io(batch, seqLen, hkv, hd);
            l.rstdQ = a.f32(n * h);
            l.rstdK = a.f32(n * hkv);
            l.dqn = a.scratch("attn.dqn", io, batch, seqLen, h, hd);
            l.dkn = a.scratch("attn.dkn", io, batch, seqLen, hkv, hd);
        } else {
            l.qn = l.x[0];
            l.kn = l.x[1];
        }
        l.o = a.io(batch, seqLen, h, hd);
        l.lse = a.f32(batch, h, seqLen);
        l.invFreq = MixerOps.constant(a, "rotary.attention." + hd + "." + c.ropeTheta(), invFreq);
        l.dO = a.scratch("attn.dO", io, batch, seqLen, h, hd);
        l.dq = a.scratch("attn.dq", io, batch, seqLen, h, hd);
        l.dk = a.scratch("attn.dk", io, batch, seqLen, hkv, hd);
        l.dv = a.scratch("attn.dv", io, batch, seqLen, hkv, hd);
        return l;
    }

    /** One layer's key/value cache: rotated keys and values of every token fed so far. */
    private static final class KvState implements State {
        final TensorArena arena;
        final int batch;
        DeviceTensor keys, values;
        int length;

        KvState(TensorArena arena, int batch) {
            this.arena = arena;
            this.batch = batch;
        }
    }

    @Override
    public State newState(int batch, TensorArena a) {
        return new KvState(a, batch);
    }

    @Override
    public void forward(Saved saved, DeviceTensor h, DeviceTensor out, State state) {
        Layer l = (Layer) saved;
        KvState st = (KvState) state;
        Products mm = ctx.products();
        int n = h.dim(0), offset = st == null ? 0 : st.length;
        for (int i = 0; i < 3; i++) {
            mm.forward(h, ctx.w(proj[i]), l.x[i], n, false, stream);
            if (bias[i] != null) ops.bias().add(flat(l.x[i]), ctx.params().value(bias[i]), stream);
        }
        if (c.qkNorm()) {
            ctx.norm().forward(l.x[0], null, ctx.w(qNorm), (float) AttentionConfig.QK_NORM_EPS, l.qn, null, l.rstdQ, stream);
            ctx.norm().forward(l.x[1], null, ctx.w(kNorm), (float) AttentionConfig.QK_NORM_EPS, l.kn, null, l.rstdK, stream);
        }
        ops.rotary().forward(l.qn, l.invFreq, offset, stream);
        ops.rotary().forward(l.kn, l.invFreq, offset, stream);
        if (st == null) {
            ops.attention().forward(l.qn, l.kn, l.x[2], scale, c.window(), l.o, l.lse, stream);
        } else {
            int tokens = n / st.batch;
            reserve(st, offset + tokens);
            ops.attention().copyRows(l.kn, tokens, st.keys, offset, stream);
            ops.attention().copyRows(l.x[2], tokens, st.values, offset, stream);
            ops.attention().forwardCached(l.qn, st.keys, st.values, offset, scale, c.window(), l.o, l.lse, stream);
            st.length += tokens;
        }
        mm.forward(l.o, ctx.w(oProj), out, n, false, stream);
    }

    /** Room for {@code tokens} in the cache: a new one of twice the size (at least) with the old contents. */
    private void reserve(KvState st, int tokens) {
        int capacity = st.keys == null ? 0 : st.keys.dim(1);
        if (tokens <= capacity) return;
        int grown = Math.max(tokens, Math.max(64, 2 * capacity));
        DeviceTensor keys = st.arena.io(st.batch, grown, c.numKvHeads(), c.headDim());
        DeviceTensor values = st.arena.io(st.batch, grown, c.numKvHeads(), c.headDim());
        if (st.length > 0) {
            ops.attention().copyRows(st.keys, st.length, keys, 0, stream);
            ops.attention().copyRows(st.values, st.length, values, 0, stream);
        }
        st.keys = keys;
        st.values = values;
    }

    @Override
    public void backward(Saved saved, DeviceTensor h, DeviceTensor dOut, DeviceTensor dh) {
        Layer l = (Layer) saved;
        Products mm = ctx.products();
        int n = h.dim(0);
        mm.weightGradient(dOut, l.o, ctx.g(oProj), n, stream);
        mm.inputGradient(dOut, ctx.w(oProj), l.dO, n, false, stream);
        ops.attention().backward(l.qn, l.kn, l.x[2], l.o, l.lse, l.dO, scale, c.window(), l.dq, l.dk, l.dv, stream);
        ops.rotary().inverse(l.dq, l.invFreq, 0, stream);
        ops.rotary().inverse(l.dk, l.invFreq, 0, stream);
        DeviceTensor[] d = {l.dq, l.dk, l.dv};
        if (c.qkNorm()) {
            ctx.norm().backward(l.x[0], ctx.w(qNorm), l.rstdQ, l.dq, null, l.dqn, ctx.g(qNorm), stream);
            ctx.norm().backward(l.x[1], ctx.w(kNorm), l.rstdK, l.dk, null, l.dkn, ctx.g(kNorm), stream);
            d[0] = l.dqn;
            d[1] = l.dkn;
        }
        for (int i = 0; i < 3; i++) {
            if (bias[i] != null) ops.bias().gradient(flat(d[i]), ctx.g(bias[i]), stream);
            mm.weightGradient(d[i], h, ctx.g(proj[i]), n, stream);
            mm.inputGradient(d[i], ctx.w(proj[i]), dh, n, i > 0, stream);
        }
    }

    /** [B,T,H,D] as rows [B·T, H·D] (a bias covers every head). */
    private static DeviceTensor flat(DeviceTensor t) {
        return t.reshape(t.dim(0) * t.dim(1), t.dim(2) * t.dim(3));
    }
}
