package org.gsa4j.cuda.models;

import org.gsa4j.config.HeadShape;
import org.gsa4j.config.RetNetConfig;
import org.gsa4j.cuda.CudaStream;
import org.gsa4j.cuda.ops.DeviceTensor;
import org.gsa4j.cuda.ops.Precision;
import org.gsa4j.layers.RetNetLayer;
import org.gsa4j.ops.gla.GatedLinearAttention.Decay;

/**
 * RetNet's multi-scale retention on the GPU, the device twin of org.gsa4j.layers.RetNetLayer
 * (docs/MATH.md#retnet-layer):
 * <pre>
 *   q, k, v = h W_qᵀ, h W_kᵀ, h W_vᵀ;   q, k = rotary(φ(q)), rotary(φ(k))   (φ: feature_map or none; base 10000)
 *   k, v repeated to the query heads (GQA)
 *   o = GLA_scalar(q, k, v, log γ_h = log(1 − 2^(−5−h)), scale head_k_dim^-½)
 *   out = (RMSNorm_{norm_eps}(o) ⊙ w ⊙ swish(h W_gᵀ)) W_oᵀ       (as GLA's)
 * </pre>
 * The rotation is done in place on φ(q), φ(k) (φ's backward reads their inputs) and undone on their gradients. A
 * decoding state carries the position the next token's rotation starts from.
 */
final class CudaRetNetMixer implements CudaMixer {
    private static final double ROPE_BASE = 10000.0;

    private final Context ctx;
    private final MixerOps ops;
    private final RetNetConfig c;
    private final HeadShape hs;
    private final CudaStream stream;
    private final String qProj, kProj, vProj, oProj;
    private final GatedOutputNorm output;
    private final float[] logGamma, invFreq;

    CudaRetNetMixer(Context ctx, MixerOps ops, RetNetConfig c, String prefix) {
        this.ctx = ctx;
        this.ops = ops;
        this.c = c;
        this.hs = c.heads();
        this.stream = ctx.stream();
        qProj = prefix + "q_proj.weight";
        kProj = prefix + "k_proj.weight";
        vProj = prefix + "v_proj.weight";
        oProj = prefix + "o_proj.weight";
        output = new GatedOutputNorm(ctx, ops.swiglu(), c.elementwiseAffine() ? prefix + c.gateNormName() : null,
                c.useOutputGate() ? prefix + "g_proj.weight" : null, (float) c.normEps());
        double[] decays = RetNetLayer.decays(c.numHeads());
        logGamma = new float[decays.length];
        for (int i = 0; i < decays.length; i++) logGamma[i] = (float) decays[i];
        invFreq = org.gsa4j.cuda.ops.CudaRotary.inverseFrequencies(hs.headKDim(), ROPE_BASE);
    }

    /**
     * One layer's activations. Without a feature map q1/k1 are the projections (rotated in place); with one query head
     * per kv head kE/vE are k1/vp. The rest is scratch shared by the layers.
     */
    private static final class Layer implements Saved {
        DeviceTensor qp, kp, vp, q1, k1, kE, vE, o, rstdO, gp, logGamma, invFreq;
        DeviceTensor on, y, dy, dOn, dgp, dO, dkE, dvE;
        DeviceTensor[] dq, dk, dv;

        @Override
        public void release() {
        }
    }

    @Override
    public Saved activations(int batch, int seqLen, TensorArena a) {
        int n = batch * seqLen, h = c.numHeads(), hkv = c.numKvHeads(), kd = hs.headKDim(), vd = hs.headVDim();
        boolean grouped = hs.groups() > 1, mapped = c.featureMap() != null;
        Precision io = a.precision();
        Layer l = new Layer();
        l.qp = a.io(batch, seqLen, h, kd);
        l.kp = a.io(batch, seqLen, hkv, kd);
        l.vp = a.io(batch, seqLen, hkv, vd);
        l.q1 = mapped ? a.io(batch, seqLen, h, kd) : l.qp;
        l.k1 = mapped ? a.io(batch, seqLen, hkv, kd) : l.kp;
        l.kE = grouped ? a.io(batch, seqLen, h, kd) : l.k1;
        l.vE = grouped ? a.io(batch, seqLen, h, vd) : l.vp;
        l.o = a.io(batch, seqLen, h, vd);
        l.rstdO = a.f32(n * h);
        l.gp = c.useOutputGate() ? a.io(n, hs.valueDim()) : null;
        l.logGamma = MixerOps.constant(a, "retnet.logGamma", logGamma);
        l.invFreq = MixerOps.constant(a, "rotary.retnet", invFreq);
        l.on = a.scratch("gla.on", io, batch, seqLen, h, vd);
        l.y = a.scratch("gla.y", io, n, hs.valueDim());
        l.dy = a.scratch("gla.dy", io, n, hs.valueDim());
        l.dOn = a.scratch("gla.dOn", io, n, hs.valueDim());
        l.dgp = a.scratch("gla.dgp", io, n, hs.valueDim());
        l.dO = a.scratch("gla.dO", io, batch, seqLen, h, vd);
        l.dq = new DeviceTensor[] {a.scratch("gla.dq0", io, batch, seqLen, h, kd), a.scratch("gla.dq1", io, batch, seqLen, h, kd)};
        l.dk = new DeviceTensor[] {a.scratch("gla.dk0", io, batch, seqLen, hkv, kd), a.scratch("gla.dk1", io, batch, seqLen, hkv, kd)};
        l.dv = new DeviceTensor[] {a.scratch("gla.dv0", io, batch, seqLen, hkv, vd)};
        l.dkE = grouped ? a.scratch("gla.dkE", io, batch, seqLen, h, kd) : l.dk[0];
        l.dvE = grouped ? a.scratch("gla.dvE", io, batch, seqLen, h, vd) : l.dv[0];
        return l;
    }

