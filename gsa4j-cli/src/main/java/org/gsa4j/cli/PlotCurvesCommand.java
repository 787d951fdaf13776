package org.gsa4j.cli;

import org.gsa4j.Gsa4jException;
import org.gsa4j.train.CurvesPlot;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code gsa4j plot-curves}: several runs' loss curves in one PNG (used by scripts/t2r-experiment.sh). */
@Command(name = "plot-curves", mixinStandardHelpOptions = true,
        description = "Draw the loss curves of several training runs (their metrics.jsonl) on one chart.")
public final class PlotCurvesCommand implements Callable<Integer> {

    @Parameters(paramLabel = "LABEL=METRICS[@TOKEN_OFFSET]", arity = "1..*",
            description = "A run: its label, its metrics.jsonl, and optionally tokens to add to its x values.")
    List<String> runs;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "The PNG to write; required.")
    Path out;

    @Option(names = "--title", defaultValue = "", paramLabel = "TEXT", description = "Chart title (default: none).")
    String title;

    @Option(names = "--reference", paramLabel = "LABEL=LOSS", description = "A labelled horizontal line at a loss, repeatable (default: none).")
    List<String> references = new ArrayList<>();

    @Option(names = "--x", paramLabel = "AXIS", defaultValue = "steps", description = "x axis: steps or tokens (default: ${DEFAULT-VALUE}).")
    String x;

    @Override
    public Integer call() {
        List<CurvesPlot.Run> list = new ArrayList<>();
        for (String s : runs) {
            int eq = s.indexOf('=');
            if (eq <= 0) throw new Gsa4jException("a run must be LABEL=METRICS[@OFFSET], got '" + s + "'");
            String rest = s.substring(eq + 1);
            long offset = 0;
            int at = rest.lastIndexOf('@');
            if (at > 0) {
                offset = Long.parseLong(rest.substring(at + 1));
                rest = rest.substring(0, at);
            }
            list.add(new CurvesPlot.Run(s.substring(0, eq), Path.of(rest), offset));
        }
        Map<String, Double> refs = new LinkedHashMap<>();
        for (String s : references) {
            int eq = s.lastIndexOf('=');
            if (eq <= 0) throw new Gsa4jException("a reference must be LABEL=LOSS, got '" + s + "'");
            refs.put(s.substring(0, eq), Double.parseDouble(s.substring(eq + 1)));
        }
        if (!x.equals("steps") && !x.equals("tokens")) throw new Gsa4jException("--x must be steps or tokens");
        CurvesPlot.write(list, refs, out, title, x.equals("tokens"));
        System.err.println("wrote " + out);
        return 0;
    }
}
