package org.gsa4j.ops;

import org.gsa4j.tensor.Parallel;
import org.gsa4j.tensor.Tensor;

/**
 * Mean cross-entropy of logits [N, V] against integer targets, skipping {@code ignoreIndex}:
 * {@code loss = (1/n) Σ (logsumexp(z_i) − z_i[y_i])}; the gradient is {@code (softmax(z_i) − onehot(y_i))/n}.
 * Log-sum-exp is max-subtracted and accumulated in double.
 */
public final class CrossEntropyOp {
    private CrossEntropyOp() {}

    public record Result(double loss, double[] logSumExp, int count) {}

    public static Result forward(Tensor logits, int[] targets, int ignoreIndex) {
        int n = targets.length, v = logits.size() / n;
        double[] lse = new double[n];
        double[] rowLoss = new double[n];
        Parallel.forRange(n, i -> {
            if (targets[i] == ignoreIndex) return;
            if (targets[i] < 0 || targets[i] >= v) {
                throw new IllegalArgumentException("target " + targets[i] + " outside the vocabulary [0, " + v + ")");
            }
            int o = i * v;
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < v; j++) max = Math.max(max, logits.get(o + j));
            double sum = 0;
            for (int j = 0; j < v; j++) sum += Math.exp(logits.get(o + j) - max);
            lse[i] = max + Math.log(sum);
            rowLoss[i] = lse[i] - logits.get(o + targets[i]);
        });
        double total = 0;
        int count = 0;
        for (int i = 0; i < n; i++) {
            if (targets[i] == ignoreIndex) continue;
            total += rowLoss[i];
            count++;
        }
        return new Result(count == 0 ? 0 : total / count, lse, count);
    }

    /** dlogits += scale · ∂loss/∂logits. */
    public static void backward(Tensor logits, int[] targets, int ignoreIndex, Result r, double scale, Tensor dlogits) {
        int n = targets.length, v = logits.size() / n;
        if (r.count() == 0) return;
        double c = scale / r.count();
        Parallel.forRange(n, i -> {
            if (targets[i] == ignoreIndex) return;
            int o = i * v;
            for (int j = 0; j < v; j++) {
                double p = Math.exp(logits.get(o + j) - r.logSumExp()[i]);
                dlogits.set(o + j, dlogits.get(o + j) + c * (p - (j == targets[i] ? 1 : 0)));
            }
        });
    }
}
