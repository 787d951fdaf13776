package org.gsa4j.train.dist;

import org.gsa4j.Gsa4jException;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * Starts the ranks of one machine, as {@code torchrun} does: {@code nprocPerNode} processes, each with its
 * {@link RankEnv} in the environment ({@code RANK = nodeRank · nprocPerNode + LOCAL_RANK}) and
 * {@code NCCL_NVLS_ENABLE=0} (NVLink multicast stays off), then waits for them. With several ranks, each
 * line a rank prints is prefixed with {@code [rank N]}; with one, the process has the launcher's terminal.
 *
 * <p>When a rank fails, the others end by themselves within seconds, each with the line that names it
 * ({@link ProcessGroup}); any still running {@code grace} later are stopped (SIGTERM, then SIGKILL). The
 * launcher's exit status is the first failing rank's, or 0. Stopping the launcher (Ctrl-C, SIGTERM)
 * stops its ranks the same way, and waits for them.
 */
public final class Launcher {

    /** What every rank inherits so that NCCL never sets up NVLink multicast (NVLS). */
    public static final Map<String, String> NCCL_ENVIRONMENT = Map.of("NCCL_NVLS_ENABLE", "0");

    /**
     * The run's shape, as the command line gives it.
     *
     * @param nprocPerNode ranks on this machine
     * @param nnodes       machines
     * @param nodeRank     this machine's number, 0 … nnodes−1 (machine 0 runs rank 0)
     * @param masterAddr   rank 0's host
     * @param masterPort   the rendezvous port; 0: a free one, chosen here (one machine only)
     */
    public record Spec(int nprocPerNode, int nnodes, int nodeRank, String masterAddr, int masterPort) {
        public Spec {
            if (nprocPerNode < 1) throw new Gsa4jException("--nproc-per-node must be at least 1, is " + nprocPerNode);
            if (nnodes < 1) throw new Gsa4jException("--nnodes must be at least 1, is " + nnodes);
            if (nodeRank < 0 || nodeRank >= nnodes) throw new Gsa4jException("--node-rank must be in 0.." + (nnodes - 1) + " (--nnodes " + nnodes + "), is " + nodeRank);
            if (masterAddr == null || masterAddr.isBlank()) throw new Gsa4jException("--master-addr must name the host of rank 0");
            if (masterPort < 0 || masterPort > 65535) throw new Gsa4jException("--master-port must be a TCP port (1..65535), is " + masterPort);
            if (masterPort == 0 && nnodes > 1) {
                throw new Gsa4jException("--master-port: a run over " + nnodes + " machines needs the same port given on every machine");
            }
        }

        public int worldSize() {
            return nprocPerNode * nnodes;
        }

        /** The environment of local rank {@code localRank}; {@code port} replaces a port of 0. */
        RankEnv rank(int localRank, int port) {
            return new RankEnv(nodeRank * nprocPerNode + localRank, localRank, worldSize(), nprocPerNode, masterAddr, port);
        }
    }

    /** The JVM's notice on every start, dropped from the ranks' output as the {@code gsa4j} script drops it. */
    private static final String INCUBATOR_NOTICE = "WARNING: Using incubator modules: jdk.incubator.vector";

    private Launcher() {}

