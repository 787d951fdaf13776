package org.gsa4j.cli;

import org.gsa4j.train.TrainConfig;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;

import java.util.EnumMap;
import java.util.Map;

/**
 * The training settings as flags, one per {@link TrainConfig.Field} and named after it
 * ({@code warmup_steps} is {@code --warmup-steps}), with its description and default: the command
 * line and the JSON settings share one table.
 */
final class TrainFlags {
    private TrainFlags() {}

    /** Adds a flag for every training setting to a command. */
    static void addTo(CommandSpec spec) {
        for (TrainConfig.Field f : TrainConfig.Field.values()) {
            OptionSpec.Builder b = OptionSpec.builder(f.flag())
                    .type(f.type())
                    .paramLabel(f.type() == String.class ? f.json().toUpperCase(java.util.Locale.ROOT) : type(f))
                    .description(f.description() + " (default: " + f.defaultText() + ")");
            if (f.type() == Boolean.class) b.arity("0..1");
            spec.addOption(b.build());
        }
    }

    private static String type(TrainConfig.Field f) {
        return f.type() == Double.class ? "X" : f.type() == Boolean.class ? "BOOL" : "N";
    }

    /** The settings given on the command line (the others are absent: they come from a config, a checkpoint or the defaults). */
    static Map<TrainConfig.Field, Object> given(CommandSpec spec) {
        ParseResult parsed = spec.commandLine().getParseResult();
        Map<TrainConfig.Field, Object> out = new EnumMap<>(TrainConfig.Field.class);
        for (TrainConfig.Field f : TrainConfig.Field.values()) {
            if (parsed.hasMatchedOption(f.flag())) out.put(f, parsed.matchedOption(f.flag()).getValue());
        }
        return out;
    }
}
