package org.gsa4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.Gsa4jException;
import org.gsa4j.io.AtomicFiles;
import org.gsa4j.io.SafeTensors;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;

import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Training checkpoints: {@code ROOT/step-00000100/} holds the model in the Hugging Face layout
 * ({@code config.json}, {@code model.safetensors}, float32 so that a resume is exact), the AdamW
 * moments ({@code optimizer.safetensors}), the trainer's state ({@code trainer_state.json}: step,
 * data position, seed, settings, and the SHA-256 of every other file) and, when training had one,
 * {@code tokenizer.json} — so a checkpoint works directly with {@code gsa4j generate} and {@code eval}.
 *
 * <p>A checkpoint is written whole into a hidden temporary directory (every file fsynced), which is
 * then renamed to its final name and the parent directory fsynced: a crash leaves either a complete
 * checkpoint or none (leftover temporaries are removed on the next save). Old checkpoints beyond
 * the last K are renamed away before they are deleted, for the same reason.
 */
public final class Checkpoints {
    public static final String TRAINER_STATE = "trainer_state.json";
    public static final String OPTIMIZER = "optimizer.safetensors";
    public static final String FORMAT = "gsa4j-trainer-state";
    private static final Pattern NAME = Pattern.compile("step-(\\d{8,})");
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private Checkpoints() {}

    public static String dirName(long step) {
        return String.format("step-%08d", step);
    }

