package org.gsa4j.autograd;

import org.gsa4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * Reverse-mode automatic differentiation by a tape: every differentiable function appends a
 * closure that, run later in reverse order, turns the gradients of its outputs into gradients of
 * its inputs. A disabled tape (inference) records nothing, so the same forward code serves
 * training and prefill.
 */
public final class Tape {
    private final List<Runnable> backward = new ArrayList<>();
    private final boolean enabled;

    private Tape(boolean enabled) {
        this.enabled = enabled;
    }

    /** A tape that records, for training. */
    public static Tape recording() {
        return new Tape(true);
    }

    /** A tape that records nothing, for inference. */
    public static Tape inference() {
        return new Tape(false);
    }

    public boolean enabled() {
        return enabled;
    }

    /** A leaf: a parameter (requiresGrad) or an input. */
    public Var leaf(Tensor value, boolean requiresGrad) {
        return new Var(value, requiresGrad && enabled);
    }

    /** A constant input. */
    public Var constant(Tensor value) {
        return new Var(value, false);
    }

    /** The result of a function of {@code inputs}: it needs a gradient iff any input does. */
    public Var result(Tensor value, Var... inputs) {
        boolean needs = false;
        if (enabled) for (Var v : inputs) needs |= v != null && v.requiresGrad;
        return new Var(value, needs);
    }

    /** Records the backward closure of a function whose output is {@code out}. */
    public void record(Var out, Runnable backwardStep) {
        if (enabled && out.requiresGrad) backward.add(backwardStep);
    }

    /** Back-propagates from a scalar loss (gradient 1). */
    public void backward(Var loss) {
        if (loss.value.size() != 1) throw new IllegalArgumentException("backward() needs a scalar, got " + loss.value);
        Tensor one = Tensor.zerosLike(loss.value);
        one.set(0, 1.0);
        loss.accumulate(one);
        for (int i = backward.size() - 1; i >= 0; i--) backward.get(i).run();
        backward.clear();
    }
}
