package org.gsa4j.cli;

import org.gsa4j.Gsa4jException;
import org.gsa4j.serve.ServeCommand;
import org.gsa4j.train.TrainConfig;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

import java.io.PrintWriter;
import java.util.concurrent.Callable;

/**
 * Entry point of the {@code gsa4j} command. Errors are one line: a command-line mistake is
 * {@code gsa4j: MESSAGE} plus a pointer to the command's {@code --help} (exit 2), bad input (a file,
 * a setting out of range) is {@code gsa4j: MESSAGE} naming the file and field (exit 2).
 */
@Command(name = "gsa4j", mixinStandardHelpOptions = true, version = "gsa4j 0.1.0",
        description = "Gated Slot Attention and its linear-attention siblings in pure Java: train, evaluate, convert and run language models.",
        subcommands = {DemoCommand.class, TrainCommand.class, EvalCommand.class, GenerateCommand.class, MqarCommand.class,
                ConvertCommand.class, BenchCommand.class, WindowEvalCommand.class, PlotCurvesCommand.class, ServeCommand.class})
public final class Main implements Callable<Integer> {

    /** Exit code of a usage mistake or bad input. */
    static final int USAGE = 2;

    @Option(names = {"-t", "--threads"}, defaultValue = "0", paramLabel = "N", scope = ScopeType.INHERIT,
            description = "Worker threads, for this command and every subcommand; 0 = all cores (default: ${DEFAULT-VALUE}).")
    int threads;

    @Override
    public Integer call() {
        // no command given: the usage, and a failure exit so that a script notices
        CommandLine.usage(this, System.err);
        return USAGE;
    }

    /** The command line with every command, its programmatic options and the error handlers. */
    static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new Main()).setCaseInsensitiveEnumValuesAllowed(true);
        TrainFlags.addTo(cli.getSubcommands().get("train").getCommandSpec());
        cli.setParameterExceptionHandler((e, args) -> {
            CommandLine cmd = e.getCommandLine();
            PrintWriter err = cmd.getErr();
            err.println("gsa4j: " + e.getMessage());
            err.println("Try '" + cmd.getCommandSpec().qualifiedName() + " --help' for the options.");
            return USAGE;
        });
        cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
            if (e instanceof TrainConfig.InvalidSetting s) {
                cmd.getErr().println("gsa4j: " + s.field().flag() + ": " + s.problem());
                return USAGE;
            }
            if (e instanceof Gsa4jException || e instanceof IllegalArgumentException) {
                cmd.getErr().println("gsa4j: " + e.getMessage());
                return USAGE;
            }
            throw e;
        });
        cli.setExecutionStrategy(parsed -> {
            Main main = cli.getCommand();
            if (main.threads < 0) throw new CommandLine.ParameterException(parsed.subcommand() != null
                    ? parsed.subcommand().commandSpec().commandLine() : cli, "--threads must be >= 0, got " + main.threads);
            CliSupport.threads(main.threads);
            return new CommandLine.RunLast().execute(parsed);
        });
        return cli;
    }

    public static int run(String... args) {
        return commandLine().execute(args);
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }
}
