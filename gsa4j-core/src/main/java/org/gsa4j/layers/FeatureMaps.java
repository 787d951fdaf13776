package org.gsa4j.layers;

import org.gsa4j.autograd.Functions;
import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.tensor.VectorOps;

/** The parameter-free feature maps GLA and RetNet accept on q and k (transformers' ACT2FN names; null is none). */
public final class FeatureMaps {
    private FeatureMaps() {}

    static Var apply(Tape tape, String name, Var x) {
        if (name == null) return x;
        return switch (name) {
            case "swish", "silu" -> Functions.silu(tape, x);
            case "relu" -> Functions.relu(tape, x);
            default -> throw new IllegalStateException("feature map " + name);
        };
    }

    /** The same map on the first n elements of x, in place (a single-token step). */
    static void step(String name, float[] x, int n) {
        if (name == null) return;
        switch (name) {
            case "swish", "silu" -> VectorOps.siluInPlace(x, 0, n);
            case "relu" -> VectorOps.reluInPlace(x, 0, n);
            default -> throw new IllegalStateException("feature map " + name);
        }
    }
}
