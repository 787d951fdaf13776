package org.gsa4j.train.dist;

import org.gsa4j.Gsa4jException;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.*;

/** The sharding rule: disjoint shards, the whole global batch, the same for every number of ranks. */
class ShardPlanTest {

    /** The batch indices of update {@code step} over all ranks, rank by rank. */
    static List<Long> globalBatch(int world, int gradAccum, long step) {
        List<Long> all = new ArrayList<>();
        for (int r = 0; r < world; r++) {
            ShardPlan p = new ShardPlan(r, world, gradAccum);
            for (int m = 0; m < p.microBatchesPerRank(); m++) all.add(p.batchIndex(step, m));
        }
        return all;
    }

    @Test
    void shardsAreDisjointAndMakeTheSameGlobalBatchForEveryWorldSize() {
        int a = 12;
        Set<Long> seen = new HashSet<>();
        for (long step = 0; step < 5; step++) {
            List<Long> one = globalBatch(1, a, step);
            for (int world : new int[] {2, 3, 4, 6, 12}) assertEquals(one, globalBatch(world, a, step), "world " + world + " step " + step);
            for (long i : one) assertTrue(seen.add(i), "batch index " + i + " used twice");
        }
        assertEquals(60, seen.size());
        // one rank is the trainer's old rule: update s, micro-batch m -> s*A + m
        ShardPlan single = ShardPlan.single(3);
        assertEquals(7 * 3 + 2, single.batchIndex(7, 2));
        // rank 1 of 2 with A = 4 takes the second half of each update
        ShardPlan r1 = new ShardPlan(1, 2, 4);
        assertEquals(List.of(10L, 11L), List.of(r1.batchIndex(2, 0), r1.batchIndex(2, 1)));
    }

    @Test
    void gradAccumMustSplitOverTheRanks() {
        Gsa4jException e = assertThrows(Gsa4jException.class, () -> new ShardPlan(0, 2, 3));
        assertTrue(e.getMessage().contains("grad_accum 3 does not split over 2 ranks") && e.getMessage().contains("--grad-accum 2"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new ShardPlan(0, 2, 2).batchIndex(0, 1));
        assertThrows(IllegalArgumentException.class, () -> new ShardPlan(2, 2, 2));
    }

    @Test
    void rankEnvironmentRoundTripsAndNamesABadVariable() {
        RankEnv env = new RankEnv(5, 1, 8, 4, "node0", 29501);
        assertEquals(env, RankEnv.fromEnvironment(env.toEnvironment()));
        assertNull(RankEnv.fromEnvironment(Map.of()));
        assertEquals(new RankEnv(1, 1, 2, 2, "127.0.0.1", RankEnv.DEFAULT_PORT), RankEnv.fromEnvironment(Map.of("RANK", "1", "WORLD_SIZE", "2")));
        assertTrue(assertThrows(Gsa4jException.class, () -> RankEnv.fromEnvironment(Map.of("RANK", "1"))).getMessage().contains("WORLD_SIZE is not set"));
        assertTrue(assertThrows(Gsa4jException.class, () -> RankEnv.fromEnvironment(Map.of("RANK", "x", "WORLD_SIZE", "2")))
                .getMessage().contains("RANK must be an integer, is 'x'"));
        assertTrue(assertThrows(Gsa4jException.class, () -> RankEnv.fromEnvironment(Map.of("RANK", "2", "WORLD_SIZE", "2")))
                .getMessage().contains("RANK must be in 0..1"));
    }
}
