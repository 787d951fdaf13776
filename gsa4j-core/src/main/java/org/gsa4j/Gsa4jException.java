package org.gsa4j;

import java.nio.file.Path;

/**
 * The project's one error type for bad input: a malformed file, a missing tensor, an inconsistent
 * config. The message always names the file (when there is one) and the field at fault, so a user
 * can fix the input without reading a stack trace.
 */
public class Gsa4jException extends RuntimeException {

    public Gsa4jException(String message) {
        super(message);
    }

    public Gsa4jException(String message, Throwable cause) {
        super(message, cause);
    }

    /** "FILE: field FIELD: PROBLEM". */
    public static Gsa4jException at(Path file, String field, String problem) {
        return new Gsa4jException(file + ": " + (field == null ? "" : "field '" + field + "': ") + problem);
    }

    public static Gsa4jException at(Path file, String field, String problem, Throwable cause) {
        return new Gsa4jException(file + ": " + (field == null ? "" : "field '" + field + "': ") + problem, cause);
    }
}
