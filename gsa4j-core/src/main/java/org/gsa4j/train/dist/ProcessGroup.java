package org.gsa4j.train.dist;

import org.gsa4j.Gsa4jException;
import org.gsa4j.tensor.Parallel;
import org.gsa4j.tensor.VectorOps;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Supplier;

/**
 * The ranks of one run, met over TCP: the rendezvous, the hand-out of the NCCL unique id, the watch that
 * ends the run on every rank when one fails, and the CPU's collectives.
 *
 * <p><b>Rendezvous.</b> Rank 0 listens on {@code MASTER_ADDR:MASTER_PORT}, creates the unique id (NCCL's
 * {@code ncclGetUniqueId} on GPUs; a placeholder where NCCL is not used) and waits for the other ranks,
 * which connect (retrying while rank 0 is not up yet) and say who they are. When all have arrived, each
 * gets the id; a rank that has not arrived by the join timeout ends the rendezvous on every rank with one
 * line naming the missing ranks. A rank that joins with another world size, or a rank number already
 * taken, is refused the same way.
 *
 * <p><b>Watch.</b> The connections stay open: every rank sends a heartbeat to rank 0 and rank 0 to every
 * rank, each {@code heartbeatInterval}. A rank whose connection closes before it {@link #finish finished}
 * (a crash, a kill, an exception) or that sends nothing for {@code heartbeatTimeout} (hung, or its machine
 * unreachable) fails the run: rank 0 tells every other rank, with one line naming the rank at fault, and
 * each rank then runs its abort hooks ({@link #onFailure}: NCCL's {@code ncclCommAbort}, which frees a
 * collective that waits for the dead rank), and {@link #checkAlive} and {@link #barrier} throw a
 * {@link RankFailedException} with that line. A rank that fails by an exception reports it first
 * ({@link #reportFailure}), so the others name its error. If the process has not closed the group
 * {@code haltGrace} after the failure (its training thread is stuck), the watch prints the line and
 * ends the process, so that a run never hangs on a dead rank.
 *
 * <p><b>Collectives.</b> {@link #barrier} and, for the CPU trainer's gradients, {@link #allReduceSum} (summed
 * through rank 0, in rank order) travel over the same connections.
 *
 * <p>One rank ({@code WORLD_SIZE} 1) meets nobody: no socket is opened.
 */
public final class ProcessGroup implements AutoCloseable {

    /** Bytes of an NCCL unique id ({@code NCCL_UNIQUE_ID_BYTES}). */
    public static final int UNIQUE_ID_BYTES = 128;

    /** The exit status of a process that the watch ends ({@code haltGrace}). */
    public static final int HALT_STATUS = 3;

    /**
     * How long to wait and watch.
     *
     * @param joinTimeout       how long the rendezvous waits for every rank
     * @param heartbeatInterval how often each rank says it is alive
     * @param heartbeatTimeout  silence after which a rank counts as hung
     * @param haltGrace         how long after a failure the process may take to close the group before the
     *                          watch ends it; null: never (in-process use, tests)
     */
    public record Options(Duration joinTimeout, Duration heartbeatInterval, Duration heartbeatTimeout, Duration haltGrace) {
        public static final String JOIN_TIMEOUT = "GSA4J_RENDEZVOUS_TIMEOUT", HEARTBEAT_TIMEOUT = "GSA4J_HEARTBEAT_TIMEOUT";

        public Options {
            if (heartbeatInterval.compareTo(heartbeatTimeout) >= 0) {
                throw new IllegalArgumentException("the heartbeat interval " + heartbeatInterval + " must be shorter than its timeout " + heartbeatTimeout);
            }
        }

        /** 5 minutes to meet (processes load data before they join), a heartbeat per second, 60 s of silence. */
        public static Options defaults() {
            return new Options(Duration.ofMinutes(5), Duration.ofSeconds(1), Duration.ofSeconds(60), Duration.ofSeconds(60));
        }

