package org.gsa4j.autograd;

import org.gsa4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;
import java.util.function.BiFunction;

/**
 * Finite-difference gradient checking in float64: compares the tape's gradients of a scalar
 * function with central differences {@code (f(x+h) − f(x−h)) / 2h}, element by element.
 */
public final class GradCheck {
    private GradCheck() {}

    /**
     * Returns, per input, ‖analytic − numeric‖ / ‖numeric‖. Inputs must be float64; {@code fn}
     * builds the scalar loss on the given tape from the leaves (one per input, in order).
     */
    public static double[] relativeErrors(List<Tensor> inputs, BiFunction<Tape, List<Var>, Var> fn, double h) {
        for (Tensor t : inputs) if (!t.isF64()) throw new IllegalArgumentException("gradient checks run in float64");
        Tape tape = Tape.recording();
        List<Var> leaves = new ArrayList<>();
        for (Tensor t : inputs) leaves.add(tape.leaf(t, true));
        tape.backward(fn.apply(tape, leaves));
        double[] errors = new double[inputs.size()];
        for (int p = 0; p < inputs.size(); p++) {
            Tensor x = inputs.get(p);
            Tensor analytic = leaves.get(p).grad() == null ? Tensor.zerosLike(x) : leaves.get(p).grad();
            Tensor numeric = Tensor.zerosLike(x);
            for (int i = 0; i < x.size(); i++) {
                double orig = x.d[i];
                x.d[i] = orig + h;
                double up = evaluate(inputs, fn);
                x.d[i] = orig - h;
                double down = evaluate(inputs, fn);
                x.d[i] = orig;
                numeric.d[i] = (up - down) / (2 * h);
            }
            errors[p] = Tensor.relErr(analytic, numeric);
        }
        return errors;
    }

    private static double evaluate(List<Tensor> inputs, BiFunction<Tape, List<Var>, Var> fn) {
        Tape tape = Tape.inference();
        List<Var> leaves = new ArrayList<>();
        for (Tensor t : inputs) leaves.add(tape.leaf(t, false));
        return fn.apply(tape, leaves).value.get(0);
    }
}