    @Override
    public State newState(int batch, TensorArena a) {
        return CudaGlaMixer.LinearState.of(a, batch, c.numHeads(), hs.headKDim(), hs.headVDim());
    }

    @Override
    public void forward(Saved saved, DeviceTensor h, DeviceTensor out, State state) {
        Layer l = (Layer) saved;
        CudaGlaMixer.LinearState st = (CudaGlaMixer.LinearState) state;
        Products mm = ctx.products();
        int n = h.dim(0), groups = hs.groups(), hkv = c.numKvHeads(), offset = st == null ? 0 : st.position;
        mm.forward(h, ctx.w(qProj), l.qp, n, false, stream);
        mm.forward(h, ctx.w(kProj), l.kp, n, false, stream);
        mm.forward(h, ctx.w(vProj), l.vp, n, false, stream);
        MixerOps.featureMap(ctx.glue(), c.featureMap(), l.qp, l.q1, stream);
        MixerOps.featureMap(ctx.glue(), c.featureMap(), l.kp, l.k1, stream);
        ops.rotary().forward(l.q1, l.invFreq, offset, stream);
        ops.rotary().forward(l.k1, l.invFreq, offset, stream);
        if (groups > 1) {
            ctx.glue().repeatHeads(l.k1, l.kE, n, hkv, hs.headKDim(), groups, stream);
            ctx.glue().repeatHeads(l.vp, l.vE, n, hkv, hs.headVDim(), groups, stream);
        }
        float scale = (float) (1 / Math.sqrt(hs.headKDim()));
        ops.gla().forward(Decay.SCALAR, l.q1, l.kE, l.vE, null, l.logGamma, st == null ? null : st.s, scale, l.o, null,
                st == null ? null : st.sNext, stream);
        if (st != null) st.advance(n / st.s.dim(0));
        DeviceTensor y = output.forward(h, l.o, l.rstdO, l.gp, l.on, l.y);
        mm.forward(y, ctx.w(oProj), out, n, false, stream);
    }

    @Override
    public void backward(Saved saved, DeviceTensor h, DeviceTensor dOut, DeviceTensor dh) {
        Layer l = (Layer) saved;
        Products mm = ctx.products();
        int n = h.dim(0), groups = hs.groups(), hkv = c.numKvHeads();
        DeviceTensor y = output.recompute(l.o, l.rstdO, l.gp, l.on, l.y);
        mm.weightGradient(dOut, y, ctx.g(oProj), n, stream);
        mm.inputGradient(dOut, ctx.w(oProj), l.dy, n, false, stream);
        boolean dhWritten = output.backward(h, l.o, l.rstdO, l.gp, l.on, l.dy, l.dOn, l.dgp, l.dO, dh, false);
        float scale = (float) (1 / Math.sqrt(hs.headKDim()));
        ops.gla().backward(Decay.SCALAR, l.q1, l.kE, l.vE, null, l.logGamma, null, scale, null, l.dO, null, l.dq[0], l.dkE, l.dvE,
                null, null, stream);
        if (groups > 1) {
            ctx.glue().repeatHeadsBackward(l.dkE, l.dk[0], n, hkv, hs.headKDim(), groups, stream);
            ctx.glue().repeatHeadsBackward(l.dvE, l.dv[0], n, hkv, hs.headVDim(), groups, stream);
        }
        ops.rotary().inverse(l.dq[0], l.invFreq, 0, stream);
        ops.rotary().inverse(l.dk[0], l.invFreq, 0, stream);
        String phi = c.featureMap();
        int dq = MixerOps.featureMapBackward(ctx.glue(), phi, l.qp, l.dq, stream);
        int dk = MixerOps.featureMapBackward(ctx.glue(), phi, l.kp, l.dk, stream);
        mm.weightGradient(l.dq[dq], h, ctx.g(qProj), n, stream);
        mm.weightGradient(l.dk[dk], h, ctx.g(kProj), n, stream);
        mm.weightGradient(l.dv[0], h, ctx.g(vProj), n, stream);
        mm.inputGradient(l.dq[dq], ctx.w(qProj), dh, n, dhWritten, stream);
        mm.inputGradient(l.dk[dk], ctx.w(kProj), dh, n, true, stream);
        mm.inputGradient(l.dv[0], ctx.w(vProj), dh, n, true, stream);
    }
}