        /** The defaults, with {@value #JOIN_TIMEOUT} and {@value #HEARTBEAT_TIMEOUT} (seconds) where set. */
        public static Options fromEnvironment(Map<String, String> env) {
            Options d = defaults();
            Duration join = seconds(env, JOIN_TIMEOUT, d.joinTimeout());
            Duration silence = seconds(env, HEARTBEAT_TIMEOUT, d.heartbeatTimeout());
            Duration interval = silence.dividedBy(4).compareTo(d.heartbeatInterval()) < 0 ? silence.dividedBy(4) : d.heartbeatInterval();
            return new Options(join, interval, silence, d.haltGrace());
        }

        private static Duration seconds(Map<String, String> env, String name, Duration fallback) {
            String v = env.get(name);
            if (v == null || v.isBlank()) return fallback;
            try {
                double s = Double.parseDouble(v.trim());
                if (!(s > 0)) throw new NumberFormatException();
                return Duration.ofNanos((long) (s * 1e9));
            } catch (NumberFormatException e) {
                throw new Gsa4jException(name + " must be a positive number of seconds, is '" + v + "'");
            }
        }
    }

    // ---- the wire: one byte of type, then the type's fields (DataOutputStream encoding) ----
    private static final int MAGIC = 0x47534134; // "GSA4"
    private static final int VERSION = 1;
    private static final byte WELCOME = 1, REFUSED = 2, HEARTBEAT = 3, FAILED = 4, ARRIVE = 5, RELEASE = 6, DONE = 7, ALL_DONE = 8,
            CONTRIBUTE = 9, SUM = 10;

    private final RankEnv env;
    private final Options options;
    private final byte[] uniqueId;
    /** Rank 0: the link to each other rank (index = rank, null at 0). Other ranks: one link, to rank 0. */
    private final Link[] links;
    private final List<Runnable> abortHooks = new CopyOnWriteArrayList<>();
    private final Object lock = new Object();
    private String failure;
    private boolean failing;           // a failure is being told to the other ranks
    private boolean closed;
    private long generation;           // barriers this rank has entered
    private final long[] arrived;      // rank 0: the last barrier each rank arrived at
    private long released;             // other ranks: the last barrier rank 0 released
    private boolean allDone;           // other ranks: rank 0 saw every rank finish
    private final Buffers[] contributions; // rank 0: each rank's part of the all-reduce in progress
    private Buffers sum;                   // other ranks: the all-reduce's result from rank 0
    private Thread heartbeat;

    private ProcessGroup(RankEnv env, Options options, byte[] uniqueId, Link[] links) {
        this.env = env;
        this.options = options;
        this.uniqueId = uniqueId;
        this.links = links;
        this.arrived = new long[env.worldSize()];
        this.contributions = new Buffers[env.worldSize()];
    }

    /** One process alone: nothing to meet, nothing to watch. */
    public static ProcessGroup single(Supplier<byte[]> uniqueId) {
        return new ProcessGroup(RankEnv.single(), Options.defaults(), checkId(uniqueId.get()), new Link[0]);
    }

    /**
     * Meets the other ranks of {@code env}'s run. {@code uniqueId} is asked on rank 0 only, before it waits
     * for the others; every rank gets its bytes. Returns once every rank has arrived.
     *
     * @throws RankFailedException when the rendezvous fails (a rank missing at the timeout, refused, or rank 0 unreachable)
     */
    public static ProcessGroup join(RankEnv env, Supplier<byte[]> uniqueId, Options options) {
        if (env.worldSize() == 1) return new ProcessGroup(env, options, checkId(uniqueId.get()), new Link[0]);
        ProcessGroup g = env.rank() == 0 ? host(env, checkId(uniqueId.get()), options) : guest(env, options);
        g.startWatch();
        return g;
    }

    private static byte[] checkId(byte[] id) {
        if (id == null || id.length != UNIQUE_ID_BYTES) {
            throw new IllegalArgumentException("a unique id has " + UNIQUE_ID_BYTES + " bytes, not " + (id == null ? "none" : id.length));
        }
        return id.clone();
    }

    // ---- rendezvous ----

