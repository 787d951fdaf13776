package org.gsa4j.train;

import org.gsa4j.Gsa4jException;

/** Training stopped because the loss (or the gradient norm) stopped being a finite number. */
public final class NonFiniteLossException extends Gsa4jException {
    public final long step;

    public NonFiniteLossException(long step, String message) {
        super(message);
        this.step = step;
    }
}
