package org.gsa4j.train;

import org.gsa4j.models.CausalLM;

import java.util.List;

/**
 * Where a {@link Trainer}'s updates are computed: the CPU engine (the default: the recording tape and
 * {@link AdamW} on the CPU model's own tensors) or a GPU's (in the gsa4j-cuda module). The trainer keeps
 * the loop, the schedule, the data, the checks, the checkpoints and the metrics; the engine keeps the
 * weights and the optimizer's moments where it computes, and brings them to the CPU model and its
 * {@link AdamW} when a checkpoint is written ({@link #toHost}), and takes them from there after a resume
 * ({@link #fromHost}). Checkpoints are therefore the same whatever the engine: a run continues on another.
 */
public interface TrainEngine extends AutoCloseable {

    /** One update's mean loss over its micro-batches and its gradient norm before clipping. */
    record Update(double loss, double gradNorm) {
        public boolean finite() {
            return Double.isFinite(loss) && Double.isFinite(gradNorm);
        }
    }

    /** How the ranks of a group combine an update (given by the trainer; null when training alone). */
    interface Ranks {
        /** This rank's sum of micro-batch losses, summed over the ranks (a non-finite one anywhere is everyone's). */
        double sumLosses(double local);

        /** Sums every rank's gradients in place; called only when the summed loss is finite. */
        void sumGradients(List<float[]> gradients);
    }

    /** Makes the engine of a run from the CPU model and optimizer as they are now (fresh, or just resumed). */
    @FunctionalInterface
    interface Factory {
        TrainEngine create(CausalLM model, TrainConfig config, AdamW optimizer);
    }

    /**
     * One update: forward and backward of every micro-batch, their gradients summed (and over the ranks),
     * the global norm √(Σ g²)/A (A = {@code grad_accum}) clipped to {@code clip_grad_norm}, one AdamW step at
     * {@code lr}. When the loss or the norm is not finite, nothing is changed and the update says so.
     */
    Update update(List<BatchSource.Batch> microBatches, double lr, Ranks ranks);

    /** The model as validation sees it, computed where the engine computes. */
    ScoringModel scoring();

    /** Writes the weights into the CPU model and the moments and update count into its AdamW. */
    void toHost();

    /** Takes the weights from the CPU model and the moments and update count from its AdamW (after a resume). */
    void fromHost();

    /** Where it computes, for logs and the trainer state, e.g. {@code cpu} or {@code cuda:0 (NVIDIA H200)}. */
    String device();

    /** Frees what the engine holds (device memory); the CPU model and its AdamW stay usable. */
    @Override
    void close();
}
