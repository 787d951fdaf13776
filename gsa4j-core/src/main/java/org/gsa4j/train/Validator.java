package org.gsa4j.train;

import org.gsa4j.models.CausalLM;

import java.util.Map;

/** A held-out measurement taken during training: at least {@code val_loss} (mean nats per target). */
@FunctionalInterface
public interface Validator {
    /** Measures through {@code model}'s forward, wherever it computes. */
    Map<String, Double> evaluate(ScoringModel model);

    /** Measures a CPU model. */
    default Map<String, Double> evaluate(CausalLM model) {
        return evaluate(ScoringModel.of(model));
    }
}
