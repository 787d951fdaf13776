package org.gsa4j.cuda.models;

import org.gsa4j.config.Hgrn2Config;
import org.gsa4j.cuda.CudaStream;
import org.gsa4j.cuda.ops.DeviceTensor;
import org.gsa4j.cuda.ops.Precision;
import org.gsa4j.layers.Hgrn2Layer;
import org.gsa4j.ops.gla.GatedLinearAttention.Decay;

/**
 * HGRN2's token mixer on the GPU, the device twin of org.gsa4j.layers.Hgrn2Layer (docs/MATH.md#hgrn2-layer):
 * <pre>
 *   q, f, i = h W_qᵀ, h W_fᵀ, h W_iᵀ;   q, f, i = conv(·)   (use_short_conv, no activation)
 *   q = silu(q);   lb = the layer's lower bound from model.lower_bounds (none in layer 0 or without use_lower_bound)
 *   g = log(lb + (1 − lb) σ(f)) (float32),  k = 1 − e^g
 *   o = GLA_key(q, k, i, g, scale head_f_dim^-½)         (heads of expand_ratio forget and hidden/heads input channels)
 *   out = (RMSNorm_{1e-5}(o) ⊙ w_g) W_oᵀ                  (w_g: elementwise_affine)
 * </pre>
 */
final class CudaHgrn2Mixer implements CudaMixer {
    /** The output norm's eps is hard-wired in the reference (docs/MATH.md#hgrn2-layer), as in the CPU Hgrn2Layer. */
    private static final float OUTPUT_NORM_EPS = 1e-5f;

    private final Context ctx;
    private final MixerOps ops;
    private final Hgrn2Config c;
    private final int layer;
    private final CudaStream stream;
    private final String qProj, fProj, iProj, gNorm, oProj;
    private final String[] convs;
    /** model.lower_bounds, or null where this layer has no bound. */
    private final String lowerBounds;

    CudaHgrn2Mixer(Context ctx, MixerOps ops, Hgrn2Config c, String prefix, int layer) {
        this.ctx = ctx;
        this.ops = ops;
        this.c = c;
        this.layer = layer;
        this.stream = ctx.stream();
        qProj = prefix + "q_proj.weight";
        fProj = prefix + "f_proj.weight";
        iProj = prefix + "i_proj.weight";
        gNorm = c.elementwiseAffine() ? prefix + "g_norm.weight" : null;
        oProj = prefix + "o_proj.weight";
        convs = c.useShortConv() ? new String[] {prefix + "q_conv1d.weight", prefix + "f_conv1d.weight", prefix + "i_conv1d.weight"} : null;
        lowerBounds = c.useLowerBound() && layer > 0 ? Hgrn2Layer.LOWER_BOUNDS : null;
    }

    /** One layer's activations; without short convolutions q1/f1/i1 are the projections. The rest is shared scratch. */
    private static final class Layer implements Saved {
        DeviceTensor qp, fp, ip, q1, f1, i1, q2, lb, g, k, o, rstdO;
        DeviceTensor on, dOn, dO, dq2, dk, dg, dlb;
        DeviceTensor[] dq, df, di;

        @Override
        public void release() {
        }
    }

    @Override
    public Saved activations(int batch, int seqLen, TensorArena a) {
        int n = batch * seqLen, h = c.numHeads(), fd = c.headFDim(), id = c.headIDim(), d = c.hiddenSize();
        boolean conv = c.useShortConv();
        Precision io = a.precision(), f32 = Precision.F32;
        Layer l = new Layer();
        l.qp = a.io(batch, seqLen, h, fd);
        l.fp = a.io(batch, seqLen, h, fd);
        l.ip = a.io(batch, seqLen, h, id);
        l.q1 = conv ? a.io(batch, seqLen, h, fd) : l.qp;
        l.f1 = conv ? a.io(batch, seqLen, h, fd) : l.fp;
        l.i1 = conv ? a.io(batch, seqLen, h, id) : l.ip;
        l.q2 = a.io(batch, seqLen, h, fd);
        l.lb = lowerBounds == null ? null : a.f32(c.forgetDim());
        l.g = a.f32(batch, seqLen, h, fd);
        l.k = a.io(batch, seqLen, h, fd);
        l.o = a.io(batch, seqLen, h, id);
        l.rstdO = a.f32(n);
        l.on = a.scratch("hgrn2.on", io, n, d);
        l.dOn = a.scratch("hgrn2.dOn", io, n, d);
        l.dO = a.scratch("hgrn2.dO", io, batch, seqLen, h, id);
        l.dk = a.scratch("hgrn2.dk", io, batch, seqLen, h, fd);
        l.dg = a.scratch("hgrn2.dg", f32, batch, seqLen, h, fd);
        l.dlb = a.scratch("hgrn2.dlb", f32, c.forgetDim());
        l.dq = new DeviceTensor[] {a.scratch("hgrn2.dq0", io, batch, seqLen, h, fd), a.scratch("hgrn2.dq1", io, batch, seqLen, h, fd)};
        l.df = new DeviceTensor[] {a.scratch("hgrn2.df0", io, batch, seqLen, h, fd), a.scratch("hgrn2.df1", io, batch, seqLen, h, fd)};
        l.di = new DeviceTensor[] {a.scratch("hgrn2.di0", io, batch, seqLen, h, id), a.scratch("hgrn2.di1", io, batch, seqLen, h, id)};
        return l;
    }

