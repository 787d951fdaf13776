package org.gsa4j.models;

import org.gsa4j.tensor.Tensor;

/**
 * The 2024 hub layout (SPEC §3.5): per-block norms stored inside the modules
 * ({@code attn.norm}, {@code mlp.norm}) and the MLP's gate and up projections fused into one
 * {@code gate_proj} of 2I rows (gate rows first).
 */
final class LegacyLayout {
    private LegacyLayout() {}

    /** The legacy tensor a current parameter comes from, or null. */
    static String sourceOf(String name) {
        if (name.endsWith(".attn_norm.weight")) return name.replace(".attn_norm.weight", ".attn.norm.weight");
        if (name.endsWith(".mlp_norm.weight")) return name.replace(".mlp_norm.weight", ".mlp.norm.weight");
        if (name.endsWith(".mlp.up_proj.weight")) return name.replace(".mlp.up_proj.weight", ".mlp.gate_proj.weight");
        return null;
    }

    /** The parameter {@code name} out of the stored tensor: a fused gate_proj (2I rows) gives its gate or up half. */
    static Tensor convert(String name, Tensor stored, int intermediate) {
        boolean fused = name.endsWith("_proj.weight") && name.contains(".mlp.") && stored.rank() == 2
                && stored.dim(0) == 2 * intermediate;
        if (!fused) return stored;
        int from = name.endsWith(".mlp.up_proj.weight") ? intermediate : 0;
        int cols = stored.dim(1);
        float[] out = new float[intermediate * cols];
        System.arraycopy(stored.f, from * cols, out, 0, out.length);
        return Tensor.of(out, intermediate, cols);
    }
}