    private static ProcessGroup host(RankEnv env, byte[] id, Options o) {
        String where = env.masterAddr() + ":" + env.masterPort();
        long deadline = System.nanoTime() + o.joinTimeout().toNanos();
        Link[] links = new Link[env.worldSize()];
        try (ServerSocket server = listen(env)) {
            String problem = null;
            int joined = 1;
            while (joined < env.worldSize() && problem == null) {
                long left = deadline - System.nanoTime();
                if (left <= 0) break;
                server.setSoTimeout((int) Math.max(1, Math.min(Integer.MAX_VALUE, left / 1_000_000)));
                Socket s;
                try {
                    s = server.accept();
                } catch (SocketTimeoutException e) {
                    break;
                }
                Link link;
                Hello h;
                try {
                    s.setSoTimeout(10_000);
                    link = new Link(s);
                    h = Hello.read(link.in);
                } catch (IOException e) {
                    closeQuietly(s); // not a rank of ours (a port scan, a stale process): keep waiting
                    continue;
                }
                if (h.world() != env.worldSize()) {
                    problem = h.who() + " joined with WORLD_SIZE " + h.world() + ", but this run has " + env.worldSize() + " ranks";
                } else if (h.rank() <= 0 || h.rank() >= env.worldSize()) {
                    problem = h.who() + " joined as rank " + h.rank() + ", outside 1.." + (env.worldSize() - 1);
                } else if (links[h.rank()] != null) {
                    problem = h.who() + " joined as rank " + h.rank() + ", which " + links[h.rank()].who + " already is";
                }
                link.rank = h.rank();
                link.who = h.who();
                if (problem != null) {
                    link.sendText(REFUSED, "rendezvous at " + where + ": " + problem);
                    link.close();
                    break;
                }
                links[h.rank()] = link;
                joined++;
            }
            if (problem == null && joined < env.worldSize()) {
                TreeSet<Integer> missing = new TreeSet<>(), present = new TreeSet<>(List.of(0));
                for (int r = 1; r < env.worldSize(); r++) (links[r] == null ? missing : present).add(r);
                problem = (missing.size() == 1 ? "rank " : "ranks ") + join(missing) + " of " + env.worldSize() + " did not arrive within "
                        + seconds(o.joinTimeout()) + " (arrived: " + join(present) + "); every rank must be started with the same "
                        + RankEnv.MASTER_ADDR + "/" + RankEnv.MASTER_PORT + " (--master-addr/--master-port) and " + RankEnv.WORLD_SIZE;
            }
            if (problem != null) {
                String line = problem.startsWith("rendezvous") ? problem : "rendezvous at " + where + ": " + problem;
                for (Link l : links) {
                    if (l != null) {
                        l.sendText(REFUSED, line);
                        l.close();
                    }
                }
                throw new RankFailedException(line);
            }
            for (Link l : links) {
                if (l == null) continue;
                synchronized (l.out) {
                    l.out.writeByte(WELCOME);
                    l.out.writeInt(env.worldSize());
                    l.out.write(id);
                    l.out.flush();
                }
                l.socket.setSoTimeout((int) o.heartbeatTimeout().toMillis());
            }
            return new ProcessGroup(env, o, id, links);
        } catch (IOException e) {
            for (Link l : links) if (l != null) l.close();
            throw new RankFailedException("rendezvous at " + where + " failed on rank 0: " + e, e);
        }
    }

    private static ServerSocket listen(RankEnv env) {
        String where = env.masterAddr() + ":" + env.masterPort();
        InetAddress addr;
        try {
            addr = InetAddress.getByName(env.masterAddr());
        } catch (UnknownHostException e) {
            throw new RankFailedException("rendezvous: " + RankEnv.MASTER_ADDR + " '" + env.masterAddr() + "' is not a known host name");
        }
        try {
            ServerSocket server = new ServerSocket();
            server.setReuseAddress(true);
            try {
                server.bind(new InetSocketAddress(addr, env.masterPort()), env.worldSize());
            } catch (IOException e) {
                server.close();
                throw e;
            }
            return server;
        } catch (BindException e) {
            String why = String.valueOf(e.getMessage()).toLowerCase(java.util.Locale.ROOT).contains("assign")
                    ? env.masterAddr() + " is not an address of this machine, where rank 0 runs"
                    : "the port is taken (another run? pick another --master-port)";
            throw new RankFailedException("rendezvous: rank 0 cannot listen on " + where + ": " + why, e);
        } catch (IOException e) {
            throw new RankFailedException("rendezvous: rank 0 cannot listen on " + where + ": " + e, e);
        }
    }

