package org.gsa4j;

import org.gsa4j.config.ModelSize;
import org.gsa4j.data.BpeTrainer;
import org.gsa4j.data.Tokenizer;
import org.gsa4j.infer.Generator;
import org.gsa4j.infer.Sampler;
import org.gsa4j.io.SafeTensors;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.ModelLoader;
import org.gsa4j.models.ModelRegistry;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.tools.ToolProvider;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The README's "Using gsa4j from Java" example, taken from README.md itself (so the two cannot
 * drift), compiled against the library and run in its own JVM on a small model with a tokenizer: it
 * must print the same text as decoding the same generation at once.
 */
class ReadmeExampleTest {
    @TempDir
    Path dir;

    static String example() throws Exception {
        String readme = Files.readString(Path.of("").toAbsolutePath().getParent().resolve("README.md"));
        int section = readme.indexOf("## Using gsa4j from Java");
        assertTrue(section >= 0, "README has the section");
        Matcher m = Pattern.compile("```java\\n(.*?)```", Pattern.DOTALL).matcher(readme);
        assertTrue(m.find(section), "the section has a java block");
        return m.group(1);
    }

    @Test
    void theReadmeExampleCompilesAndStreamsTheGeneratedText() throws Exception {
        // a small model and its tokenizer
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < 300; i++) text.append("It is a truth universally acknowledged, that a single man in possession of a good fortune. ");
        Path model = Files.createDirectories(dir.resolve("model"));
        BpeTrainer.train(List.of(text.toString()), 300).saveHuggingFace(model);
        CausalLM lm = ModelLoader.create(ModelRegistry.preset("gsa", new ModelSize(300, 16, 1, 2, 4, 0)).toJson(), 7);
        ModelLoader.save(lm, model, SafeTensors.DType.F32);

        String source = example();
        Path src = Files.createDirectories(dir.resolve("src"));
        Files.writeString(src.resolve("Example.java"), source);
        Path classes = Files.createDirectories(dir.resolve("classes"));
        ByteArrayOutputStream diagnostics = new ByteArrayOutputStream();
        int rc = ToolProvider.getSystemJavaCompiler().run(null, diagnostics, diagnostics, "--add-modules", "jdk.incubator.vector",
                "-cp", System.getProperty("java.class.path"), "-d", classes.toString(), src.resolve("Example.java").toString());
        assertEquals(0, rc, diagnostics.toString(StandardCharsets.UTF_8));

        // run as a user would: its own JVM, the library on the class path
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process run = new ProcessBuilder(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx1g", "-Dstdout.encoding=UTF-8",
                "-cp", classes + File.pathSeparator + System.getProperty("java.class.path"), "Example", model.toString())
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String printed = new String(run.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(run.waitFor(120, TimeUnit.SECONDS), "the example finishes");
        assertEquals(0, run.exitValue(), printed);

        // the same generation, decoded at once
        try (Tokenizer tok = Tokenizer.loadFast(model.resolve("tokenizer.json"))) {
            int[] prompt = tok.encode("It is a truth universally acknowledged, that");
            List<Integer> ids = new ArrayList<>();
            Generator.Stats s = new Generator(ModelLoader.load(model)).generate(prompt, 40, Sampler.of(0.8, 40, 1.0, 42), ids::add);
            String expected = tok.decode(ids.stream().mapToInt(Integer::intValue).toArray());
            assertTrue(printed.startsWith(expected + System.lineSeparator() + s.newTokens() + " tokens at "), printed + " vs " + expected);
            assertFalse(expected.isBlank());
        }
    }
}
