package org.gsa4j.cuda.models;

import org.gsa4j.config.GlaConfig;
import org.gsa4j.config.HeadShape;
import org.gsa4j.cuda.CudaStream;
import org.gsa4j.cuda.ops.DeviceTensor;
import org.gsa4j.cuda.ops.Precision;
import org.gsa4j.ops.gla.GatedLinearAttention.Decay;

/**
 * GLA's token mixer on the GPU, the device twin of org.gsa4j.layers.GlaLayer (docs/MATH.md#gla-layer):
 * <pre>
 *   q, k, v = h W_qᵀ, h W_kᵀ, h W_vᵀ;   q, k, v = silu(conv(·))             (use_short_conv)
 *   gk = (h W_0ᵀ) W_1ᵀ + b_1;   g = max(logsigmoid(gk)/16, clamp_min)      (the low-rank forget gate, float32)
 *   q, k = φ(q), φ(k)   (feature_map: swish or relu, or none);   k, v, g repeated to the query heads (GQA)
 *   o = GLA_key(q, k, v, g, scale head_k_dim^-½)
 *   out = (RMSNorm_{norm_eps}(o) ⊙ w ⊙ swish(h W_gᵀ)) W_oᵀ       (per head; w: elementwise_affine; the gate: use_output_gate)
 * </pre>
 * Every config field the CPU engine supports for GLA runs here except hybrid attention layers, which
 * {@link CudaMixers} gives to the attention mixer.
 */
final class CudaGlaMixer implements CudaMixer {
    /** The low-rank gate's inner width and its normaliser, the CPU GlaLayer's. */
    private static final int GATE_RANK = 16;
    private static final double GATE_NORMALIZER = 16;

    private final Context ctx;
    private final MixerOps ops;
    private final GlaConfig c;
    private final HeadShape hs;
    private final CudaStream stream;
    private final String qProj, kProj, vProj, gate0, gate1, gateBias, oProj;
    private final String[] convs;
    private final GatedOutputNorm output;
    private final float clampMin;

    CudaGlaMixer(Context ctx, MixerOps ops, GlaConfig c, String prefix) {
        this.ctx = ctx;
        this.ops = ops;
        this.c = c;
        this.hs = c.heads();
        this.stream = ctx.stream();
        qProj = prefix + "q_proj.weight";
        kProj = prefix + "k_proj.weight";
        vProj = prefix + "v_proj.weight";
        gate0 = prefix + "gk_proj.0.weight";
        gate1 = prefix + "gk_proj.1.weight";
        gateBias = prefix + "gk_proj.1.bias";
        oProj = prefix + "o_proj.weight";
        convs = c.useShortConv() ? new String[] {prefix + "q_conv1d.weight", prefix + "k_conv1d.weight", prefix + "v_conv1d.weight"} : null;
        output = new GatedOutputNorm(ctx, ops.swiglu(), c.elementwiseAffine() ? prefix + c.gateNormName() : null,
                c.useOutputGate() ? prefix + "g_proj.weight" : null, (float) c.normEps());
        clampMin = c.clampMin() == null ? Float.NEGATIVE_INFINITY : c.clampMin().floatValue();
    }

    /**
     * One layer's activations. Without short convolutions q1/k1/v1 are the projections; without a feature map q2/k2
     * are q1/k1; with one query head per kv head kE/vE/gE are k2/v1/g. The norm's output and the backward's buffers
     * are scratch shared by the layers.
     */
    private static final class Layer implements Saved {
        DeviceTensor qp, kp, vp, q1, k1, v1, q2, k2, gl, gk, g, kE, vE, gE, o, rstdO, gp;
        DeviceTensor on, y, dy, dOn, dgp, dO, dq2, dkE, dvE, dgE, dg, dgk, dgl;
        DeviceTensor[] dq, dk, dv;

        @Override
        public void release() {
        }
    }