    /**
     * Starts this machine's ranks and waits for them.
     *
     * @param spec     the run's shape
     * @param command  the command of one rank (it reads its place from the environment)
     * @param env      more environment variables for every rank (may be empty)
     * @param grace    how long the other ranks get to end by themselves after one failed
     * @param out      where the ranks' standard output goes
     * @param err      where their standard error and the launcher's own lines go
     * @return 0 when every rank succeeded, else the exit status of the first that failed
     */
    public static int run(Spec spec, Function<RankEnv, List<String>> command, Map<String, String> env, Duration grace,
                          PrintStream out, PrintStream err) {
        int port = spec.masterPort() != 0 ? spec.masterPort() : freePort(spec.masterAddr());
        boolean prefix = spec.worldSize() > 1;
        List<Process> ranks = new ArrayList<>();
        List<Thread> pumps = new ArrayList<>();
        Thread stopper = new Thread(() -> stopAll(ranks, Duration.ofMinutes(10)), "gsa4j-launcher-stop");
        Runtime.getRuntime().addShutdownHook(stopper);
        try {
            for (int local = 0; local < spec.nprocPerNode(); local++) {
                RankEnv r = spec.rank(local, port);
                ProcessBuilder pb = new ProcessBuilder(command.apply(r));
                pb.environment().putAll(env);
                pb.environment().putAll(NCCL_ENVIRONMENT);
                pb.environment().putAll(r.toEnvironment());
                if (prefix) {
                    pb.redirectInput(ProcessBuilder.Redirect.INHERIT);
                } else {
                    pb.inheritIO();
                }
                Process p;
                try {
                    p = pb.start();
                } catch (IOException e) {
                    throw new Gsa4jException("could not start " + r.describe() + " (" + pb.command().getFirst() + "): " + e.getMessage(), e);
                }
                synchronized (ranks) {
                    ranks.add(p);
                }
                if (prefix) {
                    pumps.add(pump(p.getInputStream(), "[rank " + r.rank() + "] ", out));
                    pumps.add(pump(p.getErrorStream(), "[rank " + r.rank() + "] ", err));
                }
            }
            int status = waitFor(ranks, spec, grace, err);
            for (Thread t : pumps) t.join(5000);
            return status;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            stopAll(ranks, Duration.ofSeconds(30));
            throw new Gsa4jException("interrupted while the ranks ran", e);
        } catch (RuntimeException e) {
            stopAll(ranks, Duration.ofSeconds(30));
            throw e;
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(stopper);
            } catch (IllegalStateException shuttingDown) {
                // the hook is stopping the ranks
            }
        }
    }

    /** Waits for every rank; after the first failure, gives the others {@code grace} to end, then stops them. */
    private static int waitFor(List<Process> ranks, Spec spec, Duration grace, PrintStream err) throws InterruptedException {
        // the ranks in the order they end: the first to fail is the cause, the others followed it
        LinkedBlockingQueue<Process> ended = new LinkedBlockingQueue<>();
        for (Process p : ranks) p.onExit().thenAccept(ended::add);
        int first = 0;
        long stopAt = Long.MAX_VALUE;
        for (int left = ranks.size(); left > 0; ) {
            long wait = stopAt == Long.MAX_VALUE ? TimeUnit.SECONDS.toNanos(1) : Math.max(1, stopAt - System.nanoTime());
            Process p = ended.poll(wait, TimeUnit.NANOSECONDS);
            if (p != null) {
                left--;
                if (p.exitValue() != 0 && first == 0) {
                    first = p.exitValue();
                    if (spec.worldSize() > 1) {
                        int rank = spec.nodeRank() * spec.nprocPerNode() + ranks.indexOf(p);
                        err.println("gsa4j: rank " + rank + " exited with status " + first + "; the other ranks stop too");
                    }
                    stopAt = System.nanoTime() + grace.toNanos();
                }
            } else if (System.nanoTime() >= stopAt) {
                List<Process> running = ranks.stream().filter(Process::isAlive).toList();
                err.println("gsa4j: stopping " + running.size() + " rank(s) still running " + grace.toSeconds() + " s after the failure");
                stopAll(running, Duration.ofSeconds(30));
                stopAt = Long.MAX_VALUE;
            }
        }
        return first;
    }

    /** SIGTERM (a rank writes its checkpoint and ends), then SIGKILL for any still alive after {@code patience}. */
    private static void stopAll(List<Process> ranks, Duration patience) {
        List<Process> copy;
        synchronized (ranks) {
            copy = new ArrayList<>(ranks);
        }
        for (Process p : copy) if (p.isAlive()) p.destroy();
        long until = System.nanoTime() + patience.toNanos();
        for (Process p : copy) {
            try {
                if (!p.waitFor(Math.max(0, until - System.nanoTime()), TimeUnit.NANOSECONDS)) p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                p.destroyForcibly();
            }
        }
    }

    private static Thread pump(InputStream in, String prefix, PrintStream to) {
        Thread t = Thread.ofPlatform().daemon().name("gsa4j-launcher-output").start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    if (line.equals(INCUBATOR_NOTICE)) continue;
                    synchronized (to) {
                        to.println(prefix + line);
                    }
                }
            } catch (IOException e) {
                // the rank's output closed with the rank
            }
        });
        return t;
    }

    /** A TCP port free on {@code host} now (for a one-machine run with no --master-port). */
    static int freePort(String host) {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName(host))) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new Gsa4jException("no free TCP port on " + host + " for the rendezvous: " + e.getMessage(), e);
        }
    }

    /**
     * The command that runs {@code mainClass} with {@code args} in a JVM like this one: the same {@code java},
     * JVM options (less a debugger agent, whose port the ranks would fight over) and class path, then
     * {@code extraJvmOptions} (which override).
     */
    public static List<String> javaCommand(String mainClass, List<String> extraJvmOptions, List<String> args) {
        return javaCommand(System.getProperty("java.class.path"), mainClass, extraJvmOptions, args);
    }

    /** {@link #javaCommand(String, List, List)} with another class path (e.g. where a test runner loads the classes itself). */
    public static List<String> javaCommand(String classPath, String mainClass, List<String> extraJvmOptions, List<String> args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        for (String o : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!o.startsWith("-agentlib:jdwp") && !o.startsWith("-Xrunjdwp")) cmd.add(o);
        }
        cmd.addAll(extraJvmOptions);
        cmd.add("-cp");
        cmd.add(classPath);
        cmd.add(mainClass);
        cmd.addAll(args);
        return cmd;
    }
}
