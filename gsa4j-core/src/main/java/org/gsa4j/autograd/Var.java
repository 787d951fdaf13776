package org.gsa4j.autograd;

import org.gsa4j.tensor.Tensor;

/**
 * A value on the tape: its tensor and, after {@link Tape#backward}, its gradient. Leaves that do
 * not require a gradient (inputs, frozen weights) never get one.
 */
public final class Var {
    public final Tensor value;
    public final boolean requiresGrad;
    private Tensor grad;

    Var(Tensor value, boolean requiresGrad) {
        this.value = value;
        this.requiresGrad = requiresGrad;
    }

    /** The gradient accumulated so far, or null if none reached this value. */
    public Tensor grad() {
        return grad;
    }

    /** The gradient buffer, allocated (zeros, same precision) on first use. */
    public Tensor gradBuffer() {
        if (grad == null) grad = Tensor.zerosLike(value);
        return grad;
    }

    /**
     * Adds {@code g} into the gradient (no-op when this value needs none). The first gradient is
     * kept without a copy, so a caller must not hand the same tensor to two values.
     */
    public void accumulate(Tensor g) {
        if (!requiresGrad) return;
        if (grad == null) grad = g.sameShape(value) && g.isF64() == value.isF64() ? g : copyInto(g);
        else grad.addInPlace(g);
    }

    private Tensor copyInto(Tensor g) {
        Tensor t = Tensor.zerosLike(value);
        t.addInPlace(g);
        return t;
    }

    public int[] shape() {
        return value.shape;
    }

    @Override
    public String toString() {
        return "Var" + value;
    }
}
