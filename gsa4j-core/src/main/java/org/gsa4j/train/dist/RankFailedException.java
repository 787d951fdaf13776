package org.gsa4j.train.dist;

import org.gsa4j.Gsa4jException;

/**
 * The run is over because a rank failed, stopped answering or could not join: thrown on every rank, with
 * the same one-line message naming the rank at fault.
 */
public class RankFailedException extends Gsa4jException {

    public RankFailedException(String message) {
        super(message);
    }

    public RankFailedException(String message, Throwable cause) {
        super(message, cause);
    }
}
