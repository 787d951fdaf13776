package org.gsa4j.layers;

import org.gsa4j.layers.TokenMixer.MixerState;
import org.gsa4j.ops.gla.GatedLinearAttention.Gate;
import org.gsa4j.ops.gla.GatedLinearAttention;
import org.gsa4j.tensor.Tensor;

/**
 * The decoding state of a layer on the gated-linear-attention primitive (GLA, RetNet, HGRN2): the
 * state {@code S [B,H,Dk,Dv]} per query head, the short-convolution caches (or null) and the number
 * of tokens consumed (RetNet's rotary positions). Its size does not grow with the context.
 */
final class LinearState implements MixerState {
    Tensor s;
    Tensor[] conv;
    int position;

    LinearState(int batch, int heads, int dk, int dv, Tensor[] conv) {
        this(Tensor.zeros(batch, heads, dk, dv), conv);
    }

    private LinearState(Tensor s, Tensor[] conv) {
        this.s = s;
        this.conv = conv;
    }

    /**
     * Runs the primitive from this state on q (scale folded in), k [B,T,H,Dk], v [B,T,H,Dv] and the
     * gate: the chunk form for T &gt; 1, the recurrent step for T = 1. The state moves on; o [B,T,H,Dv].
     */
    Tensor run(Gate gate, Tensor q, Tensor k, Tensor v) {
        int b = q.dim(0), t = q.dim(1), h = q.dim(2), dk = q.dim(3), dv = v.dim(3);
        position += t;
        if (t == 1) {
            Tensor o = Tensor.zeros(b, 1, h, dv);
            Gate stepGate = switch (gate.decay()) {
                case KEY -> Gate.key(gate.g().reshape(b, h, dk));
                case VALUE -> Gate.value(gate.g().reshape(b, h, dv));
                case SCALAR -> gate;
            };
            GatedLinearAttention.step(stepGate, q.reshape(b, h, dk), k.reshape(b, h, dk), v.reshape(b, h, dv), s, o.reshape(b, h, dv));
            return o;
        }
        GatedLinearAttention.Result r = GatedLinearAttention.forward(gate, q, k, v, s);
        s = r.sT();
        return r.o();
    }

    @Override
    public MixerState copy() {
        LinearState c = new LinearState(s.copy(), conv == null ? null : new Tensor[conv.length]);
        for (int i = 0; conv != null && i < conv.length; i++) c.conv[i] = conv[i].copy();
        c.position = position;
        return c;
    }

    @Override
    public long bytes() {
        long n = s.size();
        if (conv != null) for (Tensor c : conv) n += c.size();
        return 4 * n;
    }

    @Override
    public long bytesReadPerToken() {
        return 2 * bytes();
    }

    @Override
    public void skip(int tokens, java.util.SplittableRandom rng) {
        position += tokens;
    }

    @Override
    public void save(Writer out) {
        out.tensor("s", s);
        for (int i = 0; conv != null && i < conv.length; i++) out.tensor("conv" + i, conv[i]);
        out.number("position", position);
    }

    @Override
    public void load(Reader in) {
        s = in.tensor("s", s.shape);
        for (int i = 0; conv != null && i < conv.length; i++) conv[i] = in.tensor("conv" + i, conv[i].shape);
        position = Math.toIntExact(in.number("position"));
    }
}
