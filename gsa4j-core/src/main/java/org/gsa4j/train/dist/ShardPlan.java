package org.gsa4j.train.dist;

import org.gsa4j.Gsa4jException;

/**
 * Which micro-batches of each update a rank computes: the sharding rule of the token stream.
 *
 * <p>Training batches are a pure function of (seed, batch index) ({@link org.gsa4j.train.BatchSource}).
 * Update {@code s} consumes the batch indices {@code s·A … s·A+A−1}, where {@code A} is {@code grad_accum}:
 * the micro-batches per update over <em>all</em> ranks. With {@code W} ranks, each computes {@code A/W} of
 * them, a contiguous block: rank {@code r} takes {@code s·A + r·A/W + m} for {@code m = 0 … A/W−1}. So
 * <ul>
 *   <li>the ranks' shards are disjoint (every batch index belongs to exactly one rank) and together are
 *       exactly the update's global batch;</li>
 *   <li>the global batch of every update, and its order, do not depend on {@code W}: a run resumed with
 *       another number of ranks (from the checkpoint's step, which is all the data position there is)
 *       sees the batches the uninterrupted run would have;</li>
 *   <li>{@code W} ranks with {@code grad_accum = A} average the same {@code A} micro-batches as one rank
 *       with {@code grad_accum = A}: the loss curves agree up to the order of the floating-point sums.</li>
 * </ul>
 * {@code A} must be a multiple of {@code W}.
 *
 * @param rank       this rank
 * @param worldSize  ranks in all
 * @param gradAccum  micro-batches per update over all ranks ({@code grad_accum})
 */
public record ShardPlan(int rank, int worldSize, int gradAccum) {

    public ShardPlan {
        if (worldSize < 1 || rank < 0 || rank >= worldSize) throw new IllegalArgumentException("rank " + rank + " of " + worldSize);
        check(gradAccum, worldSize);
    }

    /** One rank doing every micro-batch. */
    public static ShardPlan single(int gradAccum) {
        return new ShardPlan(0, 1, gradAccum);
    }

    /** Fails with one line unless {@code grad_accum} splits evenly over the ranks. */
    public static void check(int gradAccum, int worldSize) {
        if (gradAccum < 1) throw new Gsa4jException("grad_accum must be at least 1, is " + gradAccum);
        if (gradAccum % worldSize != 0) {
            throw new Gsa4jException("grad_accum " + gradAccum + " does not split over " + worldSize + " ranks: it counts the micro-batches"
                    + " of an update over all ranks, so it must be a multiple of the number of ranks (e.g. --grad-accum "
                    + worldSize * Math.max(1, gradAccum / worldSize) + ")");
        }
    }

    /** Micro-batches this rank computes per update ({@code A/W}). */
    public int microBatchesPerRank() {
        return gradAccum / worldSize;
    }

    /** The batch index of this rank's micro-batch {@code micro} (0 … A/W−1) of update {@code step} (0-based). */
    public long batchIndex(long step, int micro) {
        if (micro < 0 || micro >= microBatchesPerRank()) throw new IllegalArgumentException("micro-batch " + micro + " of " + microBatchesPerRank());
        return step * gradAccum + (long) rank * microBatchesPerRank() + micro;
    }
}
