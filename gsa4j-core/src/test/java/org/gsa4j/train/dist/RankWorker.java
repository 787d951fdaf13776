package org.gsa4j.train.dist;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.config.ModelSize;
import org.gsa4j.data.Batcher;
import org.gsa4j.data.TokenFile;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.models.ModelRegistry;
import org.gsa4j.train.AdamW;
import org.gsa4j.train.Checkpoints;
import org.gsa4j.train.TrainConfig;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HexFormat;
import java.util.SplittableRandom;

/**
 * One rank of the process tests: the data-parallel run without the model's step. It joins the group, reads
 * its shard of every update, meets the other ranks after each update (where the gradient all-reduce makes
 * them wait for each other), and rank 0 writes checkpoints.
 * A resumed run starts at the newest checkpoint's step.
 *
 * <p>{@code RankWorker OUT DATA STEPS GRAD_ACCUM CHECKPOINT_EVERY [DIE_RANK DIE_STEP]}: writes
 * {@code OUT/rank-R.log} (its id, pid and every batch read) and, on rank 0, {@code OUT/checkpoints}. Rank
 * {@code DIE_RANK} dies abruptly (no goodbye, like a crash or a kill) before update {@code DIE_STEP}.
 */
public final class RankWorker {

    static final int BATCH = 2, SEQ = 8, VOCAB = 40;
    static final long SEED = 11;

    public static void main(String[] args) throws IOException {
        Path out = Path.of(args[0]);
        Path data = Path.of(args[1]);
        long steps = Long.parseLong(args[2]);
        int gradAccum = Integer.parseInt(args[3]);
        long checkpointEvery = Long.parseLong(args[4]);
        int dieRank = args.length > 5 ? Integer.parseInt(args[5]) : -1;
        long dieStep = args.length > 6 ? Long.parseLong(args[6]) : -1;

        RankEnv env = RankEnv.fromEnvironment(System.getenv());
        ProcessGroup group;
        try {
            group = ProcessGroup.join(env, RankWorker::randomId, ProcessGroup.Options.fromEnvironment(System.getenv()));
        } catch (RankFailedException e) {
            System.err.println("gsa4j: " + e.getMessage());
            System.exit(2);
            return;
        }
        Path log = out.resolve("rank-" + env.rank() + ".log");
        try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(log, StandardOpenOption.CREATE, StandardOpenOption.APPEND), true);
             TokenFile tokens = TokenFile.open(data)) {
            w.println("id " + HexFormat.of().formatHex(group.uniqueId()));
            w.println("pid " + ProcessHandle.current().pid());
            ShardPlan plan = group.shardPlan(gradAccum);
            Batcher batches = new Batcher(tokens, BATCH, SEQ, SEED);
            CausalLM model = ModelLoader.create(ModelRegistry.preset("gsa", new ModelSize(VOCAB, 16, 1, 2, 4, 32)).toJson(), SEED);
            TrainConfig cfg = TrainConfig.builder().steps(steps).batchSize(BATCH).seqLen(SEQ).gradAccum(gradAccum).seed(SEED).build();
            AdamW optimizer = AdamW.of(cfg, model.params());
            Path checkpoints = out.resolve("checkpoints");
            Path latest = Checkpoints.latest(checkpoints);
            long step = latest == null ? 0 : Checkpoints.stepOf(latest);
            for (; step < steps; step++) {
                group.checkAlive();
                if (env.rank() == dieRank && step == dieStep) Runtime.getRuntime().halt(1);
                for (int m = 0; m < plan.microBatchesPerRank(); m++) {
                    long index = plan.batchIndex(step, m);
                    w.println("batch " + step + " " + index + " " + java.util.Arrays.toString(batches.batch(index).starts()));
                }
                group.barrier();
                if (group.isWriter() && (step + 1) % checkpointEvery == 0) {
                    ObjectNode state = new ObjectMapper().createObjectNode().put("format", Checkpoints.FORMAT).put("version", 1)
                            .put("step", step + 1).put("world_size", group.worldSize());
                    state.set("train_config", cfg.toJson());
                    Checkpoints.save(checkpoints, step + 1, model, optimizer, state, null, 3);
                    w.println("checkpoint " + (step + 1));
                }
            }
            group.finish();
            w.println("done");
        } catch (RankFailedException e) {
            System.err.println("gsa4j: " + e.getMessage());
            group.close();
            System.exit(2);
        }
        System.exit(0);
    }

    /** Stands in for ncclGetUniqueId: 128 bytes that differ from run to run. */
    static byte[] randomId() {
        byte[] id = new byte[ProcessGroup.UNIQUE_ID_BYTES];
        new SplittableRandom(System.nanoTime()).nextBytes(id);
        return id;
    }
}
