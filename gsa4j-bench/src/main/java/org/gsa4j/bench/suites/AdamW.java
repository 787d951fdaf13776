package org.gsa4j.bench.suites;

import org.gsa4j.autograd.Var;
import org.gsa4j.tensor.Parallel;
import org.gsa4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A plain AdamW (decoupled weight decay, bias-corrected moments) with torch.optim.AdamW's update
 * rule, so the train suite times the same work as the peer's optimizer: for each parameter
 * {@code p ← p·(1 − lr·wd); m ← β1 m + (1−β1) g; v ← β2 v + (1−β2) g²;
 * p ← p − lr·(m/(1−β1ᵗ)) / (sqrt(v/(1−β2ᵗ)) + eps)}. Parameters are updated in parallel.
 */
final class AdamW {
    final double lr, beta1, beta2, eps, wd;
    private final Map<String, float[][]> moments = new HashMap<>();
    private int t;

    AdamW(double lr, double beta1, double beta2, double eps, double wd) {
        this.lr = lr;
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.wd = wd;
    }

    void step(Map<String, Tensor> params, Map<String, Var> vars) {
        t++;
        float c1 = (float) (1 - Math.pow(beta1, t)), c2 = (float) (1 - Math.pow(beta2, t));
        List<String> names = new ArrayList<>(params.keySet());
        for (String n : names) moments.computeIfAbsent(n, k -> new float[][]{new float[params.get(k).size()], new float[params.get(k).size()]});
        float b1 = (float) beta1, b2 = (float) beta2, fl = (float) lr, fe = (float) eps, decay = (float) (1 - lr * wd);
        Parallel.forRange(names.size(), i -> {
            String n = names.get(i);
            Tensor g = vars.get(n).grad();
            if (g == null) return;
            float[] p = params.get(n).f, gf = g.f, m = moments.get(n)[0], v = moments.get(n)[1];
            for (int j = 0; j < p.length; j++) {
                float gj = gf[j];
                m[j] = b1 * m[j] + (1 - b1) * gj;
                v[j] = b2 * v[j] + (1 - b2) * gj * gj;
                float denom = (float) Math.sqrt(v[j] / c2) + fe;
                p[j] = p[j] * decay - fl * (m[j] / c1) / denom;
            }
        });
    }
}
