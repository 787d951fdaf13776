package org.gsa4j.models;

import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The reference vectors: the copy in the test resources, or the directory in GSA4J_REFERENCE_DIR.
 * Conformance tests discover their cases here, so a reference folder in the same format with other
 * cases runs exactly what it holds. Tests that need one particular checkpoint for what it is (a
 * config to break, a model to save and load) take it from the copy shipped with the tests
 * ({@link #fixture}), whatever the variable says.
 */
public final class ReferenceCases {
    private ReferenceCases() {}

    public static Path root() {
        String env = System.getenv("GSA4J_REFERENCE_DIR");
        return env != null && !env.isBlank() ? Path.of(env) : bundled();
    }

    /** The model folder {@code name} of the reference copy shipped in the test resources. */
    public static Path fixture(String name) {
        return bundled().resolve("models").resolve(name);
    }

    private static Path bundled() {
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

    /** Every operator case under reference/ops (a {@code NAME.json} beside its {@code NAME.safetensors}), by name, sorted. */
    public static List<String> opCases() throws IOException {
        Path ops = root().resolve("ops");
        try (Stream<Path> s = Files.list(ops)) {
            return s.map(p -> p.getFileName().toString())
                    .filter(n -> n.endsWith(".json") && Files.isRegularFile(ops.resolve(n.replaceFirst("\\.json$", ".safetensors"))))
                    .map(n -> n.replaceFirst("\\.json$", "")).sorted().toList();
        }
    }

    /** The model cases of these model types (read from each config.json), sorted by name. */
    public static List<Path> modelCases(Set<String> modelTypes) throws IOException {
        return modelCases().stream().filter(dir -> modelTypes.contains(modelType(dir))).toList();
    }

    /** The transformers Llama/Mistral cases: the sources of the T2R conversion. */
    public static List<Path> transformerCases() throws IOException {
        return modelCases(Set.of("llama", "mistral"));
    }

    private static String modelType(Path dir) {
        try {
            return new ObjectMapper().readTree(dir.resolve("config.json").toFile()).path("model_type").asText();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