    /** Complete checkpoints under root (by name), oldest first; empty when root does not exist. */
    public static List<Path> list(Path root) {
        List<Path> out = new ArrayList<>();
        if (!Files.isDirectory(root)) return out;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(root)) {
            for (Path p : ds) if (Files.isDirectory(p) && NAME.matcher(p.getFileName().toString()).matches()) out.add(p);
        } catch (IOException e) {
            throw Gsa4jException.at(root, null, "cannot list checkpoints: " + e.getMessage(), e);
        }
        out.sort(Comparator.comparingLong(Checkpoints::stepOf));
        return out;
    }

    public static long stepOf(Path dir) {
        Matcher m = NAME.matcher(dir.getFileName().toString());
        return m.matches() ? Long.parseLong(m.group(1)) : -1;
    }

    /** The newest checkpoint, or null. */
    public static Path latest(Path root) {
        List<Path> all = list(root);
        return all.isEmpty() ? null : all.get(all.size() - 1);
    }

    /**
     * Writes a checkpoint for {@code step} (replacing one of the same step) and keeps the newest
     * {@code keep}. {@code state} is completed with the files' checksums. Returns the directory.
     */
    public static Path save(Path root, long step, CausalLM model, AdamW optimizer, ObjectNode state, byte[] tokenizerJson, int keep) {
        Path tmp = null;
        try {
            Files.createDirectories(root);
            removeLeftovers(root);
            tmp = Files.createTempDirectory(root, ".tmp-" + dirName(step) + "-");
            ModelLoader.save(model, tmp, SafeTensors.DType.F32);
            optimizer.save(tmp.resolve(OPTIMIZER), model.params());
            if (tokenizerJson != null) AtomicFiles.write(tmp.resolve("tokenizer.json"), tokenizerJson);
            ObjectNode files = state.putObject("files");
            for (String f : new String[] {"config.json", "model.safetensors", OPTIMIZER, "tokenizer.json"}) {
                if (Files.isRegularFile(tmp.resolve(f))) files.put(f, sha256(tmp.resolve(f)));
            }
            AtomicFiles.write(tmp.resolve(TRAINER_STATE), JSON.writeValueAsBytes(state));
            makeReadable(tmp);
            fsync(tmp);
            Path target = root.resolve(dirName(step));
            if (Files.exists(target)) deleteTree(moveAside(root, target));
            move(tmp, target);
            tmp = null;
            fsync(root);
            List<Path> all = list(root);
            for (int i = 0; i < all.size() - keep; i++) deleteTree(moveAside(root, all.get(i)));
            return target;
        } catch (IOException e) {
            throw Gsa4jException.at(root, null, "cannot write a checkpoint: " + e, e);
        } catch (Gsa4jException e) {
            throw new Gsa4jException("cannot write the checkpoint of step " + step + " (earlier checkpoints are intact): " + e.getMessage(), e);
        } finally {
            if (tmp != null) deleteTreeQuietly(tmp);
        }
    }

    /** A checkpoint read back and verified. */
    public record Loaded(Path dir, long step, ObjectNode state, CausalLM model) {}

    /**
     * Reads and verifies a checkpoint (files present, checksums, parseable state, loadable model):
     * any problem is a Gsa4jException that says the checkpoint is unusable and why.
     */
    public static Loaded load(Path dir) {
        try {
            if (!Files.isDirectory(dir)) throw Gsa4jException.at(dir, null, "no such checkpoint directory");
            Path stateFile = dir.resolve(TRAINER_STATE);
            if (!Files.isRegularFile(stateFile)) throw Gsa4jException.at(stateFile, null, "missing: not a complete gsa4j training checkpoint");
            JsonNode node;
            try {
                node = JSON.readTree(stateFile.toFile());
            } catch (IOException e) {
                throw Gsa4jException.at(stateFile, null, "not valid JSON (" + e.getMessage().lines().findFirst().orElse("") + ")");
            }
            if (node == null || !node.isObject() || !FORMAT.equals(node.path("format").asText())) {
                throw Gsa4jException.at(stateFile, "format", "not a " + FORMAT + " file");
            }
            if (!node.path("step").canConvertToLong() || node.path("step").asLong() < 0) throw Gsa4jException.at(stateFile, "step", "missing or invalid");
            JsonNode files = node.path("files");
            if (!files.isObject() || !files.has("model.safetensors") || !files.has(OPTIMIZER)) {
                throw Gsa4jException.at(stateFile, "files", "missing the checksums of model.safetensors and " + OPTIMIZER);
            }
            for (Iterator<Map.Entry<String, JsonNode>> it = files.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> f = it.next();
                Path p = dir.resolve(f.getKey());
                if (!Files.isRegularFile(p)) throw Gsa4jException.at(p, null, "missing");
                if (!sha256(p).equals(f.getValue().asText())) throw Gsa4jException.at(p, null, "checksum mismatch: the file is corrupt or was modified");
            }
            CausalLM model = ModelLoader.load(dir);
            return new Loaded(dir, node.get("step").asLong(), (ObjectNode) node, model);
        } catch (Gsa4jException e) {
            throw new Gsa4jException("cannot resume from the checkpoint " + dir + ": " + e.getMessage()
                    + " (pass an earlier checkpoint directory to --resume, or start afresh)", e);
        } catch (RuntimeException e) {
            throw new Gsa4jException("cannot resume from the checkpoint " + dir + ": " + e, e);
        }
    }

    public static String sha256(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
            return HexFormat.of().formatHex(md.digest());
        } catch (IOException e) {
            throw Gsa4jException.at(file, null, "cannot read: " + e.getMessage(), e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Temporary files and directories are private (0600/0700); a finished checkpoint is readable like any model directory. */
    static void makeReadable(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.toList()) {
                Files.setPosixFilePermissions(p, java.nio.file.attribute.PosixFilePermissions.fromString(Files.isDirectory(p) ? "rwxr-xr-x" : "rw-r--r--"));
            }
        } catch (IOException | UnsupportedOperationException ignored) {
            // not a POSIX file system: keep the platform's defaults
        }
    }

    private static void removeLeftovers(Path root) throws IOException {
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(root, ".{tmp,old}-*")) {
            for (Path p : ds) deleteTreeQuietly(p);
        }
    }

    private static Path moveAside(Path root, Path dir) throws IOException {
        Path aside = root.resolve(".old-" + dir.getFileName() + "-" + System.nanoTime());
        move(dir, aside);
        return aside;
    }

    private static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to);
        }
    }

    private static void fsync(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // not supported for directories on this platform
        }
    }

    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }

    private static void deleteTreeQuietly(Path dir) {
        try {
            deleteTree(dir);
        } catch (IOException ignored) {
            // best effort: a leftover temporary directory is ignored by list() and removed next time
        }
    }
}
