package org.gsa4j.cli;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** The README and docs/ stay true: links resolve, every command is described, no internal issue numbers. */
class DocsTest {
    static final Path REPO = Path.of("").toAbsolutePath().getParent();

    private static List<Path> pages() throws Exception {
        List<Path> out = new ArrayList<>(List.of(REPO.resolve("README.md")));
        try (Stream<Path> s = Files.walk(REPO.resolve("docs"))) {
            s.filter(p -> p.toString().endsWith(".md")).sorted().forEach(out::add);
        }
        return out;
    }

    @Test
    void relativeLinksResolve() throws Exception {
        Pattern link = Pattern.compile("\\]\\(([^)#\\s]+)(#[^)]*)?\\)");
        List<String> broken = new ArrayList<>();
        for (Path page : pages()) {
            Matcher m = link.matcher(Files.readString(page));
            while (m.find()) {
                String target = m.group(1);
                if (target.matches("[a-z]+:.*")) continue; // a URL
                // BENCHMARKS.md is rendered from docs/bench/NOTES.md into docs/: its links are relative to docs/
                Path base = page.getFileName().toString().equals("NOTES.md") ? REPO.resolve("docs") : page.getParent();
                if (!Files.exists(base.resolve(target))) broken.add(REPO.relativize(page) + " -> " + target);
            }
        }
        assertEquals(List.of(), broken);
    }

    @Test
    void noInternalIssueNumbers() throws Exception {
        Pattern issue = Pattern.compile("\\b[Ii]ssues? #?\\d+");
        List<String> found = new ArrayList<>();
        for (Path page : pages()) {
            Matcher m = issue.matcher(Files.readString(page));
            while (m.find()) found.add(REPO.relativize(page) + ": " + m.group());
        }
        assertEquals(List.of(), found);
    }

    @Test
    void theReadmeDescribesEveryCommandAndTheirNewOptions() throws Exception {
        String readme = Files.readString(REPO.resolve("README.md"));
        for (String command : Main.commandLine().getSubcommands().keySet()) {
            assertTrue(readme.contains("| `" + command + "` |"), "README's command table lists " + command);
        }
        for (String option : List.of("--prompt-file", "--stop", "--repetition-penalty", "--no-echo", "--json", "--check-tensors", "--max-tokens",
                "--threads")) {
            assertTrue(readme.contains(option), "README mentions " + option);
        }
        assertTrue(readme.contains("java --add-modules jdk.incubator.vector"), "the plain java command");
        assertFalse(Files.readString(REPO.resolve("docs/RELIABILITY.md")).contains("does not exist yet"));
    }

    @Test
    void theReadmesPackageTablesListEveryPackage() throws Exception {
        String tables = Files.readAllLines(REPO.resolve("README.md")).stream().filter(l -> l.startsWith("|")).collect(Collectors.joining("\n"));
        String marker = "/src/main/java/org/gsa4j/";
        Set<String> packages = new TreeSet<>();
        try (Stream<Path> s = Files.walk(REPO)) {
            s.map(p -> p.toString().replace('\\', '/'))
                    .filter(p -> p.endsWith(".java") && p.contains(marker) && !p.contains("/target/"))
                    .map(p -> p.substring(p.indexOf(marker) + marker.length(), p.lastIndexOf('/') + 1))
                    .filter(dir -> !dir.isEmpty())
                    .forEach(dir -> packages.add(dir.substring(0, dir.length() - 1).replace('/', '.')));
        }
        assertTrue(packages.size() > 10, "packages found: " + packages);
        List<String> missing = packages.stream().filter(p -> !tables.contains("`" + p + "`")).toList();
        assertEquals(List.of(), missing, "packages (under org.gsa4j) the README's tables do not list");
    }
}
