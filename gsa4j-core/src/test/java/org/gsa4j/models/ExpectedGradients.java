package org.gsa4j.models;

import org.gsa4j.autograd.Var;
import org.gsa4j.io.SafeTensors;
import org.gsa4j.tensor.Tensor;

import java.nio.file.Path;
import java.util.Map;

/** Maps the reference's gradient names (current or 2024 hub layout) onto our parameters' gradients. */
final class ExpectedGradients {
    private ExpectedGradients() {}

    static Tensor ours(String param, int[] expectedShape, Map<String, Var> p) {
        Var v = p.get(param);
        if (v != null && param.endsWith(".mlp.gate_proj.weight") && expectedShape[0] == 2 * v.value.dim(0)) {
            return fusedGateUp(p, param);
        }
        if (v != null) return grad(v);
        if (param.endsWith(".attn.norm.weight")) return grad(p.get(param.replace(".attn.norm.weight", ".attn_norm.weight")));
        if (param.endsWith(".mlp.norm.weight")) return grad(p.get(param.replace(".mlp.norm.weight", ".mlp_norm.weight")));
        throw new AssertionError("no parameter for reference gradient " + param);
    }

    /** Fused legacy gate_proj gradient: our gate rows, then our up rows. */
    static Tensor fusedGateUp(Map<String, Var> p, String gateName) {
        Tensor gate = grad(p.get(gateName));
        Tensor up = grad(p.get(gateName.replace(".mlp.gate_proj.weight", ".mlp.up_proj.weight")));
        float[] out = new float[gate.size() + up.size()];
        System.arraycopy(gate.f, 0, out, 0, gate.size());
        System.arraycopy(up.f, 0, out, gate.size(), up.size());
        return Tensor.of(out, gate.dim(0) + up.dim(0), gate.dim(1));
    }

    private static Tensor grad(Var v) {
        if (v == null) throw new AssertionError("missing parameter");
        return v.grad() == null ? Tensor.zerosLike(v.value) : v.grad();
    }

    static int storedTensorCount(Path dir) {
        try (SafeTensors st = SafeTensors.open(dir.resolve("model.safetensors"))) {
            return st.names().size();
        }
    }
}
