package org.gsa4j.models;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/** The reference vectors: the copy in the test resources, or the directory in GSA4J_REFERENCE_DIR. */
public final class ReferenceCases {
    private ReferenceCases() {}

    public static Path root() {
        String env = System.getenv("GSA4J_REFERENCE_DIR");
        if (env != null && !env.isBlank()) return Path.of(env);
        try {
            return Path.of(ReferenceCases.class.getResource("/reference").toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Every case folder under reference/models, sorted by name. */
    public static List<Path> modelCases() throws IOException {
        try (Stream<Path> s = Files.list(root().resolve("models"))) {
            return s.filter(p -> Files.isRegularFile(p.resolve("config.json"))).sorted().toList();
        }
    }
}