    @Override
    public Saved activations(int batch, int seqLen, TensorArena a) {
        int n = batch * seqLen, h = c.numHeads(), hkv = c.numKvHeads(), kd = hs.headKDim(), vd = hs.headVDim();
        boolean grouped = hs.groups() > 1, conv = c.useShortConv(), mapped = c.featureMap() != null;
        Precision io = a.precision(), f32 = Precision.F32;
        Layer l = new Layer();
        l.qp = a.io(batch, seqLen, h, kd);
        l.kp = a.io(batch, seqLen, hkv, kd);
        l.vp = a.io(batch, seqLen, hkv, vd);
        l.q1 = conv ? a.io(batch, seqLen, h, kd) : l.qp;
        l.k1 = conv ? a.io(batch, seqLen, hkv, kd) : l.kp;
        l.v1 = conv ? a.io(batch, seqLen, hkv, vd) : l.vp;
        l.q2 = mapped ? a.io(batch, seqLen, h, kd) : l.q1;
        l.k2 = mapped ? a.io(batch, seqLen, hkv, kd) : l.k1;
        l.gl = a.io(n, GATE_RANK);
        l.gk = a.io(n, hs.kvKeyDim());
        l.g = a.f32(batch, seqLen, hkv, kd);
        l.kE = grouped ? a.io(batch, seqLen, h, kd) : l.k2;
        l.vE = grouped ? a.io(batch, seqLen, h, vd) : l.v1;
        l.gE = grouped ? a.f32(batch, seqLen, h, kd) : l.g;
        l.o = a.io(batch, seqLen, h, vd);
        l.rstdO = a.f32(n * h);
        l.gp = c.useOutputGate() ? a.io(n, hs.valueDim()) : null;
        l.on = a.scratch("gla.on", io, batch, seqLen, h, vd);
        l.y = a.scratch("gla.y", io, n, hs.valueDim());
        l.dy = a.scratch("gla.dy", io, n, hs.valueDim());
        l.dOn = a.scratch("gla.dOn", io, n, hs.valueDim());
        l.dgp = a.scratch("gla.dgp", io, n, hs.valueDim());
        l.dO = a.scratch("gla.dO", io, batch, seqLen, h, vd);
        l.dq = new DeviceTensor[] {a.scratch("gla.dq0", io, batch, seqLen, h, kd), a.scratch("gla.dq1", io, batch, seqLen, h, kd)};
        l.dk = new DeviceTensor[] {a.scratch("gla.dk0", io, batch, seqLen, hkv, kd), a.scratch("gla.dk1", io, batch, seqLen, hkv, kd)};
        l.dv = new DeviceTensor[] {a.scratch("gla.dv0", io, batch, seqLen, hkv, vd), a.scratch("gla.dv1", io, batch, seqLen, hkv, vd)};
        l.dkE = grouped ? a.scratch("gla.dkE", io, batch, seqLen, h, kd) : l.dk[0];
        l.dvE = grouped ? a.scratch("gla.dvE", io, batch, seqLen, h, vd) : l.dv[0];
        l.dg = a.scratch("gla.dg", f32, batch, seqLen, hkv, kd);
        l.dgE = grouped ? a.scratch("gla.dgE", f32, batch, seqLen, h, kd) : l.dg;
        l.dgk = a.scratch("gla.dgk", io, n, hs.kvKeyDim());
        l.dgl = a.scratch("gla.dgl", io, n, GATE_RANK);
        return l;
    }

    /** One layer's recurrent state S [B,H,K,V] (float32, with the next pass's target) and the convolution caches. */
    static final class LinearState implements State {
        DeviceTensor s, sNext;
        DeviceTensor[] convCache;
        /** Tokens fed so far (RetNet's rotary positions). */
        int position;

        void advance(int tokens) {
            DeviceTensor t = s;
            s = sNext;
            sNext = t;
            position += tokens;
        }

        static LinearState of(TensorArena a, int batch, int heads, int kd, int vd) {
            LinearState st = new LinearState();
            st.s = a.zeros(Precision.F32, batch, heads, kd, vd);
            st.sNext = a.zeros(Precision.F32, batch, heads, kd, vd);
            return st;
        }
    }

    @Override
    public State newState(int batch, TensorArena a) {
        LinearState st = LinearState.of(a, batch, c.numHeads(), hs.headKDim(), hs.headVDim());
        if (c.useShortConv()) {
            int w = c.convSize() - 1;
            st.convCache = new DeviceTensor[] {a.zeros(a.precision(), batch, w, hs.keyDim()), a.zeros(a.precision(), batch, w, hs.kvKeyDim()),
                    a.zeros(a.precision(), batch, w, hs.kvValueDim())};
        }
        return st;
    }

    @Override
    public void forward(Saved saved, DeviceTensor h, DeviceTensor out, State state) {
        Layer l = (Layer) saved;
        LinearState st = (LinearState) state;
        Products mm = ctx.products();
        GlueKernels glue = ctx.glue();
        int n = h.dim(0), groups = hs.groups(), hkv = c.numKvHeads();
        mm.forward(h, ctx.w(qProj), l.qp, n, false, stream);
        mm.forward(h, ctx.w(kProj), l.kp, n, false, stream);
        mm.forward(h, ctx.w(vProj), l.vp, n, false, stream);
        if (convs != null) {
            DeviceTensor[] cache = st == null ? new DeviceTensor[3] : st.convCache;
            DeviceTensor[] x = {l.qp, l.kp, l.vp}, y = {l.q1, l.k1, l.v1};
            for (int i = 0; i < 3; i++) ops.conv().forward(MixerOps.flat(x[i]), ctx.w(convs[i]), cache[i], true, MixerOps.flat(y[i]), cache[i], stream);
        }
        MixerOps.featureMap(ctx.glue(), c.featureMap(), l.q1, l.q2, stream);
        MixerOps.featureMap(ctx.glue(), c.featureMap(), l.k1, l.k2, stream);
        mm.forward(h, ctx.w(gate0), l.gl, n, false, stream);
        mm.forward(l.gl, ctx.w(gate1), l.gk, n, false, stream);
        ops.bias().add(l.gk, ctx.params().value(gateBias), stream);
        ops.gates().logSigmoid(l.gk, GATE_NORMALIZER, clampMin, l.g, stream);
        if (groups > 1) {
            glue.repeatHeads(l.k2, l.kE, n, hkv, hs.headKDim(), groups, stream);
            glue.repeatHeads(l.v1, l.vE, n, hkv, hs.headVDim(), groups, stream);
            glue.repeatHeads(l.g, l.gE, n, hkv, hs.headKDim(), groups, stream);
        }
        float scale = (float) (1 / Math.sqrt(hs.headKDim()));
        ops.gla().forward(Decay.KEY, l.q2, l.kE, l.vE, l.gE, null, st == null ? null : st.s, scale, l.o, null,
                st == null ? null : st.sNext, stream);
        if (st != null) st.advance(n / st.s.dim(0));
        DeviceTensor y = output.forward(h, l.o, l.rstdO, l.gp, l.on, l.y);
        mm.forward(y, ctx.w(oProj), out, n, false, stream);
    }

