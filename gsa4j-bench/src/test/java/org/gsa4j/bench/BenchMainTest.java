package org.gsa4j.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code gsa4j bench --quick} runs every suite and writes JSON with the expected fields and finite
 * numbers, and the docs render from it. No timing thresholds: only shape and sanity.
 */
class BenchMainTest {
    @TempDir
    Path tmp;

    @Test
    void quickRunOfEverySuiteWritesFiniteJsonAndDocs() throws IOException {
        Path json = tmp.resolve("bench.json");
        Run r = run("--quick", "--suite", "all", "--json", json.toString());
        assertEquals(0, r.exitCode(), r.err() + r.out());
        JsonNode doc = new ObjectMapper().readTree(json.toFile());

        JsonNode meta = doc.path("meta");
        for (String f : new String[]{"command", "threads", "cpu", "cores", "load_avg_start", "load_avg_end", "java"}) {
            assertTrue(meta.has(f), "meta." + f);
        }
        assertEquals(6, meta.path("load_per_suite").size());
        assertTrue(doc.path("ceilings_used").path("peak_gflops").asDouble() > 0);
        assertTrue(doc.path("ceilings_used").path("read_gbs").asDouble() > 0);

        for (String suite : new String[]{"ceilings", "gemm", "op", "train", "decode", "scaling"}) {
            JsonNode rows = doc.path("suites").path(suite);
            assertTrue(rows.isArray() && !rows.isEmpty(), suite + " has rows");
            for (JsonNode row : rows) {
                assertTrue(row.has("name") && row.has("status"), suite + " row fields: " + row);
                if (row.path("status").asText().equals("ok")) assertFinite(suite + "/" + row.path("name").asText(), row);
            }
        }
        has(doc, "ceilings", "fma_peak", "gflops", "gflops_per_cpu_s", "peak_gflops_used");
        has(doc, "ceilings", "dram_triad", "gbs");
        has(doc, "ceilings", "dram_read", "gbs");
        for (JsonNode g : doc.path("suites").path("gemm")) need(g, "gflops", "frac_peak", "m", "n", "k", "median_s");
        has(doc, "op", "forward T=256", "tokens_per_s", "gflops", "frac_peak");
        has(doc, "op", "forward+backward T=256", "tokens_per_s", "gflops", "frac_peak");
        has(doc, "op", "recurrent step", "seconds_per_token", "gflops");
        has(doc, "train", "model", "params", "flops_per_step");
        has(doc, "train", "java", "step_s", "tokens_per_s", "mfu");
        has(doc, "train", "loss check", "java");
        JsonNode peer = row(doc, "train", "pytorch chunk");
        if (peer != null && peer.path("status").asText().equals("ok")) {
            has(doc, "train", "loss check", "chunk", "naive", "rel_diff_chunk", "rel_diff_naive");
            assertEquals("ok", row(doc, "train", "loss check").path("status").asText(), "Java and the peers agree on the loss");
            has(doc, "train", "speedup", "vs_chunk", "vs_naive");
        }
        has(doc, "decode", "gsa F32 ctx=256", "seconds_per_token", "frac_roofline", "state_bytes", "bytes_per_token");
        has(doc, "decode", "gsa F32 ctx=1024", "seconds_per_token", "frac_roofline", "state_bytes");
        // GSA's state does not grow with the context
        assertEquals(row(doc, "decode", "gsa F32 ctx=256").path("state_bytes").asLong(), row(doc, "decode", "gsa F32 ctx=1024").path("state_bytes").asLong());
        has(doc, "decode", "gsa BF16 ctx=1024", "seconds_per_token", "frac_roofline", "bytes_per_token");
        List<String> groups = new ArrayList<>();
        for (JsonNode sc : doc.path("suites").path("scaling")) {
            need(sc, "group", "threads", "seconds", "speedup", "cpu_share", "jobs_per_call", "tasks_per_job");
            assertEquals(1, sc.path("threads").get(0).asInt(), "the first count is one thread");
            assertEquals(1.0, sc.path("speedup").get(0).asDouble(), 1e-12, "speed-up over itself");
            assertEquals(sc.path("threads").size(), sc.path("seconds").size());
            groups.add(sc.path("group").asText());
        }
        assertTrue(groups.containsAll(List.of("job", "gemm", "op", "train", "decode")), "scaling groups: " + groups);
        assertTrue(row(doc, "decode", "gsa BF16 ctx=1024").path("bytes_per_token").asLong()
                < row(doc, "decode", "gsa F32 ctx=1024").path("bytes_per_token").asLong(), "BF16 weights read fewer bytes per token");
        JsonNode llama = row(doc, "decode", "llama F32 ctx=1024");
        if (llama != null && llama.path("status").asText().equals("ok")) {
            assertTrue(llama.path("state_bytes").asLong() > row(doc, "decode", "llama F32 ctx=256").path("state_bytes").asLong(), "KV cache grows");
        } else {
            assertTrue(row(doc, "decode", "llama F32") != null || llama != null, "a llama row says why it is missing");
        }

        Path docs = tmp.resolve("docs");
        Run render = run("--render", json.toString(), "--docs", docs.toString());
        assertEquals(0, render.exitCode(), render.err());
        String md = Files.readString(docs.resolve("BENCHMARKS.md"));
        assertTrue(md.contains("## Targets") && md.contains("## Ceilings") && md.contains("gsa4j bench"), md);
        assertTrue(Files.size(docs.resolve("bench/op.png")) > 1000);
        assertTrue(Files.size(docs.resolve("bench/decode.png")) > 1000);
    }

