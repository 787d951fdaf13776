package org.gsa4j.ops;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.tensor.Parallel;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.tensor.VectorOps;

/**
 * Mean cross-entropy of logits [N, V] against integer targets, skipping {@code ignoreIndex}:
 * {@code loss = (1/n) Σ (logsumexp(z_i) − z_i[y_i])}; the gradient is {@code (softmax(z_i) − onehot(y_i))/n}.
 * Log-sum-exp is max-subtracted and accumulated in double.
 */
public final class CrossEntropy {
    private CrossEntropy() {}

    /** Mean cross-entropy of logits [N, V] against targets (ignoreIndex entries skipped) on a tape: a scalar. */
    public static Var apply(Tape tape, Var logits, int[] targets, int ignoreIndex) {
        Result r = forward(logits.value, targets, ignoreIndex);
        Tensor loss = Tensor.zerosLike(logits.value, 1);
        loss.set(0, r.loss());
        Var out = tape.result(loss, logits);
        tape.record(out, () -> {
            Tensor g = out.grad();
            if (g == null) return;
            backward(logits.value, targets, ignoreIndex, r, g.get(0), logits.gradBuffer());
        });
        return out;
    }

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
            if (!logits.isF64()) {
                float max = VectorOps.max(logits.f, o, v);
                lse[i] = max + Math.log(sumExpShifted(logits.f, o, v, max));
                rowLoss[i] = lse[i] - logits.f[o + targets[i]];
                return;
            }
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

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    /** Σ e^{z_j − max}: float lanes within blocks of 16 vectors, the blocks added in double. */
    private static double sumExpShifted(float[] z, int off, int n, float max) {
        double sum = 0;
        int i = 0, L = S.length(), blk = 16 * L;
        for (; i <= n - blk; i += blk) {
            FloatVector acc = FloatVector.zero(S);
            for (int k = 0; k < blk; k += L) acc = acc.add(VectorOps.exp(FloatVector.fromArray(S, z, off + i + k).sub(max)));
            sum += VectorOps.sumLanes(acc);
        }
        for (; i < n; i++) sum += Math.exp(z[off + i] - max);
        return sum;
    }

    /** dz += c·e^{z − lse} over one row (the softmax part of the gradient). */
    private static void softmaxGradRow(float[] z, float[] dz, int off, int n, double lse, float c) {
        int i = 0, L = S.length();
        // z − lse is formed as (z − max) − (lse − max) would be; lse is within [max, max + log n], so float is exact enough.
        float l = (float) lse;
        float corr = (float) (lse - l);
        for (; i <= n - L; i += L) {
            FloatVector p = VectorOps.exp(FloatVector.fromArray(S, z, off + i).sub(l).sub(corr));
            p.fma(FloatVector.broadcast(S, c), FloatVector.fromArray(S, dz, off + i)).intoArray(dz, off + i);
        }
        for (; i < n; i++) dz[off + i] += (float) (c * Math.exp(z[off + i] - lse));
    }

    /** dlogits += scale · ∂loss/∂logits. */
    public static void backward(Tensor logits, int[] targets, int ignoreIndex, Result r, double scale, Tensor dlogits) {
        int n = targets.length, v = logits.size() / n;
        if (r.count() == 0) return;
        double c = scale / r.count();
        Parallel.forRange(n, i -> {
            if (targets[i] == ignoreIndex) return;
            int o = i * v;
            if (!logits.isF64() && !dlogits.isF64()) {
                softmaxGradRow(logits.f, dlogits.f, o, v, r.logSumExp()[i], (float) c);
                dlogits.f[o + targets[i]] -= (float) c;
                return;
            }
            for (int j = 0; j < v; j++) {
                double p = Math.exp(logits.get(o + j) - r.logSumExp()[i]);
                dlogits.set(o + j, dlogits.get(o + j) + c * (p - (j == targets[i] ? 1 : 0)));
            }
        });
    }
}
