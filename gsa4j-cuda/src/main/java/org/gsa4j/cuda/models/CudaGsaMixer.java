package org.gsa4j.cuda.models;

import org.gsa4j.config.GsaConfig;
import org.gsa4j.config.HeadShape;
import org.gsa4j.cuda.CudaStream;
import org.gsa4j.cuda.ops.CudaGates;
import org.gsa4j.cuda.ops.CudaGsa;
import org.gsa4j.cuda.ops.CudaShortConv;
import org.gsa4j.cuda.ops.DeviceTensor;
import org.gsa4j.cuda.ops.Precision;

/**
 * GSA's token mixer on the GPU, the device twin of org.gsa4j.layers.GsaLayer (docs/MATH.md#gsa-layer):
 * <pre>
 *   q, k, v, f = h W_qᵀ, h W_kᵀ, h W_vᵀ, h W_fᵀ
 *   q, k, v = silu(conv(q)), silu(conv(k)), silu(conv(v))     (use_short_conv)
 *   q, k = φ(q), φ(k)   φ: swish, relu, or relu(· W_φᵀ) per head (t2r);   v = silu(v)
 *   g, s = slot gate(f, τ);  k, v, g, s repeated to the query heads (GQA)
 *   o = GSA(q, k, v, s, g, scale 1)
 *   out = (RMSNorm_{1e-5}(silu(o)) ⊙ w_g) W_oᵀ                  (w_g: elementwise_affine)
 * </pre>
 * silu(o) and its norm are not kept: the backward computes them again from o (two element-wise kernels, the same
 * bits), which saves 2 × value_dim values per token and layer. Decoding feeds a prompt through the chunk kernels
 * and single tokens (T = 1) through the fused recurrent step (CudaGsa.step), which keeps nothing for a backward.
 */
final class CudaGsaMixer implements CudaMixer {
    /** GSA's output norm has its eps hard-wired (docs/MATH.md#gsa-layer), as the CPU GsaLayer. */
    private static final float OUTPUT_NORM_EPS = 1e-5f;

    /** The GSA kernels every layer of a model shares. */
    record Ops(CudaGsa gsa, CudaGates gates, CudaShortConv conv) {
        static Ops of(Context ctx) {
            return new Ops(new CudaGsa(ctx.device(), ctx.precision()), new CudaGates(ctx.device(), ctx.precision()),
                    new CudaShortConv(ctx.device(), ctx.precision()));
        }
    }

    private final Context ctx;
    private final Ops ops;
    private final GsaConfig c;
    private final HeadShape hs;
    private final GsaParamNames.Layer p;
    private final CudaStream stream;

    CudaGsaMixer(Context ctx, Ops ops, GsaConfig c, int layer) {
        this.ctx = ctx;
        this.ops = ops;
        this.c = c;
        this.hs = c.heads();
        this.p = GsaParamNames.of(c).layers().get(layer);
        this.stream = ctx.stream();
    }

    /**
     * One layer's activations. Without short convolutions q1/k1/v1 are the projections themselves; without t2r there
     * is no qt/kt; with one query head per kv head the expanded kE/vE/gE/sE are k2/v2/g/s. os and on (silu(o) and
     * its norm) and the backward's buffers are scratch shared by the layers.
     */
    private static final class Layer implements Saved {
        /** The projections [B,T,C], and silu(conv(·)) of q, k, v. */
        DeviceTensor qp, kp, vp, fp, q1, k1, v1;
        /** t2r's pre-activation; q and k after the feature map, v after silu. */
        DeviceTensor qt, kt, q2, k2, v2;
        /** The slot gate's log-decay (float32) and write weights, and the four expanded to the query heads. */
        DeviceTensor g, s, kE, vE, gE, sE;
        /** The operator's output [B,T,H,V] and what its backward needs. */
        DeviceTensor o;
        CudaGsa.Saved saved;
        /** The output norm's 1/rms (float32), and (scratch) silu(o) and the norm's output, o_proj's input. */
        DeviceTensor rstdO, os, on;
        /** The backward's scratch. */
        DeviceTensor dOn, dOs, dO, dkE, dvE, dsE, dgE, ds, dg, df;
        /** Two buffers each for q's, k's and v's gradients along their chains. */
        DeviceTensor[] dq, dk, dv;

        @Override
        public void release() {
            if (saved != null) {
                saved.close();
                saved = null;
            }
        }
    }

