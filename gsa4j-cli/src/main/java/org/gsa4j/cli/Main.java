package org.gsa4j.cli;

import org.gsa4j.Gsa4jException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of the {@code gsa4j} command. */
@Command(name = "gsa4j", mixinStandardHelpOptions = true, version = "gsa4j 0.1.0",
        description = "Gated Slot Attention and its linear-attention siblings in pure Java.",
        subcommands = {DemoCommand.class, TrainCommand.class, EvalCommand.class, GenerateCommand.class, MqarCommand.class,
                ConvertCommand.class, BenchCommand.class, WindowEvalCommand.class, PlotCurvesCommand.class})
public final class Main implements Runnable {

    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }

    public static int run(String... args) {
        CommandLine cli = new CommandLine(new Main()).setCaseInsensitiveEnumValuesAllowed(true);
        // Bad input is reported as one clear line, not a stack trace.
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
