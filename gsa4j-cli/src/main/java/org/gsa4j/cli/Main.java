package org.gsa4j.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of the {@code gsa4j} command. */
@Command(name = "gsa4j", mixinStandardHelpOptions = true, version = "gsa4j 0.1.0",
        description = "Gated Slot Attention and its linear-attention siblings in pure Java.",
        subcommands = {})
public final class Main implements Runnable {

    @Override
    public void run() {
        CommandLine.usage(this, System.out);
    }

    public static void main(String[] args) {
        System.exit(new CommandLine(new Main()).execute(args));
    }
}
