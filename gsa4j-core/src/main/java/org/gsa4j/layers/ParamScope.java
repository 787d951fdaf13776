package org.gsa4j.layers;

import org.gsa4j.autograd.Var;

import java.util.Map;

/** The parameters of one module: a view of the model's name → value map under a name prefix. */
public record ParamScope(Map<String, Var> vars, String prefix) {

    public Var get(String name) {
        Var v = vars.get(prefix + name);
        if (v == null) throw new IllegalStateException("missing parameter " + prefix + name);
        return v;
    }

    /** The parameter, or null when this configuration has none by that name. */
    public Var optional(String name) {
        return vars.get(prefix + name);
    }

    public ParamScope child(String name) {
        return new ParamScope(vars, prefix + name);
    }
}
