package org.gsa4j.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.gsa4j.Gsa4jException;
import org.gsa4j.bench.suites.BenchContext;
import org.gsa4j.bench.suites.BenchRunner;
import org.gsa4j.bench.suites.Report;
import org.gsa4j.tensor.Parallel;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code gsa4j bench}: the machine's ceilings, kernels, training and decoding, measured in one
 * process. The entry point of the benchmarks' own jar ({@code gsa4j-bench.jar}, started by the
 * launcher), so that the user's jar carries neither JMH nor the suites.
 */
@Command(name = "gsa4j bench", mixinStandardHelpOptions = true, version = "gsa4j 0.1.0",
        description = {"Measure gsa4j against the machine's ceilings (FMA peak, DRAM bandwidth) and against a PyTorch peer.",
                "Suites: ceilings, gemm, op, train, decode, scaling (or all), serve (a load test of gsa4j serve, not in all). Prints a table; --json writes every figure; --docs renders BENCHMARKS.md and plots."})
public final class BenchMain implements Callable<Integer> {
    @Option(names = "--suite", defaultValue = "all", paramLabel = "LIST", description = "Comma list of suites, or all (default: ${DEFAULT-VALUE}).")
    String suite;

    @Option(names = "--json", paramLabel = "FILE", description = "Write the results as JSON (default: none).")
    Path json;

    @Option(names = {"-t", "--threads"}, paramLabel = "N", description = "Worker threads (default: all cores).")
    Integer threads;

    @Option(names = "--quick", description = "Small shapes and few repetitions (seconds; for tests).")
    boolean quick;

    @Option(names = "--python", paramLabel = "EXE", description = "Python with torch for the peer; '' skips the peer (default: /usr/bin/python3 if present, else python3).")
    String python;

    @Option(names = "--docs", paramLabel = "DIR", description = "Render DIR/BENCHMARKS.md and DIR/bench/*.png|json from this run (default: none).")
    Path docs;

    @Option(names = "--render", paramLabel = "JSON", description = "Only render --docs from a saved JSON of one run, measuring nothing (default: measure).")
    Path render;

    @Override
    public Integer call() throws IOException {
        if (render != null) {
            if (docs == null) throw new IllegalArgumentException("--render needs --docs DIR");
            ObjectNode doc = (ObjectNode) BenchContext.JSON.readTree(render.toFile());
            Report.write(doc, docs);
            System.out.println("wrote " + docs.resolve("BENCHMARKS.md"));
            return 0;
        }
        List<String> suites = BenchRunner.parse(suite);
        int n = threads == null ? Runtime.getRuntime().availableProcessors() : threads;
        if (n < 1) throw new IllegalArgumentException("--threads must be >= 1");
        // The common pool is sized before anything uses it (Parallel runs on it).
        System.setProperty("java.util.concurrent.ForkJoinPool.common.parallelism", Integer.toString(Math.max(0, n - 1)));
        if (Parallel.machineThreads() < n) {
            System.err.printf("gsa4j bench: the common pool was already started with %d threads; measuring with those%n", Parallel.machineThreads());
            n = Parallel.machineThreads();
        }
        Parallel.useThreads(n);
        String py = python != null ? python : Files.isExecutable(Path.of("/usr/bin/python3")) ? "/usr/bin/python3" : "python3";
        BenchContext ctx = new BenchContext(n, quick, System.out, py, Path.of("").toAbsolutePath());
        String cmd = "gsa4j bench --suite " + String.join(",", suites) + (threads != null ? " --threads " + threads : "")
                + (quick ? " --quick" : "") + (json != null ? " --json " + json : "") + (docs != null ? " --docs " + docs : "");
        ObjectNode doc = BenchRunner.run(ctx, suites, cmd);
        if (json != null) {
            Path parent = json.toAbsolutePath().getParent();
            if (parent != null) Files.createDirectories(parent);
            BenchContext.JSON.writerWithDefaultPrettyPrinter().writeValue(json.toFile(), doc);
            System.out.println("wrote " + json);
        }
        if (docs != null) {
            Report.write(doc, docs);
            System.out.println("wrote " + docs.resolve("BENCHMARKS.md"));
        }
        return 0;
    }

    /** Runs the bench command line; errors in the arguments or the input are one line, exit 2. */
    public static int run(String... args) {
        CommandLine cli = new CommandLine(new BenchMain());
        cli.setParameterExceptionHandler((e, a) -> {
            e.getCommandLine().getErr().println("gsa4j: " + e.getMessage());
            e.getCommandLine().getErr().println("Try 'gsa4j bench --help' for the options.");
            return 2;
        });
        cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
            if (e instanceof Gsa4jException || e instanceof IllegalArgumentException) {
                cmd.getErr().println("gsa4j: " + e.getMessage());
                return 2;
            }
            throw e;
        });
        return cli.execute(args);
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }
}
