package org.gsa4j.bench.suites;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * The PyTorch peer ({@code bench/peer/gsa_peer.py}) as a child process driven line by line, so the
 * bench can alternate Java and PyTorch measurements in one run. Started with the same thread count;
 * OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are removed from its environment only.
 */
public final class Peer implements AutoCloseable {
    private final Process process;
    private final BufferedReader in;
    private final Writer outW;
    private final Path stderr;
    public final JsonNode ready;

    private Peer(Process p, Path stderr) throws IOException {
        this.process = p;
        this.stderr = stderr;
        this.in = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        this.outW = new OutputStreamWriter(p.getOutputStream(), StandardCharsets.UTF_8);
        String line = in.readLine();
        if (line == null) throw new IOException(failure());
        this.ready = BenchContext.JSON.readTree(line);
    }

    /** The peer script, or null: bench/peer/gsa_peer.py under the root or the working directory's ancestors. */
    public static Path script(Path root) {
        for (Path d = root == null ? Path.of("").toAbsolutePath() : root.toAbsolutePath(); d != null; d = d.getParent()) {
            Path p = d.resolve("bench/peer/gsa_peer.py");
            if (Files.isRegularFile(p)) return p;
        }
        return null;
    }

    /** Starts the peer, or throws IOException with a one-line reason (torch missing, script missing ...). */
    public static Peer start(BenchContext ctx, Path modelDir, Path idsFile) throws IOException {
        if (ctx.python == null || ctx.python.isEmpty()) throw new IOException("peer disabled (--python '')");
        Path script = script(ctx.root);
        if (script == null) throw new IOException("bench/peer/gsa_peer.py not found (run from the repository)");
        Path err = Files.createTempFile("gsa4j-peer", ".log");
        ProcessBuilder pb = new ProcessBuilder(ctx.python, script.toString(), "--model", modelDir.toString(),
                "--ids", idsFile.toString(), "--threads", Integer.toString(ctx.threads));
        Map<String, String> env = pb.environment();
        env.remove("OPENBLAS_CORETYPE");
        env.remove("OPENBLAS_L2_SIZE");
        env.put("OMP_NUM_THREADS", Integer.toString(ctx.threads));
        env.put("OPENBLAS_NUM_THREADS", Integer.toString(ctx.threads));
        pb.redirectError(err.toFile());
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw new IOException("cannot run " + ctx.python + ": " + e.getMessage());
        }
        try {
            return new Peer(p, err);
        } catch (IOException e) {
            p.destroy();
            throw e;
        }
    }

    private String failure() {
        try {
            process.waitFor();
            String log = Files.readString(stderr);
            if (log.contains("No module named 'torch'")) {
                return "PyTorch is not installed for this python (run bench/peer/install.sh as root, or pass --python)";
            }
            String[] lines = log.strip().split("\n");
            return "peer exited (" + process.exitValue() + "): " + (lines.length == 0 ? "" : lines[lines.length - 1]);
        } catch (IOException | InterruptedException e) {
            return "peer failed: " + e;
        }
    }

    /** Sends one command and returns its JSON answer. */
    public JsonNode call(String command) throws IOException {
        outW.write(command + "\n");
        outW.flush();
        String line = in.readLine();
        if (line == null) throw new IOException(failure());
        JsonNode n = BenchContext.JSON.readTree(line);
        if (n.has("error")) throw new IOException("peer: " + n.get("error").asText());
        return n;
    }

    @Override
    public void close() {
        try {
            outW.write("quit\n");
            outW.flush();
            outW.close();
        } catch (IOException ignored) {
            // already gone
        }
        try {
            if (!process.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) process.destroyForcibly();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        }
    }
}