    @Override
    public State newState(int batch, TensorArena a) {
        CudaGlaMixer.LinearState st = CudaGlaMixer.LinearState.of(a, batch, c.numHeads(), c.headFDim(), c.headIDim());
        if (convs != null) {
            int w = c.convSize() - 1;
            st.convCache = new DeviceTensor[] {a.zeros(a.precision(), batch, w, c.forgetDim()), a.zeros(a.precision(), batch, w, c.forgetDim()),
                    a.zeros(a.precision(), batch, w, c.hiddenSize())};
        }
        return st;
    }

    @Override
    public void forward(Saved saved, DeviceTensor h, DeviceTensor out, State state) {
        Layer l = (Layer) saved;
        CudaGlaMixer.LinearState st = (CudaGlaMixer.LinearState) state;
        Products mm = ctx.products();
        int n = h.dim(0);
        mm.forward(h, ctx.w(qProj), l.qp, n, false, stream);
        mm.forward(h, ctx.w(fProj), l.fp, n, false, stream);
        mm.forward(h, ctx.w(iProj), l.ip, n, false, stream);
        if (convs != null) {
            DeviceTensor[] cache = st == null ? new DeviceTensor[3] : st.convCache;
            DeviceTensor[] x = {l.qp, l.fp, l.ip}, y = {l.q1, l.f1, l.i1};
            for (int i = 0; i < 3; i++) {
                ops.conv().forward(MixerOps.flat(x[i]), ctx.w(convs[i]), cache[i], false, MixerOps.flat(y[i]), cache[i], stream);
            }
        }
        ctx.glue().silu(l.q1, l.q2, stream);
        if (l.lb != null) ops.gates().hgrn2LowerBound(ctx.params().value(lowerBounds), layer, l.lb, stream);
        ops.gates().hgrn2Gate(l.f1.reshape(n, c.forgetDim()), l.lb, l.g, l.k, stream);
        float scale = (float) (1 / Math.sqrt(c.headFDim()));
        ops.gla().forward(Decay.KEY, l.q2, l.k, l.i1, l.g, null, st == null ? null : st.s, scale, l.o, null,
                st == null ? null : st.sNext, stream);
        if (st != null) st.advance(n / st.s.dim(0));
        ctx.norm().forward(l.o.reshape(n, c.hiddenSize()), null, ctx.optional(gNorm), OUTPUT_NORM_EPS, l.on, null, l.rstdO, stream);
        mm.forward(l.on, ctx.w(oProj), out, n, false, stream);
    }

    @Override
    public void backward(Saved saved, DeviceTensor h, DeviceTensor dOut, DeviceTensor dh) {
        Layer l = (Layer) saved;
        Products mm = ctx.products();
        int n = h.dim(0);
        DeviceTensor o = l.o.reshape(n, c.hiddenSize());
        ctx.norm().forward(o, null, ctx.optional(gNorm), OUTPUT_NORM_EPS, l.on, null, l.rstdO, stream);
        mm.weightGradient(dOut, l.on, ctx.g(oProj), n, stream);
        mm.inputGradient(dOut, ctx.w(oProj), l.dOn, n, false, stream);
        ctx.norm().backward(o, ctx.optional(gNorm), l.rstdO, l.dOn, null, l.dO, gNorm == null ? null : ctx.g(gNorm), stream);
        float scale = (float) (1 / Math.sqrt(c.headFDim()));
        ops.gla().backward(Decay.KEY, l.q2, l.k, l.i1, l.g, null, null, scale, null, l.dO, null, l.dq[0], l.dk, l.di[0], l.dg, null,
                stream);
        if (l.lb != null) l.dlb.buffer().zeroAsync(stream);
        ops.gates().hgrn2GateBackward(l.f1.reshape(n, c.forgetDim()), l.lb, l.dg, l.dk, l.df[0], l.lb == null ? null : l.dlb, stream);
        if (l.lb != null) ops.gates().hgrn2LowerBoundBackward(ctx.params().value(lowerBounds), layer, l.dlb, ctx.g(lowerBounds), stream);
        ctx.glue().siluBackward(l.q1, l.dq[0], l.dq[1], stream);
        int dq = 1, df = 0, di = 0;
        if (convs != null) {
            dq = convBackward(l.qp, convs[0], l.dq, dq);
            df = convBackward(l.fp, convs[1], l.df, df);
            di = convBackward(l.ip, convs[2], l.di, di);
        }
        mm.weightGradient(l.dq[dq], h, ctx.g(qProj), n, stream);
        mm.weightGradient(l.df[df], h, ctx.g(fProj), n, stream);
        mm.weightGradient(l.di[di], h, ctx.g(iProj), n, stream);
        mm.inputGradient(l.dq[dq], ctx.w(qProj), dh, n, false, stream);
        mm.inputGradient(l.df[df], ctx.w(fProj), dh, n, true, stream);
        mm.inputGradient(l.di[di], ctx.w(iProj), dh, n, true, stream);
    }

    /** conv(x)'s backward (no activation) from {@code d[from]} into the other buffer (returned); adds the kernel's gradient. */
    private int convBackward(DeviceTensor x, String weight, DeviceTensor[] d, int from) {
        ops.conv().backward(MixerOps.flat(x), ctx.w(weight), MixerOps.flat(d[from]), false, MixerOps.flat(d[1 - from]), ctx.g(weight),
                stream);
        return 1 - from;
    }
}
