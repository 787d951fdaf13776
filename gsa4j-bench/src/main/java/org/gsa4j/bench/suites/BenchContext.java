package org.gsa4j.bench.suites;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What every suite shares: the options, the measured ceilings (filled by the ceilings suite, or
 * measured on demand), the JSON document being built and the console.
 */
public final class BenchContext {
    public static final ObjectMapper JSON = new ObjectMapper();

    public final int threads;
    public final boolean quick;
    public final PrintStream out;
    /** Python with torch for the peer ("" = do not run the peer). */
    public final String python;
    /** Repository root (bench/peer/gsa_peer.py lives under it). */
    public final Path root;
    public final ObjectNode doc = JSON.createObjectNode();
    private final Map<String, ArrayNode> suites = new LinkedHashMap<>();

    /** Measured FP32 FMA peak of all threads (GFLOP/s) and DRAM bandwidths (GB/s); NaN until measured. */
    public double peakGflops = Double.NaN, triadGBs = Double.NaN, readGBs = Double.NaN;

    public BenchContext(int threads, boolean quick, PrintStream out, String python, Path root) {
        this.threads = threads;
        this.quick = quick;
        this.out = out;
        this.python = python;
        this.root = root;
        doc.putObject("suites");
    }

    /** A new result row in a suite: {@code name}, {@code status} ok, then the suite's fields. */
    public ObjectNode row(String suite, String name) {
        ArrayNode rows = suites.computeIfAbsent(suite, s -> ((ObjectNode) doc.get("suites")).putArray(s));
        ObjectNode r = rows.addObject();
        r.put("name", name);
        r.put("status", "ok");
        return r;
    }

    /** A row that could not be measured, with the reason. */
    public ObjectNode unavailable(String suite, String name, String why) {
        ObjectNode r = row(suite, name);
        r.put("status", "not available");
        r.put("note", why);
        out.printf("  %-44s not available: %s%n", name, why);
        return r;
    }

    /** Ensures the ceilings are known (a short measurement when the ceilings suite did not run). */
    public void needCeilings() {
        if (Double.isNaN(peakGflops)) new CeilingsSuite().measure(this, quick);
    }

    /**
     * Load-robust efficiency: FLOPs per CPU-second the process spent (all its threads, JIT and GC
     * included, so a conservative figure), as a fraction of one core's FMA rate per CPU-second.
     */
    public void putPerCpu(ObjectNode r, double flopsPerRep, Measure.Stat s) {
        double cpuSeconds = s.cpuShare() * s.median() * threads;
        if (!(cpuSeconds > 0)) return;
        double g = flopsPerRep / cpuSeconds / 1e9;
        r.put("gflops_per_cpu_s", g);
        r.put("frac_peak_per_cpu_s", g / (peakGflops / threads));
    }

    public static void put(ObjectNode r, Measure.Stat s) {
        r.put("median_s", s.median());
        r.put("min_s", s.min());
        r.put("max_s", s.max());
        r.put("reps", s.reps());
        r.put("cpu_share", s.cpuShare());
    }
}