    @Override
    public void backward(Saved saved, DeviceTensor h, DeviceTensor dOut, DeviceTensor dh) {
        Layer l = (Layer) saved;
        Products mm = ctx.products();
        GlueKernels glue = ctx.glue();
        int n = h.dim(0), groups = hs.groups(), hkv = c.numKvHeads();
        DeviceTensor y = output.recompute(l.o, l.rstdO, l.gp, l.on, l.y);
        mm.weightGradient(dOut, y, ctx.g(oProj), n, stream);
        mm.inputGradient(dOut, ctx.w(oProj), l.dy, n, false, stream);
        boolean dhWritten = output.backward(h, l.o, l.rstdO, l.gp, l.on, l.dy, l.dOn, l.dgp, l.dO, dh, false);
        float scale = (float) (1 / Math.sqrt(hs.headKDim()));
        ops.gla().backward(Decay.KEY, l.q2, l.kE, l.vE, l.gE, null, null, scale, null, l.dO, null, l.dq[0], l.dkE, l.dvE, l.dgE, null,
                stream);
        if (groups > 1) {
            glue.repeatHeadsBackward(l.dkE, l.dk[0], n, hkv, hs.headKDim(), groups, stream);
            glue.repeatHeadsBackward(l.dvE, l.dv[0], n, hkv, hs.headVDim(), groups, stream);
            glue.repeatHeadsBackward(l.dgE, l.dg, n, hkv, hs.headKDim(), groups, stream);
        }
        // the forget gate: g → gk → (bias, W_1) → gl → W_0
        ops.gates().logSigmoidBackward(l.gk, GATE_NORMALIZER, clampMin, l.dg, l.dgk, stream);
        ops.bias().gradient(l.dgk, ctx.g(gateBias), stream);
        mm.weightGradient(l.dgk, l.gl, ctx.g(gate1), n, stream);
        mm.inputGradient(l.dgk, ctx.w(gate1), l.dgl, n, false, stream);
        mm.weightGradient(l.dgl, h, ctx.g(gate0), n, stream);
        mm.inputGradient(l.dgl, ctx.w(gate0), dh, n, dhWritten, stream);
        String phi = c.featureMap();
        int dq = MixerOps.featureMapBackward(ctx.glue(), phi, l.q1, l.dq, stream);
        int dk = MixerOps.featureMapBackward(ctx.glue(), phi, l.k1, l.dk, stream), dv = 0;
        if (convs != null) {
            dq = convBackward(l.qp, convs[0], l.dq, dq);
            dk = convBackward(l.kp, convs[1], l.dk, dk);
            dv = convBackward(l.vp, convs[2], l.dv, dv);
        }
        mm.weightGradient(l.dq[dq], h, ctx.g(qProj), n, stream);
        mm.weightGradient(l.dk[dk], h, ctx.g(kProj), n, stream);
        mm.weightGradient(l.dv[dv], h, ctx.g(vProj), n, stream);
        mm.inputGradient(l.dq[dq], ctx.w(qProj), dh, n, true, stream);
        mm.inputGradient(l.dk[dk], ctx.w(kProj), dh, n, true, stream);
        mm.inputGradient(l.dv[dv], ctx.w(vProj), dh, n, true, stream);
    }

    /** silu(conv(x))'s backward from {@code d[from]} into the other buffer (returned); adds the kernel's gradient. */
    private int convBackward(DeviceTensor x, String weight, DeviceTensor[] d, int from) {
        ops.conv().backward(MixerOps.flat(x), ctx.w(weight), MixerOps.flat(d[from]), true, MixerOps.flat(d[1 - from]), ctx.g(weight), stream);
        return 1 - from;
    }
}
