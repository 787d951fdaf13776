package org.gsa4j.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The session stores: the directory store's atomic writes and least-recently-used bound, and a
 * session created by one server resumed by a second server process, through a directory and
 * through a real redis-server (Debian's package; started here on a free port and stopped after).
 */
class StoresTest {
    @TempDir
    static Path tmp;
    static Process redis;
    static int redisPort;
    static final HttpClient HTTP = HttpClient.newHttpClient();

    @BeforeAll
    static void startRedis() throws Exception {
        Path exe = Stream.of("/usr/bin/redis-server", "/usr/local/bin/redis-server").map(Path::of).filter(Files::isExecutable).findFirst().orElse(null);
        if (exe == null) {
            if (System.getenv("CI") != null) throw new IllegalStateException("redis-server is not installed (.ci/run installs Debian's redis-server)");
            return;
        }
        try (ServerSocket s = new ServerSocket(0)) {
            redisPort = s.getLocalPort();
        }
        redis = new ProcessBuilder(exe.toString(), "--port", Integer.toString(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
                .redirectErrorStream(true).redirectOutput(tmp.resolve("redis.log").toFile()).start();
        long deadline = System.currentTimeMillis() + 10_000;
        while (true) {
            try (var c = new java.net.Socket("127.0.0.1", redisPort)) {
                break;
            } catch (java.io.IOException e) {
                if (System.currentTimeMillis() > deadline) throw new IllegalStateException("redis-server did not start: " + Files.readString(tmp.resolve("redis.log")));
                Thread.sleep(50);
            }
        }
    }

    @AfterAll
    static void stopRedis() throws Exception {
        if (redis != null) {
            redis.destroy();
            redis.waitFor(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void theDirectoryStoreWritesAtomicallyAndEvictsTheLeastRecentlyUsed() throws Exception {
        Path dir = tmp.resolve("lru");
        DirectoryStore store = new DirectoryStore(dir, 2500);
        store.put("a", new byte[1000]);
        store.put("b", new byte[1000]);
        assertTrue(store.get("a").isPresent());   // a is now more recent than b
        store.put("c", new byte[1000]);
        assertTrue(store.get("a").isPresent());
        assertFalse(store.get("b").isPresent(), "b, the least recently used, was evicted");
        assertTrue(store.get("c").isPresent());
        assertEquals(2000, store.sizeBytes());
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(2, files.filter(p -> p.toString().endsWith(".gsa4jds")).count(), "no temporary files left");
        }
        DirectoryStore reopened = new DirectoryStore(dir, 2500);   // the index survives a restart
        assertEquals(2000, reopened.sizeBytes());
        assertArrayEquals(new byte[1000], reopened.get("c").orElseThrow());
    }

    @Test
    void aSecondServerProcessResumesASessionThroughADirectory() throws Exception {
        resumeInAnotherProcess(tmp.resolve("shared-sessions").toString(), "dir");
    }

    @Test
    void aSecondServerProcessResumesASessionThroughRedis() throws Exception {
        Assumptions.assumeTrue(redis != null, "redis-server is not installed here (CI installs it)");
        resumeInAnotherProcess("redis://127.0.0.1:" + redisPort, "redis");
    }

    /** Server A (this JVM) starts a session; server B (another JVM) continues it; the tokens equal one request holding it all. */
    private static void resumeInAnotherProcess(String store, String name) throws Exception {
        Path modelDir = TinyModel.write(tmp.resolve(name).resolve("tiny"), true);
        int[] first = {3, 14, 15, 92, 65}, second = {35, 89, 79, 32};
        try (Server a = Server.start(ServeOptions.defaults(modelDir).withPort(0).withStateStore(store))) {
            String session = "conversation-" + name;
            int[] g1 = ids(post(a.port(), ServerTest.completion(first, 6).put("session_id", session).put("temperature", 0.7).put("seed", 5)));
            Process b = startServer(modelDir, store, 5);
            try {
                int port = port(b);
                int[] g2 = ids(post(port, ServerTest.completion(second, 6).put("session_id", session).put("temperature", 0.7).put("seed", 5)));
                int[] whole = ServerTest.concat(first, g1, second);
                assertArrayEquals(ids(post(a.port(), ServerTest.completion(whole, 6).put("temperature", 0.7).put("seed", 5))), g2);
            } finally {
                b.destroy();   // SIGTERM: drains and exits
                assertTrue(b.waitFor(60, TimeUnit.SECONDS), "server B stops on SIGTERM");
            }
        }
    }

    /** {@code gsa4j serve} in another JVM ({@code more}: further options). */
    static Process startServer(Path modelDir, String store, int drainSeconds, String... more) throws Exception {
        return new ProcessBuilder(serverCommand(modelDir, store, drainSeconds, more)).redirectErrorStream(true).start();
    }

    /** The command line of {@code gsa4j serve} in another JVM, on this JVM's class path. */
    static List<String> serverCommand(Path modelDir, String store, int drainSeconds, String... more) {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), ServeCommand.class.getName(),
                "--model", modelDir.toString(), "--port", "0", "--state-store", store, "--drain-seconds", Integer.toString(drainSeconds)));
        cmd.addAll(List.of(more));
        return cmd;
    }

    /** The port from the server's banner line. */
    static int port(Process p) throws Exception {
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        Pattern banner = Pattern.compile("on http://[^:]+:(\\d+)");
        StringBuilder seen = new StringBuilder();
        for (String line; (line = out.readLine()) != null; ) {
            seen.append(line).append('\n');
            Matcher m = banner.matcher(line);
            if (line.startsWith("gsa4j serve:") && m.find()) {
                Thread.ofVirtual().start(() -> {   // keep draining its output until it exits
                    try {
                        out.lines().forEach(l -> {});
                    } catch (java.io.UncheckedIOException closed) {
                        // the process is gone
                    }
                });
                return Integer.parseInt(m.group(1));
            }
        }
        throw new IllegalStateException("the server process exited: " + seen);
    }

    static JsonNode post(int port, ObjectNode body) throws Exception {
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/completions"))
                .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        return ServerTest.JSON.readTree(r.body());
    }

    static int[] ids(JsonNode r) {
        return ServerTest.ids(r.get("choices").get(0));
    }
}
