package org.gsa4j;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.tools.ToolProvider;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The library's API documentation builds without errors, with the checks the build's javadoc plugin runs (doclint, all but missing comments). */
class JavadocTest {
    @TempDir
    Path out;

    @Test
    void theApiDocumentationBuildsWithoutErrors() throws Exception {
        List<String> args = new ArrayList<>(List.of("-quiet", "-Xdoclint:all,-missing", "--add-modules", "jdk.incubator.vector",
                "-cp", System.getProperty("java.class.path"), "-d", out.toString()));
        try (Stream<Path> s = Files.walk(Path.of("src/main/java"))) {
            s.filter(p -> p.toString().endsWith(".java")).map(Path::toString).sorted().forEach(args::add);
        }
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        PrintStream ps = new PrintStream(log, true, StandardCharsets.UTF_8);
        int rc = ToolProvider.getSystemDocumentationTool().run(null, ps, ps, args.toArray(String[]::new));
        String text = log.toString(StandardCharsets.UTF_8);
        assertEquals(0, rc, text);
        assertEquals(List.of(), text.lines().filter(l -> l.contains("error:")).toList());
    }
}
