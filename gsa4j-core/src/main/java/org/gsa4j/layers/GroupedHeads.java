package org.gsa4j.layers;

import org.gsa4j.tensor.VectorOps;

import java.util.ArrayList;
import java.util.List;

/**
 * Grouped-query expansion in a single-token stepper: each registered buffer [rows, Hkv, D] gets a
 * companion [rows, Hkv·G, D] in which query head i reads kv head ⌊i/G⌋; with G = 1 the buffer is
 * its own expansion and nothing is copied.
 */
final class GroupedHeads {
    private final int kvHeads, groups;
    private final List<float[]> sources = new ArrayList<>(), targets = new ArrayList<>();
    private final List<Integer> widths = new ArrayList<>();

    GroupedHeads(int kvHeads, int groups) {
        this.kvHeads = kvHeads;
        this.groups = groups;
    }

    /** The expanded buffer of {@code x} (heads of {@code width} values): {@code x} itself when G = 1. */
    float[] of(float[] x, int width) {
        if (groups == 1) return x;
        float[] y = new float[x.length * groups];
        sources.add(x);
        targets.add(y);
        widths.add(width);
        return y;
    }

    /** Copies the first {@code rows} rows of every registered buffer into its expansion. */
    void expand(int rows) {
        for (int i = 0; i < sources.size(); i++) VectorOps.repeatHeads(sources.get(i), rows, kvHeads, widths.get(i), groups, targets.get(i));
    }
}
