package org.gsa4j.layers;

import org.gsa4j.autograd.Functions;
import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.layers.TokenMixer.MixerState;
import org.gsa4j.ops.ShortConv;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.tensor.VectorOps;

import java.util.List;
import java.util.function.Function;

/** Short causal convolutions over time: from zeros in training, from (and into) a cache when decoding. */
final class ShortConvs {
    private ShortConvs() {}

    /** The kernels GSA and GLA put on their q, k and v projections. */
    static final String[] QKV = {"q_conv1d.weight", "k_conv1d.weight", "v_conv1d.weight"};

    /** The kernels' parameters, {@code names[i]} [channels[i], 1, width]. */
    static void addParams(List<ParamSpec> specs, String[] names, int width, int... channels) {
        for (int i = 0; i < names.length; i++) specs.add(ParamSpec.matrix(names[i], channels[i], 1, width));
    }

    /**
     * Each {@code x[i]} [B,T,C] convolved with the kernel {@code names[i]}, then silu when asked:
     * from zeros in training (caches null), from and into a decoding state's caches [B,W−1,C].
     */
    static Var[] apply(Tape tape, ParamScope p, String[] names, Tensor[] caches, boolean silu, Var... x) {
        Var[] y = new Var[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = apply(tape, x[i], p.get(names[i]), caches, i);
            if (silu) y[i] = Functions.silu(tape, y[i]);
        }
        return y;
    }

    /** x [B,T,C] convolved with w [C,1,W]; {@code caches[which]} [B,W−1,C] is read and replaced when non-null. */
    private static Var apply(Tape tape, Var x, Var w, Tensor[] caches, int which) {
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
     * The single-token form of a layer's convolutions, on a stepper's projection buffers: the
     * kernels are looked up once by name and their channels and width read from their shapes.
     */
    static final class Step {
        private final Tensor[] w;
        private final float[][] x;
        private final int[] channels;
        private final int width;
        private final boolean silu;

        /** Convolves {@code x[i]} (rows of w[i]'s channels) with the kernel {@code names[i]}, then silu when asked. */
        Step(Function<String, Tensor> params, String[] names, boolean silu, float[]... x) {
            this.w = new Tensor[names.length];
            this.channels = new int[names.length];
            for (int i = 0; i < names.length; i++) {
                w[i] = params.apply(names[i]);
                channels[i] = w[i].dim(0);
            }
            this.width = w[0].dim(2);
            this.x = x;
            this.silu = silu;
        }

        /**
         * The rows of the pass in place, every sequence's tokens in order against its own cache row
         * ({@code caches} finds a state's caches).
         */
        void run(StepRows rows, Function<MixerState, Tensor[]> caches) {
            for (int s = 0; s < rows.sequences(); s++) {
                Tensor[] cache = caches.apply(rows.state(s));
                int slot = rows.slot(s), first = rows.first(s);
                for (int r = first; r < first + rows.count(s); r++) {
                    for (int i = 0; i < x.length; i++) {
                        ShortConv.step(x[i], r * channels[i], w[i].f, cache[i].f, slot * (width - 1) * channels[i], channels[i], width);
                    }
                }
            }
            if (silu) for (int i = 0; i < x.length; i++) VectorOps.siluInPlace(x[i], 0, rows.rows() * channels[i]);
        }
    }
}