    @Override
    public Saved activations(int batch, int seqLen, TensorArena a) {
        int n = batch * seqLen, h = c.numHeads(), hkv = c.numKvHeads(), kd = hs.headKDim(), vd = hs.headVDim(), m = c.numSlots();
        boolean grouped = hs.groups() > 1, conv = c.useShortConv();
        Precision io = a.precision(), f32 = Precision.F32;
        Layer l = new Layer();
        l.qp = a.io(batch, seqLen, hs.keyDim());
        l.kp = a.io(batch, seqLen, hs.kvKeyDim());
        l.vp = a.io(batch, seqLen, hs.kvValueDim());
        l.fp = a.io(batch, seqLen, hkv, m);
        l.q1 = conv ? a.io(batch, seqLen, hs.keyDim()) : l.qp;
        l.k1 = conv ? a.io(batch, seqLen, hs.kvKeyDim()) : l.kp;
        l.v1 = conv ? a.io(batch, seqLen, hs.kvValueDim()) : l.vp;
        if (c.featureMap().equals("t2r")) {
            l.qt = a.io(batch, seqLen, h, kd);
            l.kt = a.io(batch, seqLen, hkv, kd);
        }
        l.q2 = a.io(batch, seqLen, h, kd);
        l.k2 = a.io(batch, seqLen, hkv, kd);
        l.v2 = a.io(batch, seqLen, hkv, vd);
        l.g = a.f32(batch, seqLen, hkv, m);
        l.s = a.io(batch, seqLen, hkv, m);
        l.kE = grouped ? a.io(batch, seqLen, h, kd) : l.k2;
        l.vE = grouped ? a.io(batch, seqLen, h, vd) : l.v2;
        l.gE = grouped ? a.f32(batch, seqLen, h, m) : l.g;
        l.sE = grouped ? a.io(batch, seqLen, h, m) : l.s;
        l.o = a.io(batch, seqLen, h, vd);
        l.rstdO = a.f32(n);
        l.os = a.scratch("gsa.os", io, n, hs.valueDim());
        l.on = a.scratch("gsa.on", io, n, hs.valueDim());
        l.dOn = a.scratch("gsa.dOn", io, n, hs.valueDim());
        l.dOs = a.scratch("gsa.dOs", io, n, hs.valueDim());
        l.dO = a.scratch("gsa.dO", io, batch, seqLen, h, vd);
        l.dq = new DeviceTensor[] {a.scratch("gsa.dq0", io, batch, seqLen, h, kd), a.scratch("gsa.dq1", io, batch, seqLen, h, kd)};
        l.dk = new DeviceTensor[] {a.scratch("gsa.dk0", io, batch, seqLen, hkv, kd), a.scratch("gsa.dk1", io, batch, seqLen, hkv, kd)};
        l.dv = new DeviceTensor[] {a.scratch("gsa.dv0", io, batch, seqLen, hkv, vd), a.scratch("gsa.dv1", io, batch, seqLen, hkv, vd)};
        l.dkE = grouped ? a.scratch("gsa.dkE", io, batch, seqLen, h, kd) : l.dk[0];
        l.dvE = grouped ? a.scratch("gsa.dvE", io, batch, seqLen, h, vd) : l.dv[0];
        l.dg = a.scratch("gsa.dg", f32, batch, seqLen, hkv, m);
        l.ds = a.scratch("gsa.ds", io, batch, seqLen, hkv, m);
        l.dgE = grouped ? a.scratch("gsa.dgE", f32, batch, seqLen, h, m) : l.dg;
        l.dsE = grouped ? a.scratch("gsa.dsE", io, batch, seqLen, h, m) : l.ds;
        l.df = a.scratch("gsa.df", io, batch, seqLen, hkv, m);
        return l;
    }

    /**
     * The recurrent state of one layer: the key and value slot memories hk [B,H,K,M], hv [B,H,M,V] (float32, with
     * the next pass's targets) and, with short convolutions, the last W−1 inputs of q, k, v [B, W−1, C].
     */
    private static final class LayerState implements State {
        DeviceTensor hk, hv, hkNext, hvNext;
        DeviceTensor[] convCache;

        /** After a pass: the final states become the next pass's initial states. */
        void advance() {
            DeviceTensor k = hk, v = hv;
            hk = hkNext;
            hv = hvNext;
            hkNext = k;
            hvNext = v;
        }
    }

