package org.gsa4j.cuda.models;

import org.gsa4j.cuda.CudaStream;
import org.gsa4j.cuda.ops.CudaAttention;
import org.gsa4j.cuda.ops.CudaBias;
import org.gsa4j.cuda.ops.CudaGates;
import org.gsa4j.cuda.ops.CudaGla;
import org.gsa4j.cuda.ops.CudaRotary;
import org.gsa4j.cuda.ops.CudaShortConv;
import org.gsa4j.cuda.ops.CudaSwiglu;
import org.gsa4j.cuda.ops.DeviceTensor;
import org.gsa4j.cuda.ops.Precision;

/** The operators the GLA, RetNet, HGRN2 and attention mixers of one model share (made once per model, on the device's thread). */
record MixerOps(CudaGla gla, CudaGates gates, CudaShortConv conv, CudaSwiglu swiglu, CudaBias bias, CudaRotary rotary,
                CudaAttention attention) {

    static MixerOps of(CudaMixer.Context ctx) {
        return new MixerOps(new CudaGla(ctx.device(), ctx.precision()), new CudaGates(ctx.device(), ctx.precision()),
                new CudaShortConv(ctx.device(), ctx.precision()), new CudaSwiglu(ctx.device(), ctx.precision()),
                new CudaBias(ctx.device(), ctx.precision()), new CudaRotary(ctx.device(), ctx.precision()),
                new CudaAttention(ctx.device(), ctx.precision()));
    }

    /**
     * A float32 constant a mixer's kernels read (rotary frequencies, RetNet's decays), held by {@code arena} under
     * {@code name}, so that it lives as long as the activations or the state that use it.
     */
    static DeviceTensor constant(TensorArena arena, String name, float[] values) {
        DeviceTensor t = arena.scratch(name, Precision.F32, values.length);
        t.buffer().copyFrom(values);
        return t;
    }

    /** [B,T,H,D] seen as the convolution's [B,T,H·D]. */
    static DeviceTensor flat(DeviceTensor t) {
        return t.reshape(t.dim(0), t.dim(1), (int) (t.size() / ((long) t.dim(0) * t.dim(1))));
    }

    /** φ(x) into y for GLA's and RetNet's parameter-free feature maps (swish/silu, relu); nothing for none (null). */
    static void featureMap(GlueKernels glue, String name, DeviceTensor x, DeviceTensor y, CudaStream stream) {
        if (name == null) return;
        switch (name) {
            case "swish", "silu" -> glue.silu(x, y, stream);
            case "relu" -> glue.relu(x, y, stream);
            default -> throw new IllegalStateException("feature map " + name);
        }
    }

    /** φ's backward from φ(x)'s gradient in d[0] into d[1]; returns the index of the buffer holding x's gradient. */
    static int featureMapBackward(GlueKernels glue, String name, DeviceTensor x, DeviceTensor[] d, CudaStream stream) {
        if (name == null) return 0;
        switch (name) {
            case "swish", "silu" -> glue.siluBackward(x, d[0], d[1], stream);
            case "relu" -> glue.reluBackward(x, d[0], d[1], stream);
            default -> throw new IllegalStateException("feature map " + name);
        }
        return 1;
    }
}
