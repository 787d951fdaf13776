package org.gsa4j.layers;

import org.gsa4j.autograd.Functions;
import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;

import java.util.List;

/** The SwiGLU channel mixer: {@code down(silu(gate x) ⊙ up x)} (docs/MATH.md#swiglu-mlp). */
public final class GatedMlp {
    private final int hidden;
    private final int intermediate;

    public GatedMlp(int hidden, int intermediate) {
        this.hidden = hidden;
        this.intermediate = intermediate;
    }

    public List<ParamSpec> params() {
        return List.of(ParamSpec.matrix("gate_proj.weight", intermediate, hidden),
                ParamSpec.matrix("up_proj.weight", intermediate, hidden),
                ParamSpec.matrix("down_proj.weight", hidden, intermediate));
    }

    public Var forward(Tape tape, ParamScope p, Var x) {
        Var gate = Functions.linear(tape, x, p.get("gate_proj.weight"));
        Var up = Functions.linear(tape, x, p.get("up_proj.weight"));
        return Functions.linear(tape, Functions.swiglu(tape, gate, up), p.get("down_proj.weight"));
    }
}
