package org.gsa4j.cli;

import org.gsa4j.io.SafeTensors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code gsa4j generate} reproduces the reference library's greedy continuation. */
class GenerateCommandTest {

    /** The model case {@code name} of the reference folder: GSA4J_REFERENCE_DIR, else the copy in the test resources. */
    static Path referenceModel(String name) throws URISyntaxException {
        String env = System.getenv("GSA4J_REFERENCE_DIR");
        return (env != null && !env.isBlank() ? Path.of(env) : bundledReference()).resolve("models").resolve(name);
    }

    /** A checkpoint a test needs for what it is (not a conformance case): from the copy shipped with the tests, whatever GSA4J_REFERENCE_DIR says. */
    static Path fixture(String name) throws URISyntaxException {
        return bundledReference().resolve("models").resolve(name);
    }

    private static Path bundledReference() throws URISyntaxException {
        return Path.of(GenerateCommandTest.class.getResource("/reference").toURI());
    }

    record Run(int exitCode, String out, String err) {}

    static Run run(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int code = Main.run(args);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    /** Every model folder of the reference folder (one with a config.json), by name. */
    static List<String> referenceModels() throws Exception {
        Path models = referenceModel("x").getParent();
        List<String> names;
        try (Stream<Path> dirs = Files.list(models)) {
            names = dirs.filter(d -> Files.isRegularFile(d.resolve("config.json"))).map(d -> d.getFileName().toString()).sorted().toList();
        }
        assertFalse(names.isEmpty(), "no model cases under " + models);
        System.out.println("generate: " + names.size() + " reference models " + names + " from " + models);
        return names;
    }

    @ParameterizedTest
    @MethodSource("referenceModels")
    void greedyTokensMatchTheReference(String name) throws Exception {
        Path model = referenceModel(name);
        long[] prompt, want;
        try (SafeTensors st = SafeTensors.open(model.resolve("expected.safetensors"))) {
            prompt = st.i64("generate.prompt");
            want = st.i64("generate.tokens");
        }
        String ids = Arrays.stream(prompt).mapToObj(Long::toString).collect(Collectors.joining(","));
        Run r = run("generate", "--model", model.toString(), "--prompt-ids", ids, "--temperature", "0",
                "--max-new-tokens", String.valueOf(want.length), "--stats");
        assertEquals(0, r.exitCode(), r.err());
        String expected = Arrays.stream(want).mapToObj(Long::toString).collect(Collectors.joining(" "));
        assertEquals(expected, r.out().trim());
        assertTrue(r.err().contains("decoding state"), r.err());
    }

    @Test
    void textPromptWithoutTokenizerIsAClearError() throws Exception {
        Run r = run("generate", "--model", fixture("gsa").toString(), "--prompt", "hello");
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("tokenizer.json"), r.err());
    }

    @Test
    void missingModelDirectoryIsAClearError() {
        Run r = run("generate", "--model", "/nonexistent/model", "--prompt-ids", "1,2");
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("/nonexistent/model"), r.err());
        assertTrue(!r.err().contains("Exception"), "one clear line, no stack trace: " + r.err());
    }

    @Test
    void maxNewTokensIsBounded() throws Exception {
        for (String n : new String[] {"-1", "1048577", "2147483647"}) {
            Run r = run("generate", "--model", fixture("gsa").toString(), "--prompt-ids", "1,2", "--max-new-tokens", n);
            assertEquals(2, r.exitCode(), n);
            assertTrue(r.err().contains("--max-new-tokens must be in [0, 1048576]"), r.err());
        }
    }
}