    @Override
    public State newState(int batch, TensorArena a) {
        int h = c.numHeads(), m = c.numSlots();
        LayerState s = new LayerState();
        s.hk = a.zeros(Precision.F32, batch, h, hs.headKDim(), m);
        s.hv = a.zeros(Precision.F32, batch, h, m, hs.headVDim());
        s.hkNext = a.zeros(Precision.F32, batch, h, hs.headKDim(), m);
        s.hvNext = a.zeros(Precision.F32, batch, h, m, hs.headVDim());
        if (c.useShortConv()) {
            int w = c.convSize() - 1;
            Precision io = a.precision();
            s.convCache = new DeviceTensor[] {a.zeros(io, batch, w, hs.keyDim()), a.zeros(io, batch, w, hs.kvKeyDim()),
                    a.zeros(io, batch, w, hs.kvValueDim())};
        }
        return s;
    }

    @Override
    public void forward(Saved saved, DeviceTensor h1, DeviceTensor out, State state) {
        Layer l = (Layer) saved;
        LayerState st = (LayerState) state;
        Products mm = ctx.products();
        GlueKernels glue = ctx.glue();
        int n = h1.dim(0), groups = hs.groups();
        mm.forward(h1, ctx.w(p.qProj()), l.qp, n, false, stream);
        mm.forward(h1, ctx.w(p.kProj()), l.kp, n, false, stream);
        mm.forward(h1, ctx.w(p.vProj()), l.vp, n, false, stream);
        mm.forward(h1, ctx.w(p.fProj()), l.fp, n, false, stream);
        if (c.useShortConv()) {
            DeviceTensor[] cache = st == null ? new DeviceTensor[3] : st.convCache;
            ops.conv.forward(l.qp, ctx.w(p.qConv()), cache[0], true, l.q1, cache[0], stream);
            ops.conv.forward(l.kp, ctx.w(p.kConv()), cache[1], true, l.k1, cache[1], stream);
            ops.conv.forward(l.vp, ctx.w(p.vConv()), cache[2], true, l.v1, cache[2], stream);
        }
        featureMap(l.q1, l.qt, l.q2, n * c.numHeads());
        featureMap(l.k1, l.kt, l.k2, n * c.numKvHeads());
        glue.silu(l.v1, l.v2, stream);
        ops.gates.slotGate(l.fp, c.gateLogitNormalizer(), l.g, l.s, stream);
        if (groups > 1) {
            int hkv = c.numKvHeads();
            glue.repeatHeads(l.k2, l.kE, n, hkv, hs.headKDim(), groups, stream);
            glue.repeatHeads(l.v2, l.vE, n, hkv, hs.headVDim(), groups, stream);
            glue.repeatHeads(l.g, l.gE, n, hkv, c.numSlots(), groups, stream);
            glue.repeatHeads(l.s, l.sE, n, hkv, c.numSlots(), groups, stream);
        }
        l.release();
        int batch = l.q2.dim(0), seqLen = l.q2.dim(1), h = c.numHeads(), m = c.numSlots();
        if (st == null) {
            l.saved = ops.gsa.forward(l.q2, l.kE, l.vE, l.sE, l.gE, 1f, null, null, l.o, null, null, stream);
        } else if (seqLen == 1) {
            // one token per sequence: the fused recurrent step, the slot memories updated in place
            ops.gsa.step(l.q2.reshape(batch, h, hs.headKDim()), l.kE.reshape(batch, h, hs.headKDim()), l.vE.reshape(batch, h, hs.headVDim()),
                    l.sE.reshape(batch, h, m), l.gE.reshape(batch, h, m), 1f, st.hk, st.hv, l.o.reshape(batch, h, hs.headVDim()), stream);
        } else {
            l.saved = ops.gsa.forward(l.q2, l.kE, l.vE, l.sE, l.gE, 1f, st.hk, st.hv, l.o, st.hkNext, st.hvNext, stream);
            st.advance();
        }
        outputGate(l);
        mm.forward(l.on, ctx.w(p.oProj()), out, n, false, stream);
    }

    /** os = silu(o), on = RMSNorm(os) ⊙ w_g (rstdO kept): in the forward, and again in the backward. */
    private void outputGate(Layer l) {
        ctx.glue().silu(l.o, l.os, stream);
        ctx.norm().forward(l.os, null, ctx.optional(p.gNorm()), OUTPUT_NORM_EPS, l.on, null, l.rstdO, stream);
    }

    /** φ over rows of one head's width: swish, relu, or t2r's relu(x W_φᵀ) (its pre-activation kept in xt). */
    private void featureMap(DeviceTensor x, DeviceTensor xt, DeviceTensor y, int rows) {
        switch (c.featureMap()) {
            case "swish" -> ctx.glue().silu(x, y, stream);
            case "relu" -> ctx.glue().relu(x, y, stream);
            case "t2r" -> {
                ctx.products().forward(x, ctx.w(p.featureMap()), xt, rows, false, stream);
                ctx.glue().relu(xt, y, stream);
            }
            default -> throw new IllegalStateException(c.featureMap());
        }
    }

