/**
 * Data-parallel runs over several processes (ranks), as {@code torchrun} starts them: the
 * {@link org.gsa4j.train.dist.Launcher} starts one process per rank with its {@link org.gsa4j.train.dist.RankEnv}
 * in the environment, the ranks meet in a {@link org.gsa4j.train.dist.ProcessGroup} (rank 0 hands out the
 * NCCL unique id over TCP and watches every rank's heartbeat), and the {@link org.gsa4j.train.dist.ShardPlan}
 * says which micro-batches of each update a rank computes. The gradient all-reduce itself is NCCL's, on the
 * GPU; the CPU trainer trains with one rank (docs/TRAINING.md, "Several GPUs").
 */
package org.gsa4j.train.dist;
