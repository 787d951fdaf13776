package org.gsa4j.infer;

import org.gsa4j.Gsa4jException;

/**
 * A model produced NaN or infinite numbers (logits), or holds them (weights): its weights are broken
 * or its arithmetic overflowed. Generation and evaluation stop with this instead of going on with
 * meaningless numbers (a NaN row of logits would otherwise sample token 0 forever).
 */
public final class NonFiniteException extends Gsa4jException {
    public NonFiniteException(String message) {
        super(message);
    }
}
