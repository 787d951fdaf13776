package org.gsa4j.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.tools.ToolProvider;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The launcher {@code ./gsa4j} on a machine without Maven: it runs a jar that is already built, and
 * builds a missing one with the Maven Wrapper. Run in a copy of the launcher's files with a PATH
 * that has the shell tools and no {@code mvn}.
 */
class LauncherTest {
    @TempDir
    Path tmp;

    static final Path REPO = Path.of("").toAbsolutePath().getParent();

    /** A copy of the launcher and scripts/jdk.sh in {@code root}. */
    private Path launcherIn(Path root) throws Exception {
        Files.createDirectories(root.resolve("scripts"));
        Files.copy(REPO.resolve("gsa4j"), root.resolve("gsa4j"));
        Files.copy(REPO.resolve("scripts/jdk.sh"), root.resolve("scripts/jdk.sh"));
        return root;
    }

    /** A jar whose main class prints "hello" and its arguments. */
    private void helloJar(Path jar) throws Exception {
        Path src = Files.createDirectories(tmp.resolve("src"));
        Files.writeString(src.resolve("Hello.java"), "public class Hello { public static void main(String[] a) {"
                + " System.out.println(\"hello \" + String.join(\" \", a)); } }");
        assertEquals(0, ToolProvider.getSystemJavaCompiler().run(null, null, null, "-d", src.toString(), src.resolve("Hello.java").toString()));
        Manifest m = new Manifest();
        m.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        m.getMainAttributes().put(Attributes.Name.MAIN_CLASS, "Hello");
        Files.createDirectories(jar.getParent());
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar), m)) {
            out.putNextEntry(new JarEntry("Hello.class"));
            out.write(Files.readAllBytes(src.resolve("Hello.class")));
            out.closeEntry();
        }
    }

    /** A PATH of the tools the launcher uses, without mvn. */
    private Path toolsWithoutMaven() throws Exception {
        Path bin = Files.createDirectories(tmp.resolve("bin"));
        for (String tool : List.of("bash", "env", "dirname", "readlink", "sed", "head", "find", "grep", "cat", "mkdir", "cp", "touch")) {
            for (String dir : List.of("/usr/bin", "/bin")) {
                Path p = Path.of(dir, tool);
                if (Files.isExecutable(p)) {
                    Files.createSymbolicLink(bin.resolve(tool), p);
                    break;
                }
            }
        }
        assertFalse(Files.exists(bin.resolve("mvn")));
        return bin;
    }

    private record Result(int code, String out, String err) {}

    private Result launch(Path root, Path path, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(root.resolve("gsa4j").toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(root.toFile());
        Map<String, String> env = pb.environment();
        env.clear();
        env.put("PATH", path.toString());
        env.put("HOME", tmp.toString());
        env.put("JAVA_HOME", System.getProperty("java.home"));
        pb.redirectOutput(tmp.resolve("out.txt").toFile()).redirectError(tmp.resolve("err.txt").toFile());
        Process p = pb.start();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        return new Result(p.exitValue(), Files.readString(tmp.resolve("out.txt")), Files.readString(tmp.resolve("err.txt")));
    }

    @Test
    void aBuiltJarRunsWithoutMaven() throws Exception {
        Path root = launcherIn(tmp.resolve("clone"));
        helloJar(root.resolve("gsa4j-cli/target/gsa4j.jar"));
        Result r = launch(root, toolsWithoutMaven(), "--version");
        assertEquals(0, r.code(), r.err());
        assertEquals("hello --version\n", r.out());
    }

    @Test
    void withoutMavenAMissingJarIsBuiltByTheWrapper() throws Exception {
        Path root = launcherIn(tmp.resolve("fresh"));
        helloJar(tmp.resolve("built.jar"));
        // a stand-in for the Maven Wrapper: records its arguments and "builds" the jar
        Files.writeString(root.resolve("mvnw"), "#!/usr/bin/env bash\necho \"$@\" > \"$(dirname \"$0\")/mvnw-args\"\n"
                + "mkdir -p \"$(dirname \"$0\")/gsa4j-cli/target\"\ncp " + tmp.resolve("built.jar") + " \"$(dirname \"$0\")/gsa4j-cli/target/gsa4j.jar\"\n");
        assertTrue(root.resolve("mvnw").toFile().setExecutable(true));
        Result r = launch(root, toolsWithoutMaven(), "demo");
        assertEquals(0, r.code(), r.err());
        assertEquals("hello demo\n", r.out());
        assertTrue(Files.readString(root.resolve("mvnw-args")).contains("package -pl gsa4j-cli -am"));
    }

    @Test
    void theWrapperPinsAMavenRelease() throws Exception {
        assertTrue(Files.isExecutable(REPO.resolve("mvnw")));
        String props = Files.readString(REPO.resolve(".mvn/wrapper/maven-wrapper.properties"));
        assertTrue(props.matches("(?s).*distributionUrl=\\S+/org/apache/maven/apache-maven/3\\.9\\.\\d+/apache-maven-3\\.9\\.\\d+-bin\\.zip.*"), props);
    }
}
