package org.gsa4j.cli;

import org.gsa4j.train.TrainConfig;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

import static org.gsa4j.cli.GenerateCommandTest.run;
import static org.junit.jupiter.api.Assertions.*;

/** The conventions every command follows: messages, exit codes, option names, descriptions and defaults. */
class CommandLineTest {

    private static List<CommandSpec> commands() {
        List<CommandSpec> all = new ArrayList<>();
        CommandLine cli = Main.commandLine();
        all.add(cli.getCommandSpec());
        cli.getSubcommands().values().forEach(c -> all.add(c.getCommandSpec()));
        return all;
    }

    @Test
    void aParseErrorIsOneLinePlusAPointerToHelpWithExitCode2() {
        GenerateCommandTest.Run r = run("train", "--bogus");
        assertEquals(2, r.exitCode());
        List<String> lines = r.err().lines().toList();
        assertEquals(2, lines.size(), r.err());
        assertEquals("gsa4j: Unknown option: '--bogus'", lines.get(0));
        assertTrue(lines.get(1).contains("gsa4j train --help"), lines.get(1));

        r = run("generate", "--model", "x", "--prompt", "a", "--max-new-tokens", "many");
        assertEquals(2, r.exitCode());
        assertEquals(2, r.err().lines().count(), r.err());
        assertTrue(r.err().startsWith("gsa4j: ") && r.err().contains("'many'"), r.err());
    }

    @Test
    void noCommandPrintsTheUsageAndExits2() {
        GenerateCommandTest.Run r = run();
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("Usage: gsa4j") && r.err().contains("generate"), r.err());
        assertEquals("", r.out());
    }

    @Test
    void everyOptionHasADescriptionAndEveryValueOptionItsDefault() {
        List<String> missing = new ArrayList<>();
        for (CommandSpec c : commands()) {
            for (OptionSpec o : c.options()) {
                if (o.usageHelp() || o.versionHelp()) continue;
                String d = String.join(" ", o.description()).strip();
                String name = c.qualifiedName() + " " + o.longestName();
                if (d.isEmpty()) missing.add(name + ": no description");
                boolean takesValue = o.arity().max() > 0 && o.type() != boolean.class && o.type() != Boolean.class;
                if (takesValue && !o.required() && !d.contains("default")) missing.add(name + ": no default in '" + d + "'");
            }
        }
        assertEquals(List.of(), missing);
    }

    @Test
    void commandSummariesAreCompleteSentences() {
        for (CommandSpec c : commands()) {
            String first = c.usageMessage().description()[0];
            assertTrue(first.endsWith("."), c.qualifiedName() + ": '" + first + "'");
            assertTrue(first.length() <= 130, c.qualifiedName() + " summary too long for the command list: " + first);
        }
    }

    @Test
    void oneNamePerSettingNamedAfterItsConfigField() {
        Set<String> names = new TreeSet<>();
        for (CommandSpec c : commands()) for (OptionSpec o : c.options()) names.addAll(List.of(o.names()));
        for (String legacy : List.of("--d-model", "--vocab", "--slots", "--layers", "--heads", "--keep", "--clip", "--warmup", "--decay-all")) {
            assertFalse(names.contains(legacy), legacy + " is a second name for a setting");
        }
        CommandSpec train = Main.commandLine().getSubcommands().get("train").getCommandSpec();
        for (TrainConfig.Field f : TrainConfig.Field.values()) {
            assertNotNull(train.findOption(f.flag()), "train has " + f.flag() + " for " + f.json());
            assertEquals(f.flag(), "--" + f.json().replace('_', '-'));
        }
        for (String model : List.of("--hidden-size", "--num-hidden-layers", "--num-heads", "--num-slots", "--vocab-size")) {
            for (String cmd : List.of("train", "demo", "mqar")) {
                assertNotNull(Main.commandLine().getSubcommands().get(cmd).getCommandSpec().findOption(model), cmd + " " + model);
            }
        }
        CommandLine cli = Main.commandLine();
        for (String alias : List.of("-m", "-p", "-n", "-s", "-t")) {
            assertNotNull(cli.getSubcommands().get("generate").getCommandSpec().findOption(alias), "generate " + alias);
        }
        assertNotNull(cli.getSubcommands().get("eval").getCommandSpec().findOption("-m"));
    }

    @Test
    void threadsIsAGlobalOption() {
        assertEquals(0, run("--threads", "1", "eval", "--help").exitCode());
        assertEquals(0, run("eval", "-t", "1", "--help").exitCode());
        assertEquals(0, run("-t", "2", "train", "--help").exitCode());
        GenerateCommandTest.Run r = run("-t", "-1", "eval", "--model", "nowhere");
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("--threads must be >= 0"), r.err());
    }

    @Test
    void theUsersJarHasNeitherJmhNorTheBenchSuites() {
        assertThrows(ClassNotFoundException.class, () -> Class.forName("org.openjdk.jmh.Main"));
        assertThrows(ClassNotFoundException.class, () -> Class.forName("org.gsa4j.bench.suites.BenchRunner"));
        GenerateCommandTest.Run r = run("bench", "--quick");
        assertEquals(2, r.exitCode());
        assertTrue(r.err().contains("./gsa4j bench --quick"), r.err());
    }
}
