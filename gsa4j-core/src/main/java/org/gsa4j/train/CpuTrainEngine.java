package org.gsa4j.train;

import org.gsa4j.autograd.Tape;
import org.gsa4j.autograd.Var;
import org.gsa4j.models.CausalLM;
import org.gsa4j.ops.CrossEntropy;
import org.gsa4j.tensor.Parallel;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.tensor.VectorOps;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The CPU engine: forward on a recording tape, mean cross-entropy over the labelled positions, backward,
 * gradients summed in fixed blocks, then {@link AdamW} on the CPU model's own tensors. Its weights and
 * moments are the CPU model's and the optimizer's, so {@link #toHost} and {@link #fromHost} have nothing to do.
 */
final class CpuTrainEngine implements TrainEngine {
    /** Elements per parallel block of the gradient loops (fixed, so sums do not depend on the thread count). */
    private static final int BLOCK = 1 << 15;

    private final CausalLM model;
    private final TrainConfig config;
    private final AdamW optimizer;
    private final Set<String> trainable;

    CpuTrainEngine(CausalLM model, TrainConfig config, AdamW optimizer, Set<String> trainable) {
        this.model = model;
        this.config = config;
        this.optimizer = optimizer;
        this.trainable = trainable;
    }

    @Override
    public Update update(List<BatchSource.Batch> microBatches, double lr, Ranks ranks) {
        Map<String, float[]> grads = new LinkedHashMap<>();
        double lossSum = 0;
        for (BatchSource.Batch b : microBatches) lossSum += forwardBackward(b, grads, microBatches.size() == 1);
        if (ranks != null) {
            lossSum = ranks.sumLosses(lossSum);
            if (Double.isFinite(lossSum)) ranks.sumGradients(new ArrayList<>(grads.values()));
        }
        double loss = lossSum / config.gradAccum();
        double inv = 1.0 / config.gradAccum();
        double gradNorm = Math.sqrt(sumOfSquares(grads.values())) * inv;
        Update u = new Update(loss, gradNorm);
        if (!u.finite()) return u;
        double clip = config.clipGradNorm() > 0 && gradNorm > config.clipGradNorm() ? config.clipGradNorm() / (gradNorm + 1e-6) : 1.0;
        optimizer.step(model.params(), grads, lr, inv * clip);
        return u;
    }

    /** Forward and backward of one micro-batch; gradients are summed into {@code grads}. Returns the loss. */
    private double forwardBackward(BatchSource.Batch b, Map<String, float[]> grads, boolean only) {
        Tape tape = Tape.recording();
        Map<String, Var> vars = trainable.size() == model.params().size() ? model.bind(tape) : model.bind(tape, trainable::contains);
        Var logits = model.logits(tape, vars, b.inputs(), b.batchSize(), b.seqLen(), null);
        Var loss = CrossEntropy.apply(tape, logits, b.targets(), CausalLM.IGNORE_INDEX);
        double value = loss.value.get(0);
        if (!Double.isFinite(value)) return value;
        tape.backward(loss);
        for (Map.Entry<String, Var> e : vars.entrySet()) {
            Tensor g = e.getValue().grad();
            if (g == null) continue;
            float[] acc = grads.get(e.getKey());
            if (acc == null) grads.put(e.getKey(), only ? g.f : g.f.clone());
            else Parallel.forBlocks(acc.length, BLOCK, (from, to) -> VectorOps.add(acc, from, g.f, from, acc, from, to - from));
        }
        return value;
    }

    /** Σ x² over every gradient, in double: fixed blocks summed in parallel, then in order. */
    static double sumOfSquares(Collection<float[]> grads) {
        double total = 0;
        for (float[] g : grads) {
            int blocks = (g.length + BLOCK - 1) / BLOCK;
            double[] partial = new double[blocks];
            Parallel.forRange(blocks, b -> {
                int from = b * BLOCK;
                partial[b] = VectorOps.sumOfSquaresDouble(g, from, Math.min(g.length, from + BLOCK) - from);
            });
            for (double p : partial) total += p;
        }
        return total;
    }

    @Override
    public ScoringModel scoring() {
        return ScoringModel.of(model);
    }

    @Override
    public void toHost() {
        // the weights and moments are the CPU model's and the optimizer's already
    }

    @Override
    public void fromHost() {
        // the same
    }

    @Override
    public String device() {
        return "cpu";
    }

    @Override
    public void close() {
        // nothing held beyond the CPU model
    }
}