    private static ProcessGroup guest(RankEnv env, Options o) {
        String where = env.masterAddr() + ":" + env.masterPort();
        long deadline = System.nanoTime() + o.joinTimeout().toNanos();
        Socket s = null;
        IOException last = null;
        while (s == null) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new RankFailedException("rendezvous: " + env.describe() + " could not reach rank 0 at " + where + " within "
                        + seconds(o.joinTimeout()) + " (" + (last == null ? "no answer" : last.getMessage()) + "); is rank 0 running, with the same "
                        + RankEnv.MASTER_ADDR + "/" + RankEnv.MASTER_PORT + "?");
            }
            Socket attempt = new Socket();
            try {
                attempt.connect(new InetSocketAddress(env.masterAddr(), env.masterPort()), (int) Math.max(1, Math.min(2000, left / 1_000_000)));
                s = attempt;
            } catch (IOException e) {
                closeQuietly(attempt);
                if (e instanceof UnknownHostException) {
                    throw new RankFailedException("rendezvous: " + RankEnv.MASTER_ADDR + " '" + env.masterAddr() + "' is not a known host name");
                }
                last = e; // refused or unanswered: rank 0 may not be listening yet
                sleep(Math.min(200, Math.max(1, left / 1_000_000)));
            }
        }
        try {
            Link link = new Link(s);
            link.rank = 0;
            link.who = "rank 0 of " + env.worldSize() + " (" + where + ")";
            synchronized (link.out) {
                Hello.self(env).write(link.out);
                link.out.flush();
            }
            s.setSoTimeout((int) Math.max(1, Math.min(Integer.MAX_VALUE, (deadline - System.nanoTime()) / 1_000_000 + 10_000)));
            byte type = link.in.readByte();
            if (type == REFUSED) throw new RankFailedException(link.in.readUTF());
            if (type != WELCOME) throw new IOException("unexpected message " + type);
            int world = link.in.readInt();
            byte[] id = new byte[UNIQUE_ID_BYTES];
            link.in.readFully(id);
            if (world != env.worldSize()) throw new IOException("rank 0 has world size " + world);
            s.setSoTimeout((int) o.heartbeatTimeout().toMillis());
            Link[] links = {link};
            return new ProcessGroup(env, o, id, links);
        } catch (SocketTimeoutException e) {
            closeQuietly(s);
            throw new RankFailedException("rendezvous: rank 0 at " + where + " accepted " + env.describe() + " but never let the run start"
                    + " (another rank did not arrive?)", e);
        } catch (IOException e) {
            closeQuietly(s);
            throw new RankFailedException("rendezvous: " + env.describe() + " lost rank 0 at " + where + " while joining: " + describe(e), e);
        }
    }

    /** What a rank says about itself when it joins. */
    private record Hello(int rank, int world, long pid, String host) {
        static Hello self(RankEnv env) {
            return new Hello(env.rank(), env.worldSize(), ProcessHandle.current().pid(), hostName());
        }

        String who() {
            return "rank " + rank + " of " + world + " (pid " + pid + " on " + host + ")";
        }

        void write(DataOutputStream out) throws IOException {
            out.writeInt(MAGIC);
            out.writeInt(VERSION);
            out.writeInt(rank);
            out.writeInt(world);
            out.writeLong(pid);
            out.writeUTF(host);
        }

        static Hello read(DataInputStream in) throws IOException {
            if (in.readInt() != MAGIC) throw new IOException("not a gsa4j rank");
            int version = in.readInt();
            if (version != VERSION) throw new IOException("protocol version " + version);
            return new Hello(in.readInt(), in.readInt(), in.readLong(), in.readUTF());
        }
    }

    // ---- the watch ----

    private void startWatch() {
        for (Link l : links) {
            if (l == null) continue;
            Thread reader = Thread.ofPlatform().daemon().name("gsa4j-rank-watch-" + l.rank).unstarted(() -> read(l));
            reader.start();
        }
        heartbeat = Thread.ofPlatform().daemon().name("gsa4j-heartbeat").unstarted(this::beat);
        heartbeat.start();
    }

    private void beat() {
        long interval = options.heartbeatInterval().toNanos();
        while (true) {
            synchronized (lock) {
                if (closed || failure != null) return;
            }
            for (Link l : links) if (l != null && !l.gone) l.trySend(HEARTBEAT);
            java.util.concurrent.locks.LockSupport.parkNanos(interval);
        }
    }

    /** Reads one link until it ends; every way it can end other than an orderly finish fails the run. */
    private void read(Link l) {
        try {
            while (true) {
                byte type = l.in.readByte();
                switch (type) {
                    case HEARTBEAT -> { }
                    case FAILED -> {
                        String text = l.in.readUTF();
                        // from rank 0: the run's line as it is; from another rank: its own error, named here
                        fail(env.rank() == 0 ? l.who + " failed: " + text : text);
                    }
                    case ARRIVE -> {
                        long gen = l.in.readLong();
                        synchronized (lock) {
                            arrived[l.rank] = gen;
                            lock.notifyAll();
                        }
                    }
                    case RELEASE -> {
                        long gen = l.in.readLong();
                        synchronized (lock) {
                            released = gen;
                            lock.notifyAll();
                        }
                    }
                    case CONTRIBUTE -> {
                        Buffers b = Buffers.read(l.in);
                        synchronized (lock) {
                            contributions[l.rank] = b;
                            lock.notifyAll();
                        }
                    }
                    case SUM -> {
                        Buffers b = Buffers.read(l.in);
                        synchronized (lock) {
                            sum = b;
                            lock.notifyAll();
                        }
                    }
                    case DONE -> {
                        synchronized (lock) {
                            l.done = true;
                            lock.notifyAll();
                        }
                    }
                    case ALL_DONE -> {
                        synchronized (lock) {
                            allDone = true;
                            l.done = true;
                            lock.notifyAll();
                        }
                    }
                    default -> throw new IOException("unexpected message " + type);
                }
            }
        } catch (SocketTimeoutException e) {
            fail(l.who + " sent no heartbeat for " + seconds(options.heartbeatTimeout()) + " (hung, or its machine is unreachable)");
        } catch (IOException e) {
            boolean orderly;
            synchronized (lock) {
                orderly = l.done || closed;
            }
            if (!orderly) fail(l.who + " ended without finishing (" + describe(e) + ")");
        } finally {
            l.gone = true;
        }
    }

    /** Records the run's failure (the first one counts), tells the other ranks, aborts, and arms the halt. */
    private void fail(String line) {
        synchronized (lock) {
            if (failing || failure != null || closed) return;
            failing = true;
        }
        // told to the other ranks before this rank's own threads hear of it: they may close the connections then
        if (env.rank() == 0) {
            for (Link l : links) if (l != null && !l.gone) l.trySendText(FAILED, line);
        }
        synchronized (lock) {
            failure = line;
            lock.notifyAll();
        }
        for (Runnable hook : abortHooks) {
            try {
                hook.run();
            } catch (RuntimeException | Error e) {
                System.err.println("gsa4j: " + env.describe() + ": an abort hook failed: " + e);
            }
        }
        if (options.haltGrace() != null) {
            Thread.ofPlatform().daemon().name("gsa4j-halt").start(() -> {
                java.util.concurrent.locks.LockSupport.parkNanos(options.haltGrace().toNanos());
                synchronized (lock) {
                    if (closed) return;
                }
                System.err.println("gsa4j: " + line + " (" + env.describe() + " did not stop within " + seconds(options.haltGrace()) + ": exiting)");
                Runtime.getRuntime().halt(HALT_STATUS);
            });
        }
    }

    // ---- what a rank uses ----

    public RankEnv env() {
        return env;
    }

    public int rank() {
        return env.rank();
    }

    public int worldSize() {
        return env.worldSize();
    }

    /** Whether this rank writes the run's files (checkpoints, metrics, plots): rank 0. */
    public boolean isWriter() {
        return env.rank() == 0;
    }

    /** The unique id rank 0 created, the same bytes on every rank. */
    public byte[] uniqueId() {
        return uniqueId.clone();
    }

    /** The data this rank reads for a run with {@code grad_accum} micro-batches per update. */
    public ShardPlan shardPlan(int gradAccum) {
        return new ShardPlan(env.rank(), env.worldSize(), gradAccum);
    }

    /**
     * Runs {@code hook} when the run fails (on the watch's thread): e.g. {@code ncclCommAbort}, so that a
     * collective waiting for a dead rank returns. Runs at once when the run has already failed.
     */
    public void onFailure(Runnable hook) {
        abortHooks.add(hook);
        String f;
        synchronized (lock) {
            f = failure;
        }
        if (f != null) hook.run();
    }

    /** The failure that ended the run, or null while it goes on. */
    public String failure() {
        synchronized (lock) {
            return failure;
        }
    }

    /** Throws the run's failure, if there is one (cheap: call it every step). */
    public void checkAlive() {
        String f = failure();
        if (f != null) throw new RankFailedException(f);
    }

    /**
     * Tells the other ranks that this one fails with {@code problem} (one line), so that they name it. Call
     * it before ending the process on an error; the run is over on every rank.
     */
    public void reportFailure(String problem) {
        String line = problem.lines().findFirst().orElse(problem);
        if (env.worldSize() == 1) return;
        if (env.rank() == 0) {
            fail(env.describe() + " failed: " + line);
        } else {
            // recorded before it is sent: rank 0's answer (the same line) must not count as news here
            synchronized (lock) {
                if (failure == null) failure = env.describe() + " failed: " + line;
                lock.notifyAll();
            }
            Link l = links[0];
            if (!l.gone) l.trySendText(FAILED, line);
        }
    }

    /** Waits until every rank has called {@code barrier()} as often as this one; throws if the run fails meanwhile. */
    public void barrier() {
        if (env.worldSize() == 1) return;
        long gen;
        synchronized (lock) {
            gen = ++generation;
        }
        try {
            if (env.rank() == 0) {
                boolean all;
                synchronized (lock) {
                    while (failure == null && !allArrived(gen)) waitOnLock();
                    all = failure == null;
                }
                // released only when every rank arrived: a rank that dies before the barrier holds the others
                // in it until they hear of the failure, so that none runs past the update it never finished
                if (all) for (Link l : links) if (l != null) l.send(RELEASE, gen);
            } else {
                links[0].send(ARRIVE, gen);
                synchronized (lock) {
                    while (released < gen && failure == null) waitOnLock();
                }
            }
        } catch (IOException e) {
            fail("the connection to another rank broke: " + describe(e));
        }
        checkAlive();
    }

    private boolean allArrived(long gen) {
        for (int r = 1; r < arrived.length; r++) if (arrived[r] < gen) return false;
        return true;
    }

    /**
     * Sums {@code arrays} and {@code scalars} over the ranks, in place: afterwards every rank holds
     * {@code x₀ + x₁ + … + x_{W−1}}, added in rank order (so the bits do not depend on which rank was first,
     * and {@code W} ranks sum their parts exactly as one rank sums the same parts in the same order). Every
     * rank passes arrays of the same lengths. Also a barrier: it returns when every rank has contributed.
     *
     * <p>This is the CPU's exchange, a star through rank 0 over the group's TCP links (rank 0 receives
     * {@code W−1} copies and sends back {@code W−1}): correct for any number of ranks and cheap for small
     * models; on GPUs the gradients go through NCCL's all-reduce instead.
     *
     * @throws RankFailedException when the run fails meanwhile, or a rank passed other lengths
     */
    public void allReduceSum(List<float[]> arrays, double[] scalars) {
        if (env.worldSize() == 1) return;
        long gen;
        synchronized (lock) {
            gen = ++generation;
        }
        Buffers mine = new Buffers(gen, arrays, scalars);
        try {
            if (env.rank() == 0) {
                Buffers[] parts = new Buffers[env.worldSize()];
                synchronized (lock) {
                    while (failure == null && !allContributed()) waitOnLock();
                    checkAlive();
                    for (int r = 1; r < parts.length; r++) {
                        parts[r] = contributions[r];
                        contributions[r] = null;
                    }
                }
                for (int r = 1; r < parts.length; r++) {
                    String problem = parts[r].mismatch(mine);
                    if (problem != null) {
                        fail(links[r].who + " contributed " + problem + " to all-reduce " + gen + " of rank 0 (the ranks run different models or steps)");
                        checkAlive();
                    }
                    mine.add(parts[r]);
                }
                for (Link l : links) if (l != null) mine.send(l, SUM);
            } else {
                mine.send(links[0], CONTRIBUTE);
                Buffers result;
                synchronized (lock) {
                    while (failure == null && sum == null) waitOnLock();
                    checkAlive();
                    result = sum;
                    sum = null;
                }
                String problem = result.mismatch(mine);
                if (problem != null) throw new RankFailedException(env.describe() + " got " + problem + " from all-reduce " + gen);
                result.copyInto(arrays, scalars);
            }
        } catch (IOException e) {
            fail("the connection to another rank broke during an all-reduce: " + describe(e));
        }
        checkAlive();
    }

    private boolean allContributed() {
        for (int r = 1; r < contributions.length; r++) if (contributions[r] == null) return false;
        return true;
    }

    /** The payload of an all-reduce: its number (the collective's generation), float arrays and doubles. */
    private record Buffers(long gen, List<float[]> arrays, double[] scalars) {

        /** Why {@code other} cannot be summed with this, or null. */
        String mismatch(Buffers other) {
            if (gen != other.gen) return "all-reduce " + gen + " (expected " + other.gen + ")";
            if (arrays.size() != other.arrays.size() || scalars.length != other.scalars.length) {
                return arrays.size() + " arrays and " + scalars.length + " scalars (expected " + other.arrays.size() + " and " + other.scalars.length + ")";
            }
            for (int i = 0; i < arrays.size(); i++) {
                if (arrays.get(i).length != other.arrays.get(i).length) {
                    return "an array " + i + " of " + arrays.get(i).length + " elements (expected " + other.arrays.get(i).length + ")";
                }
            }
            return null;
        }

        /** this += other, element by element. */
        void add(Buffers other) {
            for (int i = 0; i < arrays.size(); i++) {
                float[] a = arrays.get(i), b = other.arrays.get(i);
                Parallel.forBlocks(a.length, 1 << 15, (from, to) -> VectorOps.add(a, from, b, from, a, from, to - from));
            }
            for (int i = 0; i < scalars.length; i++) scalars[i] += other.scalars[i];
        }

        void copyInto(List<float[]> to, double[] toScalars) {
            for (int i = 0; i < arrays.size(); i++) System.arraycopy(arrays.get(i), 0, to.get(i), 0, arrays.get(i).length);
            System.arraycopy(scalars, 0, toScalars, 0, scalars.length);
        }

        void send(Link l, byte type) throws IOException {
            synchronized (l.out) {
                l.out.writeByte(type);
                l.out.writeLong(gen);
                l.out.writeInt(arrays.size());
                for (float[] a : arrays) {
                    l.out.writeInt(a.length);
                    ByteBuffer bytes = ByteBuffer.allocate(4 * a.length);
                    bytes.asFloatBuffer().put(a);
                    l.out.write(bytes.array());
                }
                l.out.writeInt(scalars.length);
                for (double d : scalars) l.out.writeDouble(d);
                l.out.flush();
            }
        }

        static Buffers read(DataInputStream in) throws IOException {
            long gen = in.readLong();
            int n = in.readInt();
            List<float[]> arrays = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                byte[] bytes = new byte[Math.multiplyExact(4, in.readInt())];
                in.readFully(bytes);
                float[] a = new float[bytes.length / 4];
                ByteBuffer.wrap(bytes).asFloatBuffer().get(a);
                arrays.add(a);
            }
            double[] scalars = new double[in.readInt()];
            for (int i = 0; i < scalars.length; i++) scalars[i] = in.readDouble();
            return new Buffers(gen, arrays, scalars);
        }
    }

    /**
     * Ends the run in order: waits until every rank has finished (rank 0 last, after its final checkpoint),
     * so that a rank that dies at the very end still fails the run everywhere. Then {@link #close}.
     */
    public void finish() {
        if (env.worldSize() == 1) {
            close();
            return;
        }
        try {
            if (env.rank() == 0) {
                synchronized (lock) {
                    while (failure == null && !everyRankDone()) waitOnLock();
                }
                checkAlive();
                for (Link l : links) if (l != null) l.send(ALL_DONE);
            } else {
                links[0].send(DONE);
                synchronized (lock) {
                    while (failure == null && !allDone) waitOnLock();
                }
                checkAlive();
            }
        } catch (IOException e) {
            fail("the connection to another rank broke while finishing: " + describe(e));
            checkAlive();
        }
        close();
    }

    private boolean everyRankDone() {
        for (Link l : links) if (l != null && !l.done) return false;
        return true;
    }

    /** Closes the connections (the other ranks see this rank end; before {@link #finish}, that fails the run). */
    @Override
    public void close() {
        synchronized (lock) {
            if (closed) return;
            closed = true;
            lock.notifyAll();
        }
        for (Link l : links) if (l != null) l.close();
        if (heartbeat != null) heartbeat.interrupt();
    }

    private void waitOnLock() {
        try {
            lock.wait(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RankFailedException(env.describe() + " was interrupted while waiting for the other ranks", e);
        }
    }

    // ---- one connection ----

    private static final class Link {
        final Socket socket;
        final DataInputStream in;
        final DataOutputStream out;
        int rank;
        String who = "a process";
        volatile boolean done, gone;

        Link(Socket socket) throws IOException {
            this.socket = socket;
            socket.setTcpNoDelay(true);
            socket.setKeepAlive(true);
            in = new DataInputStream(new BufferedInputStream(socket.getInputStream()));
            out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream()));
        }

        void send(byte type) throws IOException {
            synchronized (out) {
                out.writeByte(type);
                out.flush();
            }
        }

        void send(byte type, long value) throws IOException {
            synchronized (out) {
                out.writeByte(type);
                out.writeLong(value);
                out.flush();
            }
        }

        void trySend(byte type) {
            try {
                send(type);
            } catch (IOException e) {
                // the reader notices the broken link
            }
        }

        void sendText(byte type, String text) throws IOException {
            synchronized (out) {
                out.writeByte(type);
                out.writeUTF(text.length() > 16_000 ? text.substring(0, 16_000) : text);
                out.flush();
            }
        }

        void trySendText(byte type, String text) {
            try {
                sendText(type, text);
            } catch (IOException e) {
                // the reader notices the broken link
            }
        }

        void close() {
            closeQuietly(socket);
        }
    }

    // ---- helpers ----

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            return "localhost";
        }
    }

    private static String describe(IOException e) {
        if (e instanceof EOFException) return "connection closed";
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    private static String seconds(Duration d) {
        double s = d.toNanos() / 1e9;
        return s == Math.rint(s) ? String.format("%d s", (long) s) : String.format("%.1f s", s);
    }

    private static String join(java.util.Collection<Integer> ranks) {
        return String.join(", ", ranks.stream().map(String::valueOf).toList());
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RankFailedException("interrupted while joining the run", e);
        }
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }

    @Override
    public String toString() {
        return env.describe() + (links.length == 0 ? "" : " (" + Arrays.stream(links).filter(l -> l != null).count() + " links)");
    }
}