    @Override
    public void backward(Saved saved, DeviceTensor h1, DeviceTensor dOut, DeviceTensor dh) {
        Layer l = (Layer) saved;
        Products mm = ctx.products();
        GlueKernels glue = ctx.glue();
        int n = h1.dim(0), groups = hs.groups(), hkv = c.numKvHeads();
        outputGate(l);
        mm.weightGradient(dOut, l.on, ctx.g(p.oProj()), n, stream);
        mm.inputGradient(dOut, ctx.w(p.oProj()), l.dOn, n, false, stream);
        ctx.norm().backward(l.os, ctx.optional(p.gNorm()), l.rstdO, l.dOn, null, l.dOs, p.gNorm() == null ? null : ctx.g(p.gNorm()),
                stream);
        glue.siluBackward(l.o, l.dOs, l.dO, stream);
        ops.gsa.backward(l.q2, l.kE, l.vE, l.sE, l.gE, 1f, l.saved, l.dO, null, null, l.dq[0], l.dkE, l.dvE, l.dsE, l.dgE, null, null,
                stream);
        l.release();
        if (groups > 1) {
            glue.repeatHeadsBackward(l.dkE, l.dk[0], n, hkv, hs.headKDim(), groups, stream);
            glue.repeatHeadsBackward(l.dvE, l.dv[0], n, hkv, hs.headVDim(), groups, stream);
            glue.repeatHeadsBackward(l.dgE, l.dg, n, hkv, c.numSlots(), groups, stream);
            glue.repeatHeadsBackward(l.dsE, l.ds, n, hkv, c.numSlots(), groups, stream);
        }
        ops.gates.slotGateBackward(l.fp, c.gateLogitNormalizer(), l.dg, l.ds, l.df, stream);
        glue.siluBackward(l.v1, l.dv[0], l.dv[1], stream);
        int dq = featureMapBackward(l.q1, l.qt, l.dq, n * c.numHeads());
        int dk = featureMapBackward(l.k1, l.kt, l.dk, n * hkv);
        int dv = 1;
        if (c.useShortConv()) {
            dq = convBackward(l.qp, p.qConv(), l.dq, dq);
            dk = convBackward(l.kp, p.kConv(), l.dk, dk);
            dv = convBackward(l.vp, p.vConv(), l.dv, dv);
        }
        mm.weightGradient(l.dq[dq], h1, ctx.g(p.qProj()), n, stream);
        mm.weightGradient(l.dk[dk], h1, ctx.g(p.kProj()), n, stream);
        mm.weightGradient(l.dv[dv], h1, ctx.g(p.vProj()), n, stream);
        mm.weightGradient(l.df, h1, ctx.g(p.fProj()), n, stream);
        mm.inputGradient(l.dq[dq], ctx.w(p.qProj()), dh, n, false, stream);
        mm.inputGradient(l.dk[dk], ctx.w(p.kProj()), dh, n, true, stream);
        mm.inputGradient(l.dv[dv], ctx.w(p.vProj()), dh, n, true, stream);
        mm.inputGradient(l.df, ctx.w(p.fProj()), dh, n, true, stream);
    }

    /**
     * φ's backward from φ(x)'s gradient in {@code d[0]}; returns which of the two buffers then holds x's. t2r
     * adds its matrix's gradient.
     */
    private int featureMapBackward(DeviceTensor x, DeviceTensor xt, DeviceTensor[] d, int rows) {
        switch (c.featureMap()) {
            case "swish" -> ctx.glue().siluBackward(x, d[0], d[1], stream);
            case "relu" -> ctx.glue().reluBackward(x, d[0], d[1], stream);
            case "t2r" -> {
                ctx.glue().reluBackward(xt, d[0], d[1], stream);
                ctx.products().weightGradient(d[1], x, ctx.g(p.featureMap()), rows, stream);
                ctx.products().inputGradient(d[1], ctx.w(p.featureMap()), d[0], rows, false, stream);
                return 0;
            }
            default -> throw new IllegalStateException(c.featureMap());
        }
        return 1;
    }

    /** silu(conv(x))'s backward from {@code d[from]} into the other buffer (returned); adds the kernel's gradient. */
    private int convBackward(DeviceTensor x, String weight, DeviceTensor[] d, int from) {
        ops.conv.backward(x, ctx.w(weight), d[from], true, d[1 - from], ctx.g(weight), stream);
        return 1 - from;
    }
}
