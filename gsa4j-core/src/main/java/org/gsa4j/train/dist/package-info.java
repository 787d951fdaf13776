/**
 * Data-parallel runs over several processes (ranks), as {@code torchrun} starts them: the
 * {@link org.gsa4j.train.dist.Launcher} starts one process per rank with its {@link org.gsa4j.train.dist.RankEnv}
 * in the environment, the ranks meet in a {@link org.gsa4j.train.dist.ProcessGroup} (rank 0 hands out the
 * NCCL unique id over TCP and watches every rank's heartbeat), and the {@link org.gsa4j.train.dist.ShardPlan}
 * says which micro-batches of each update a rank computes. The ranks sum their gradients with
 * {@link org.gsa4j.train.dist.ProcessGroup#allReduceSum} on the CPU (over the same TCP links); on GPUs that is
 * NCCL's all-reduce (docs/TRAINING.md, "Several processes and GPUs").
 */
package org.gsa4j.train.dist;
