package org.gsa4j.io;

import org.gsa4j.Gsa4jException;
import org.gsa4j.tensor.Tensor;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The older flash-linear-attention checkpoint layouts of docs/MATH.md#checkpoint-layout (e.g. {@code fla-hub/gsa-*-100B}),
 * detected by tensor names and converted to the current names:
 * <ol>
 * <li>{@code norm_first}: {@code layers.i.attn.norm.weight → layers.i.attn_norm.weight},
 * {@code layers.i.mlp.norm.weight → layers.i.mlp_norm.weight};</li>
 * <li>fused MLP input projection: {@code mlp.gate_proj.weight [2I, d]} with no {@code up_proj} →
 * {@code gate_proj} = rows [0, I), {@code up_proj} = rows [I, 2I).</li>
 * </ol>
 * Names may carry any prefix (so {@code grad.model.layers.0.attn.norm.weight} converts too). The
 * conversion only renames and slices; it does not touch config values (note the 2024-11 → 2025-02
 * {@code mlp.norm} eps of 1e-5 mentioned in docs/MATH.md#checkpoint-layout, which a loader must take from the config era).
 */
public final class LegacyLayout {
    private LegacyLayout() {}

    private static final Pattern NORM = Pattern.compile("(.*layers\\.\\d+\\.)(attn|mlp)\\.norm\\.weight");
    private static final Pattern GATE = Pattern.compile("(.*layers\\.\\d+\\.mlp\\.)gate_proj\\.weight");

    /** True when the names show either older layout. */
    public static boolean isLegacy(Set<String> names) {
        for (String n : names) {
            if (NORM.matcher(n).matches()) return true;
            Matcher g = GATE.matcher(n);
            if (g.matches() && !names.contains(g.group(1) + "up_proj.weight")) return true;
        }
        return false;
    }

    /** All tensors of the directory as float32 in the current layout (a no-op rename for current checkpoints). */
    public static Map<String, Tensor> toCurrent(HfModelDir dir) {
        Map<String, Tensor> all = new LinkedHashMap<>();
        for (String n : dir.tensorNames()) all.put(n, dir.f32(n));
        return toCurrent(dir.weightsFile(), all);
    }

    /**
     * Converts {@code tensors} (in iteration order; converted names take their source's place).
     * {@code source} only names the checkpoint in error messages.
     */
    public static Map<String, Tensor> toCurrent(Path source, Map<String, Tensor> tensors) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            String n = e.getKey();
            Tensor t = e.getValue();
            Matcher m = NORM.matcher(n);
            Matcher g = GATE.matcher(n);
            if (m.matches()) {
                put(source, out, tensors, m.group(1) + m.group(2) + "_norm.weight", t, n);
            } else if (g.matches() && !tensors.containsKey(g.group(1) + "up_proj.weight")) {
                if (t.rank() != 2 || t.dim(0) % 2 != 0) {
                    throw Gsa4jException.at(source, n, "fused gate_proj must have shape [2I, d] (no up_proj present), found "
                            + Arrays.toString(t.shape));
                }
                int rows = t.dim(0) / 2, cols = t.dim(1);
                int half = rows * cols;
                Tensor gate = slice(t, 0, half, rows, cols), up = slice(t, half, half, rows, cols);
                put(source, out, tensors, n, gate, n);
                put(source, out, tensors, g.group(1) + "up_proj.weight", up, n);
            } else {
                if (out.containsKey(n)) throw Gsa4jException.at(source, n, "appears both in the old and the new layout");
                out.put(n, t);
            }
        }
        return out;
    }

    private static void put(Path source, Map<String, Tensor> out, Map<String, Tensor> in, String name, Tensor t, String from) {
        if (out.containsKey(name) || (!name.equals(from) && in.containsKey(name))) {
            throw Gsa4jException.at(source, from, "converts to '" + name + "', which the checkpoint also holds (mixed layouts)");
        }
        out.put(name, t);
    }

    private static Tensor slice(Tensor t, int off, int len, int rows, int cols) {
        return t.f != null ? Tensor.of(Arrays.copyOfRange(t.f, off, off + len), rows, cols)
                : Tensor.of(Arrays.copyOfRange(t.d, off, off + len), rows, cols);
    }
}
