package org.gsa4j.layers;

import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.layers.TokenMixer.MixerState;
import org.gsa4j.ops.ShortConv;
import org.gsa4j.tensor.Tensor;

import java.util.function.Function;

/** Short causal convolutions over time: from zeros in training, from (and into) a cache when decoding. */
final class ShortConvs {
    private ShortConvs() {}

    /** x [B,T,C] convolved with w [C,1,W]; {@code caches[which]} [B,W−1,C] is read and replaced when non-null. */
    static Var apply(Tape tape, Var x, Var w, Tensor[] caches, int which) {
        if (caches == null) return ShortConv.apply(tape, x, w);
        Tensor y = ShortConv.forward(x.value, w.value, caches[which]);
        caches[which] = ShortConv.nextCache(x.value, caches[which], w.value.dim(2));
        return tape.constant(y);
    }

    static Tensor[] zeroCaches(int batch, int width, int... channels) {
        Tensor[] caches = new Tensor[channels.length];
        for (int i = 0; i < channels.length; i++) caches[i] = Tensor.zeros(batch, width - 1, channels[i]);
        return caches;
    }

    /**
     * The single-token form over a pass: the rows of {@code x[i]} (channels[i] each) convolved in
     * place with {@code w[i]}, every sequence's tokens in order against its own cache row
     * ({@code caches} finds a state's caches).
     */
    static void step(StepRows rows, float[][] x, Tensor[] w, int[] channels, int width, Function<MixerState, Tensor[]> caches) {
        for (int s = 0; s < rows.sequences(); s++) {
            Tensor[] cache = caches.apply(rows.state(s));
            int slot = rows.slot(s), first = rows.first(s);
            for (int r = first; r < first + rows.count(s); r++) {
                for (int i = 0; i < x.length; i++) {
                    ShortConv.step(x[i], r * channels[i], w[i].f, cache[i].f, slot * (width - 1) * channels[i], channels[i], width);
                }
            }
        }
    }
}