    @Test
    void unknownSuiteIsRefused() {
        Run r = run("--suite", "gemm,nope");
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("unknown suite 'nope'"), r.err());
    }

    /** The serve suite at a tiny size: a server, the four levels of streams, a resumed session, the memory rounds; no errors. */
    @Test
    void quickServeSuiteLoadsAServerWithoutErrors() throws IOException {
        Path json = tmp.resolve("serve.json");
        Run r = run("--quick", "--suite", "serve", "--json", json.toString());
        assertEquals(0, r.exitCode(), r.err() + r.out());
        JsonNode doc = new ObjectMapper().readTree(json.toFile());
        for (JsonNode row : doc.path("suites").path("serve")) assertFinite("serve/" + row.path("name").asText(), row);
        for (int n : new int[] {1, 4, 16, 64}) {
            has(doc, "serve", "streams=" + n, "tokens_per_s", "ttft_p50_s", "ttft_p99_s", "itl_p50_s", "itl_p99_s");
            JsonNode level = row(doc, "serve", "streams=" + n);
            assertEquals(0, level.path("errors").asInt(), level.toString());
            assertEquals(2L * n * 8, level.path("tokens").asLong(), "every client got all its tokens");
        }
        has(doc, "serve", "resume history=1000", "fresh_ttft_p50_s", "resumed_ttft_p50_s", "resumed_over_fresh", "state_bytes");
        has(doc, "serve", "memory requests=400", "heap_after_warmup_bytes", "heap_last_bytes");
        assertEquals(0, row(doc, "serve", "memory requests=400").path("errors").asInt());
        assertEquals(4, row(doc, "serve", "memory requests=400").path("series").size());
        has(doc, "serve", "targets", "throughput_16_over_1", "resume_over_fresh_ttft");
        assertEquals(0, row(doc, "serve", "targets").path("errors").asInt());
        assertTrue(r.out().contains("targets:"), r.out());
    }

    record Run(int exitCode, String out, String err) {}

    static Run run(String... args) {
        java.io.PrintStream oldOut = System.out, oldErr = System.err;
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(), err = new java.io.ByteArrayOutputStream();
        try {
            System.setOut(new java.io.PrintStream(out, true, java.nio.charset.StandardCharsets.UTF_8));
            System.setErr(new java.io.PrintStream(err, true, java.nio.charset.StandardCharsets.UTF_8));
            int code = BenchMain.run(args);
            return new Run(code, out.toString(java.nio.charset.StandardCharsets.UTF_8), err.toString(java.nio.charset.StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    static JsonNode row(JsonNode doc, String suite, String name) {
        for (JsonNode r : doc.path("suites").path(suite)) if (r.path("name").asText().equals(name)) return r;
        return null;
    }

    static void has(JsonNode doc, String suite, String name, String... fields) {
        JsonNode r = row(doc, suite, name);
        assertNotNull(r, suite + " row '" + name + "'");
        need(r, fields);
    }

    static void need(JsonNode r, String... fields) {
        for (String f : fields) assertTrue(r.has(f), r.path("name").asText() + " has " + f + ": " + r);
    }

    static void assertFinite(String where, JsonNode n) {
        if (n.isNumber()) {
            assertTrue(Double.isFinite(n.asDouble()), where + " = " + n);
        } else if (n.isObject()) {
            for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                assertFinite(where + "." + e.getKey(), e.getValue());
            }
        } else if (n.isArray()) {
            for (JsonNode c : n) assertFinite(where + "[]", c);
        }
    }
}
