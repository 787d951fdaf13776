package org.gsa4j.layers;

/**
 * A parameter a module declares: its name (relative to the module), shape and initialisation
 * (docs/MATH.md#initialisation: matrices N(0, 0.02), norm weights 1, biases 0).
 */
public record ParamSpec(String name, int[] shape, Init init) {
    public enum Init { NORMAL, ONES, ZEROS }

    public static ParamSpec matrix(String name, int... shape) {
        return new ParamSpec(name, shape, Init.NORMAL);
    }

    public static ParamSpec ones(String name, int... shape) {
        return new ParamSpec(name, shape, Init.ONES);
    }

    public static ParamSpec zeros(String name, int... shape) {
        return new ParamSpec(name, shape, Init.ZEROS);
    }
}
