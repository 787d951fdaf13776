package org.gsa4j.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Unmatched;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code gsa4j bench} in the user's jar: the benchmarks (JMH, the suites, a PyTorch peer) live in
 * their own jar, which the launcher starts; this only says so.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measure gsa4j against the machine's ceilings and a PyTorch peer (runs from the benchmarks' own jar: ./gsa4j bench).")
public final class BenchCommand implements Callable<Integer> {

    @Unmatched
    List<String> args = new ArrayList<>();

    @Override
    public Integer call() {
        System.err.println("gsa4j: the benchmarks are not in this jar: run ./gsa4j bench " + String.join(" ", args)
                + " (or java --add-modules jdk.incubator.vector -jar gsa4j-bench/target/gsa4j-bench.jar " + String.join(" ", args) + ")");
        return Main.USAGE;
    }
}
