package org.gsa4j.bench.suites;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/** Runs the selected suites in order in this process and records the machine and its load. */
public final class BenchRunner {
    public static final List<String> SUITES = List.of("ceilings", "gemm", "op", "train", "decode", "scaling", "serve");
    /** What "all" selects: the engine's suites; serve (minutes of load on a server) is asked for by name. */
    public static final List<String> ALL = List.of("ceilings", "gemm", "op", "train", "decode", "scaling");

    private BenchRunner() {}

    /** "all" or a comma list of suite names, in the canonical order; unknown names are refused. */
    public static List<String> parse(String spec) {
        Set<String> want = new LinkedHashSet<>();
        for (String s : spec.split(",")) {
            s = s.trim().toLowerCase();
            if (s.isEmpty()) continue;
            if (s.equals("all")) want.addAll(ALL);
            else if (SUITES.contains(s)) want.add(s);
            else throw new IllegalArgumentException("unknown suite '" + s + "' (suites: " + String.join(", ", SUITES) + ", all)");
        }
        List<String> out = new ArrayList<>();
        for (String s : SUITES) if (want.contains(s)) out.add(s);
        if (out.isEmpty()) throw new IllegalArgumentException("no suite selected");
        return out;
    }

    public static ObjectNode run(BenchContext ctx, List<String> suites, String command) {
        ObjectNode meta = ctx.doc.putObject("meta");
        meta.put("command", command);
        meta.put("started", Instant.now().toString());
        meta.put("threads", ctx.threads);
        meta.put("quick", ctx.quick);
        meta.put("java", System.getProperty("java.vm.name") + " " + Runtime.version());
        meta.put("os", System.getProperty("os.name") + " " + System.getProperty("os.version") + " " + System.getProperty("os.arch"));
        meta.put("cpu", cpuModel());
        meta.put("cores", Runtime.getRuntime().availableProcessors());
        meta.put("vector_species", CeilingsSuite.S.toString());
        meta.put("max_heap_bytes", Runtime.getRuntime().maxMemory());
        meta.put("mem_total_bytes", memTotal());
        meta.put("load_avg_start", Measure.loadAverage());
        ArrayNode loads = meta.putArray("load_per_suite");
        ctx.out.printf("gsa4j bench: %s, %d threads, %s%s, load %.2f%n", String.join(",", suites), ctx.threads,
                meta.get("cpu").asText(), ctx.quick ? " (quick)" : "", Measure.loadAverage());
        for (String s : suites) {
            double before = Measure.loadAverage();
            long t0 = System.nanoTime();
            switch (s) {
                case "ceilings" -> new CeilingsSuite().run(ctx);
                case "gemm" -> new GemmSuite().run(ctx);
                case "op" -> new OpSuite().run(ctx);
                case "train" -> new TrainSuite().run(ctx);
                case "decode" -> new DecodeSuite().run(ctx);
                case "scaling" -> new ScalingSuite().run(ctx);
                case "serve" -> new ServeSuite().run(ctx);
                default -> throw new IllegalStateException(s);
            }
            ObjectNode l = loads.addObject();
            l.put("suite", s);
            l.put("load_before", before);
            l.put("load_after", Measure.loadAverage());
            l.put("seconds", (System.nanoTime() - t0) * 1e-9);
        }
        ObjectNode c = ctx.doc.putObject("ceilings_used");
        c.put("peak_gflops", ctx.peakGflops);
        c.put("triad_gbs", ctx.triadGBs);
        c.put("read_gbs", ctx.readGBs);
        meta.put("load_avg_end", Measure.loadAverage());
        meta.put("finished", Instant.now().toString());
        return ctx.doc;
    }

    /**
     * The CPU's model name with its family and model numbers: a VM may only say "AMD EPYC", and
     * the generation behind it sets the ceilings (Zen 4, family 25, runs a 512-bit FMA at half
     * the rate of Zen 5, family 26).
     */
    static String cpuModel() {
        try {
            String name = null, family = null, model = null;
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                String value = line.substring(line.indexOf(':') + 1).trim();
                if (name == null && line.startsWith("model name")) name = value;
                else if (family == null && line.startsWith("cpu family")) family = value;
                else if (model == null && line.matches("model\\s*:.*")) model = value;
                if (line.isBlank() && name != null) break;
            }
            if (name != null) return family == null ? name : name + " (family " + family + ", model " + model + ")";
        } catch (IOException | RuntimeException ignored) {
            // not Linux
        }
        return System.getProperty("os.arch");
    }

    static long memTotal() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemTotal:")) return 1024L * Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        } catch (IOException | RuntimeException ignored) {
            // not Linux
        }
        return -1;
    }
}
