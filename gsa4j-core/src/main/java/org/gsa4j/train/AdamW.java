package org.gsa4j.train;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;
import org.gsa4j.Gsa4jException;
import org.gsa4j.io.SafeTensors;
import org.gsa4j.tensor.Parallel;
import org.gsa4j.tensor.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * AdamW (Loshchilov &amp; Hutter) exactly as {@code torch.optim.AdamW}: for each parameter with gradient g,
 * <pre>
 *   p ← p − lr·wd·p                      (decoupled decay; only where {@link #decays} says so)
 *   m ← β1·m + (1 − β1)·g
 *   v ← β2·v + (1 − β2)·g²
 *   p ← p − lr · (m / (1 − β1ᵗ)) / (sqrt(v / (1 − β2ᵗ)) + ε)
 * </pre>
 * Moments are float32 (saved and restored bit-exactly); the arithmetic of one element is done in
 * double, in a fixed order, so an update is deterministic. The update runs on double vectors over
 * fixed blocks of each parameter, in parallel: the same IEEE operations in the same order as the
 * scalar formula above, so the result does not depend on the vector width or the thread count.
 */
public final class AdamW {
    private final double beta1, beta2, eps, weightDecay;
    private final Predicate<String> decays;
    private final Map<String, float[]> m = new LinkedHashMap<>();
    private final Map<String, float[]> v = new LinkedHashMap<>();
    private long t;

    public AdamW(double beta1, double beta2, double eps, double weightDecay, Predicate<String> decays) {
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        this.decays = decays;
    }

    public static AdamW of(TrainConfig c, Map<String, Tensor> params) {
        Predicate<String> decays = c.decayNormsAndEmbeddings() ? n -> true : defaultDecayRule(params);
        return new AdamW(c.beta1(), c.beta2(), c.eps(), c.weightDecay(), decays);
    }

    /**
     * The usual rule: matrices (rank ≥ 2) decay; norm weights, biases (rank 1), embeddings and
     * per-layer bound tables (HGRN2's {@code lower_bounds}) do not.
     */
    public static Predicate<String> defaultDecayRule(Map<String, Tensor> params) {
        return name -> {
            Tensor p = params.get(name);
            if (p == null || p.rank() < 2) return false;
            String n = name.toLowerCase(java.util.Locale.ROOT);
            return !(n.contains("embed") || n.contains("norm") || n.endsWith("bias") || n.contains("lower_bounds"));
        };
    }

    public boolean decays(String name) {
        return decays.test(name);
    }

    /** Updates taken so far. */
    public long stepCount() {
        return t;
    }

    /**
     * One update of every parameter that has a gradient; gradients are multiplied by {@code gradScale}
     * first (the clipping factor). Parameters without a gradient are left alone (moments too).
     */
    public void step(Map<String, Tensor> params, Map<String, float[]> grads, double lr, double gradScale) {
        t++;
        double bc1 = 1 - Math.pow(beta1, t), bc2 = 1 - Math.pow(beta2, t);
        // One parallel job over the fixed blocks of all parameters (not one per parameter).
        List<float[][]> arrays = new ArrayList<>();  // {p, g, m, v} of each parameter updated
        List<Double> decayOf = new ArrayList<>();
        int[] firstBlock = new int[params.size() + 1];
        for (Map.Entry<String, Tensor> e : params.entrySet()) {
            float[] g = grads.get(e.getKey());
            if (g == null) continue;
            float[] p = e.getValue().f;
            if (p == null) throw new IllegalArgumentException("AdamW needs float32 parameters: " + e.getKey());
            if (g.length != p.length) throw new IllegalArgumentException("gradient size mismatch for " + e.getKey());
            float[] mm = m.computeIfAbsent(e.getKey(), k -> new float[p.length]);
            float[] vv = v.computeIfAbsent(e.getKey(), k -> new float[p.length]);
            decayOf.add(decays.test(e.getKey()) ? 1 - lr * weightDecay : 1);
            firstBlock[arrays.size() + 1] = firstBlock[arrays.size()] + (p.length + BLOCK - 1) / BLOCK;
            arrays.add(new float[][] {p, g, mm, vv});
        }
        int count = arrays.size();
        Parallel.forRange(firstBlock[count], block -> {
            int i = Arrays.binarySearch(firstBlock, 0, count + 1, block);
            if (i < 0) i = -i - 2;
            while (firstBlock[i + 1] == block) i++; // (parameters of zero elements have no block)
            float[][] a = arrays.get(i);
            int from = (block - firstBlock[i]) * BLOCK, to = Math.min(a[0].length, from + BLOCK);
            update(a[0], a[1], a[2], a[3], from, to, gradScale, decayOf.get(i), lr, bc1, bc2);
        });
    }

    private static final VectorSpecies<Double> D = DoubleVector.SPECIES_PREFERRED;
    /** Floats as many (in lanes) as one double vector. */
    private static final VectorSpecies<Float> FD = VectorSpecies.of(float.class, VectorShape.forBitSize(Math.max(64, D.vectorBitSize() / 2)));
    /** Elements per parallel block. */
    private static final int BLOCK = 1 << 14;

    /** Elements [from, to) of one parameter: the scalar formula of the class comment, lane by lane. */
    private void update(float[] p, float[] g, float[] mm, float[] vv, int from, int to,
                        double gradScale, double decay, double lr, double bc1, double bc2) {
        int i = from;
        if (FD.length() == D.length()) {
            for (int upper = from + D.loopBound(to - from); i < upper; i += D.length()) {
                DoubleVector gi = ((DoubleVector) FloatVector.fromArray(FD, g, i).convertShape(VectorOperators.F2D, D, 0)).mul(gradScale);
                DoubleVector mi = ((DoubleVector) FloatVector.fromArray(FD, mm, i).convertShape(VectorOperators.F2D, D, 0)).mul(beta1).add(gi.mul(1 - beta1));
                DoubleVector vi = ((DoubleVector) FloatVector.fromArray(FD, vv, i).convertShape(VectorOperators.F2D, D, 0)).mul(beta2).add(gi.mul(1 - beta2).mul(gi));
                FloatVector mf = (FloatVector) mi.convertShape(VectorOperators.D2F, FD, 0);
                FloatVector vf = (FloatVector) vi.convertShape(VectorOperators.D2F, FD, 0);
                mf.intoArray(mm, i);
                vf.intoArray(vv, i);
                DoubleVector mHat = ((DoubleVector) mf.convertShape(VectorOperators.F2D, D, 0)).div(bc1);
                DoubleVector vHat = ((DoubleVector) vf.convertShape(VectorOperators.F2D, D, 0)).div(bc2);
                DoubleVector delta = mHat.mul(lr).div(vHat.sqrt().add(eps));
                DoubleVector pi = ((DoubleVector) FloatVector.fromArray(FD, p, i).convertShape(VectorOperators.F2D, D, 0)).mul(decay);
                ((FloatVector) pi.sub(delta).convertShape(VectorOperators.D2F, FD, 0)).intoArray(p, i);
            }
        }
        for (; i < to; i++) {
            double gi = g[i] * gradScale;
            double mi = beta1 * mm[i] + (1 - beta1) * gi;
            double vi = beta2 * vv[i] + (1 - beta2) * gi * gi;
            mm[i] = (float) mi;
            vv[i] = (float) vi;
            double pi = p[i] * decay;
            p[i] = (float) (pi - lr * (mm[i] / bc1) / (Math.sqrt(vv[i] / bc2) + eps));
        }
    }

    /** The moments as tensors named {@code exp_avg.NAME} / {@code exp_avg_sq.NAME} (shapes of the params). */
    public Map<String, Tensor> stateTensors(Map<String, Tensor> params) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : params.entrySet()) {
            float[] mm = m.get(e.getKey()), vv = v.get(e.getKey());
            if (mm == null) continue;
            out.put("exp_avg." + e.getKey(), Tensor.of(mm, e.getValue().shape));
            out.put("exp_avg_sq." + e.getKey(), Tensor.of(vv, e.getValue().shape));
        }
        return out;
    }

    public void save(Path file, Map<String, Tensor> params) {
        SafeTensors.write(file, stateTensors(params), SafeTensors.DType.F32,
                Map.of("format", "gsa4j-adamw", "step", Long.toString(t)));
    }

    /** Restores moments and step count from {@link #save}'s file; every tensor must belong to a parameter with its shape. */
    public void load(Path file, Map<String, Tensor> params) {
        try (SafeTensors st = SafeTensors.open(file)) {
            String step = st.metadata().get("step");
            if (step == null || !"gsa4j-adamw".equals(st.metadata().get("format"))) {
                throw Gsa4jException.at(file, null, "not a gsa4j AdamW state (metadata format/step missing)");
            }
            long count;
            try {
                count = Long.parseLong(step);
            } catch (NumberFormatException e) {
                throw Gsa4jException.at(file, null, "metadata step is not an integer: " + step);
            }
            Map<String, Tensor> state = new LinkedHashMap<>();
            for (String n : st.names()) state.put(n, st.f32(n));
            restore(state, count, params, (n, problem) -> Gsa4jException.at(file, n, problem));
        }
    }

    /**
     * Sets the moments and the update count, e.g. to those another engine computed (a GPU's): {@code state}
     * holds {@link #stateTensors}' tensors ({@code exp_avg.NAME}, {@code exp_avg_sq.NAME}), each of its
     * parameter's shape; parameters it does not name get no moments, as before their first update. The
     * tensors are copied.
     */
    public void restore(Map<String, Tensor> state, long step, Map<String, Tensor> params) {
        restore(state, step, params, (n, problem) -> new Gsa4jException("optimizer state: " + (n == null ? "" : n + ": ") + problem));
    }

    private void restore(Map<String, Tensor> state, long step, Map<String, Tensor> params,
                         java.util.function.BiFunction<String, String, Gsa4jException> error) {
        if (step < 0) throw error.apply(null, "negative step " + step);
        Map<String, float[]> first = new LinkedHashMap<>(), second = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : state.entrySet()) {
            String n = e.getKey();
            boolean isFirst = n.startsWith("exp_avg.");
            if (!isFirst && !n.startsWith("exp_avg_sq.")) throw error.apply(n, "unexpected tensor in the optimizer state");
            String param = n.substring(isFirst ? "exp_avg.".length() : "exp_avg_sq.".length());
            Tensor p = params.get(param);
            if (p == null) throw error.apply(n, "optimizer state for a parameter the model does not have");
            Tensor s = e.getValue();
            if (!Arrays.equals(s.shape, p.shape)) {
                throw error.apply(n, "shape " + Arrays.toString(s.shape) + " != parameter " + Arrays.toString(p.shape));
            }
            if (s.f == null) throw error.apply(n, "the moments must be float32");
            (isFirst ? first : second).put(param, s.f.clone());
        }
        if (!first.keySet().equals(second.keySet())) throw error.apply(null, "exp_avg and exp_avg_sq name different parameters");
        m.clear();
        v.clear();
        m.putAll(first);
        v.putAll(second);
        t = step;
    }
}
