package org.gsa4j.cuda.models;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * The reference model cases of one model_type, discovered as the core tests do: GSA4J_REFERENCE_DIR, else the
 * core module's test resources (seen from the repository root or from this module).
 */
final class ReferenceModels {
    private ReferenceModels() {}

    static Path root() {
        String env = System.getenv("GSA4J_REFERENCE_DIR");
        if (env != null && !env.isBlank()) return Path.of(env);
        for (String candidate : new String[] {"gsa4j-core/src/test/resources/reference", "../gsa4j-core/src/test/resources/reference"}) {
            if (Files.isDirectory(Path.of(candidate))) return Path.of(candidate);
        }
        throw new IllegalStateException("reference folder not found; set GSA4J_REFERENCE_DIR");
    }

    /** Every case folder under reference/models whose config.json has this model_type, sorted by name. */
    static List<Path> cases(String modelType) throws IOException {
        try (Stream<Path> s = Files.list(root().resolve("models"))) {
            List<Path> out = s.filter(p -> Files.isRegularFile(p.resolve("config.json")))
                    .filter(p -> modelType.equals(modelType(p))).sorted().toList();
            if (out.isEmpty()) throw new IllegalStateException("no " + modelType + " cases under " + root().resolve("models"));
            return out;
        }
    }

    private static String modelType(Path dir) {
        try {
            return new ObjectMapper().readTree(dir.resolve("config.json").toFile()).path("model_type").asText();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
