package org.gsa4j.train.dist;

import org.gsa4j.Gsa4jException;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Where one process stands in a run of several: the variables {@code torchrun} sets, under the same names
 * ({@code RANK}, {@code LOCAL_RANK}, {@code WORLD_SIZE}, {@code LOCAL_WORLD_SIZE}, {@code MASTER_ADDR},
 * {@code MASTER_PORT}), so that scripts written for it read them unchanged.
 *
 * @param rank           this process's rank, 0 … worldSize−1 (rank 0 hosts the rendezvous and writes checkpoints)
 * @param localRank      its rank on this machine, which is also the GPU it uses
 * @param worldSize      ranks in all
 * @param localWorldSize ranks on this machine
 * @param masterAddr     the host rank 0 runs on (its rendezvous listens there)
 * @param masterPort     the rendezvous's TCP port
 */
public record RankEnv(int rank, int localRank, int worldSize, int localWorldSize, String masterAddr, int masterPort) {

    public static final String RANK = "RANK", LOCAL_RANK = "LOCAL_RANK", WORLD_SIZE = "WORLD_SIZE",
            LOCAL_WORLD_SIZE = "LOCAL_WORLD_SIZE", MASTER_ADDR = "MASTER_ADDR", MASTER_PORT = "MASTER_PORT";

    /** The port {@code torchrun} uses too when none is given. */
    public static final int DEFAULT_PORT = 29500;

    public RankEnv {
        if (worldSize < 1) throw new Gsa4jException(WORLD_SIZE + " must be at least 1, is " + worldSize);
        if (rank < 0 || rank >= worldSize) throw new Gsa4jException(RANK + " must be in 0.." + (worldSize - 1) + " (" + WORLD_SIZE + " " + worldSize + "), is " + rank);
        if (localWorldSize < 1 || localWorldSize > worldSize) {
            throw new Gsa4jException(LOCAL_WORLD_SIZE + " must be in 1.." + worldSize + " (" + WORLD_SIZE + "), is " + localWorldSize);
        }
        if (localRank < 0 || localRank >= localWorldSize) {
            throw new Gsa4jException(LOCAL_RANK + " must be in 0.." + (localWorldSize - 1) + " (" + LOCAL_WORLD_SIZE + " " + localWorldSize + "), is " + localRank);
        }
        if (masterAddr == null || masterAddr.isBlank()) throw new Gsa4jException(MASTER_ADDR + " must name rank 0's host");
        if (masterPort < 1 || masterPort > 65535) throw new Gsa4jException(MASTER_PORT + " must be a TCP port (1..65535), is " + masterPort);
    }

    /** A run of one process, with nothing to meet. */
    public static RankEnv single() {
        return new RankEnv(0, 0, 1, 1, "127.0.0.1", DEFAULT_PORT);
    }

    /**
     * This process's place read from {@code env}, or null when {@code RANK} is unset (a process started
     * by hand, not by a launcher). A set but malformed variable is one clear error naming it.
     */
    public static RankEnv fromEnvironment(Map<String, String> env) {
        if (env.get(RANK) == null) return null;
        int rank = integer(env, RANK, null);
        int world = integer(env, WORLD_SIZE, null);
        int localRank = integer(env, LOCAL_RANK, rank);
        int localWorld = integer(env, LOCAL_WORLD_SIZE, world);
        String addr = env.getOrDefault(MASTER_ADDR, "127.0.0.1");
        int port = integer(env, MASTER_PORT, DEFAULT_PORT);
        return new RankEnv(rank, localRank, world, localWorld, addr, port);
    }

    /** The variables a launcher sets for this rank (the inverse of {@link #fromEnvironment}). */
    public Map<String, String> toEnvironment() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put(RANK, Integer.toString(rank));
        m.put(LOCAL_RANK, Integer.toString(localRank));
        m.put(WORLD_SIZE, Integer.toString(worldSize));
        m.put(LOCAL_WORLD_SIZE, Integer.toString(localWorldSize));
        m.put(MASTER_ADDR, masterAddr);
        m.put(MASTER_PORT, Integer.toString(masterPort));
        return m;
    }

    /** "rank 2 of 4". */
    public String describe() {
        return "rank " + rank + " of " + worldSize;
    }

    private static int integer(Map<String, String> env, String name, Integer fallback) {
        String v = env.get(name);
        if (v == null || v.isBlank()) {
            if (fallback != null) return fallback;
            throw new Gsa4jException(name + " is not set (" + RANK + " is: a launcher sets both)");
        }
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new Gsa4jException(name + " must be an integer, is '" + v + "'");
        }
    }
}
