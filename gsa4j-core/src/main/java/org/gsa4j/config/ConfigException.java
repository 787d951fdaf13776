package org.gsa4j.config;

import org.gsa4j.Gsa4jException;

/**
 * A configuration value that breaks an invariant, named by its config.json field. Thrown by the
 * config records' constructors, which know no file; {@link ConfigReader} rethrows it with the
 * file's path when the record comes from a config.json.
 */
public final class ConfigException extends Gsa4jException {
    private final String field;
    private final String problem;

    public ConfigException(String field, String problem) {
        super("config: field '" + field + "': " + problem);
        this.field = field;
        this.problem = problem;
    }

    public String field() {
        return field;
    }

    public String problem() {
        return problem;
    }

    /** Fails with {@code problem} about {@code field} unless {@code ok}. */
    static void require(boolean ok, String field, String problem) {
        if (!ok) throw new ConfigException(field, problem);
    }
}
