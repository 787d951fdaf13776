package org.gsa4j.train;

import org.gsa4j.models.CausalLM;

import java.util.Map;

/** A held-out measurement taken during training: at least {@code val_loss} (mean nats per target). */
@FunctionalInterface
public interface Validator {
    Map<String, Double> evaluate(CausalLM model);
}
