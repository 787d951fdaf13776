package org.gsa4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.Gsa4jException;
import org.gsa4j.io.AtomicFiles;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;

/**
 * metrics.jsonl: one JSON object per line, {@code {"type":"train","step":…}} per update and
 * {@code {"type":"val","step":…}} per validation. Lines are appended and flushed as they come; on
 * resume the records after the checkpoint's step are dropped first, so the file reads as one run.
 */
public final class MetricsLog implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Path file;
    private OutputStream out;

    public MetricsLog(Path file, long keepUpToStep) {
        this.file = file;
        try {
            if (Files.exists(file)) {
                ByteArrayOutputStream kept = new ByteArrayOutputStream();
                for (JsonNode r : read(file)) {
                    if (r.path("step").asLong() <= keepUpToStep) kept.write((JSON.writeValueAsString(r) + "\n").getBytes(StandardCharsets.UTF_8));
                }
                AtomicFiles.write(file, kept.toByteArray());
            }
            out = Files.newOutputStream(file, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw Gsa4jException.at(file, null, "cannot write the metrics log: " + e.getMessage(), e);
        }
    }

    public Path file() {
        return file;
    }

    public ObjectNode record(String type, long step) {
        ObjectNode n = JSON.createObjectNode();
        n.put("type", type);
        n.put("step", step);
        return n;
    }

    public void append(ObjectNode record) {
        try {
            out.write((JSON.writeValueAsString(record) + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
        } catch (IOException e) {
            throw Gsa4jException.at(file, null, "cannot append to the metrics log: " + e.getMessage(), e);
        }
    }

    /** All records of a metrics file (a torn last line, from a crash, is skipped). */
    public static List<JsonNode> read(Path file) {
        List<JsonNode> out = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                if (line.isBlank()) continue;
                try {
                    out.add(JSON.readTree(line));
                } catch (IOException torn) {
                    // an interrupted write: ignore the partial line
                }
            }
        } catch (IOException e) {
            throw Gsa4jException.at(file, null, "cannot read the metrics log: " + e.getMessage(), e);
        }
        return out;
    }

    @Override
    public void close() {
        try {
            if (out != null) out.close();
        } catch (IOException ignored) {
            // nothing left to save
        }
    }
}
