package org.gsa4j.train;

import java.util.Map;
import java.nio.file.Path;

/**
 * Training for a time budget instead of a number of updates (the demo): the run's length is set
 * from the speed of updates 30–60, then set again from updates 60–120, 120–240, … while the run is
 * in its first quarter. The first window still includes JIT compilation and heap growth (a 4-minute
 * demo ended after 3 min 15 s when it was the only estimate); later changes would bend the cosine
 * schedule noticeably, while in the first quarter it is near its top. Only update time counts
 * (validations are excluded from the windows and budgeted separately); the run validates
 * {@link #VALIDATIONS} times, evenly spaced, the last at its end.
 *
 * <p>Use: {@code new Trainer(..., budget.listener(yourListener))}, then {@link #attach} the trainer.
 */
public final class TimeBudget {
    /** The first timing window: updates (30, 60]. */
    public static final int PROBE_FROM = 30, PROBE_TO = 60;
    /** Validations in a run with a time budget: five evenly spaced and one at the end. */
    public static final int VALIDATIONS = 6;

    /** One (re-)plan: the run's new length from the mean update time over updates (from, to]. */
    public record Plan(double budgetSeconds, long windowFrom, long windowTo, double secondsPerUpdate, long totalSteps, long evalEvery) {}

    /** A {@link Trainer.Listener} that also hears the plans. */
    public interface Listener extends Trainer.Listener {
        default void onPlan(Plan plan) {}
    }

    private final double budgetSeconds;
    private final boolean validates;
    private Trainer trainer;
    private long windowFrom = PROBE_FROM, windowTo = PROBE_TO;
    private double windowSeconds;  // update time (validations excluded) summed over the window so far

    /** @param validates whether the run has a validator (its time is set aside from the budget) */
    public TimeBudget(double budgetSeconds, boolean validates) {
        if (!(budgetSeconds > 0) || !Double.isFinite(budgetSeconds)) {
            throw new IllegalArgumentException("the time budget must be a positive number of seconds, is " + budgetSeconds);
        }
        this.budgetSeconds = budgetSeconds;
        this.validates = validates;
    }

    /**
     * Settings for a budgeted run: {@code steps} is only the initial guess (re-planned after update
     * {@link #PROBE_TO}), warm-up over the first timing window, validation set by the plan.
     */
    public static TrainConfig.Builder initialSettings(TrainConfig.Builder b) {
        return b.steps(100_000).warmupSteps(PROBE_FROM).evalEvery(0);
    }

    /** The trainer whose length this budget sets (call once, before it runs). */
    public void attach(Trainer t) {
        this.trainer = t;
    }

    /** Wraps the caller's listener: the budget sees every update first. */
    public Trainer.Listener listener(Listener delegate) {
        Listener d = delegate != null ? delegate : new Listener() {};
        return new Trainer.Listener() {
            @Override
            public void onStart(long fromStep, long totalSteps) {
                d.onStart(fromStep, totalSteps);
            }

            @Override
            public void onStep(Trainer.StepMetrics m) {
                Plan p = observe(m);
                if (p != null) d.onPlan(p);
                d.onStep(m);
            }

            @Override
            public void onValidation(long step, Map<String, Double> metrics) {
                d.onValidation(step, metrics);
            }

            @Override
            public void onCheckpoint(long step, Path dir) {
                d.onCheckpoint(step, dir);
            }
        };
    }

    /** Times one update; at the end of a window (while re-planning is allowed) re-plans the trainer. */
    Plan observe(Trainer.StepMetrics m) {
        if (trainer == null) throw new IllegalStateException("TimeBudget.attach(trainer) was not called");
        if (m.step() > windowFrom && m.step() <= windowTo) windowSeconds += m.stepSeconds();
        TrainConfig c = trainer.config();
        boolean planned = windowFrom > PROBE_FROM;  // the steps are still the initial guess until the first plan
        if (m.step() != windowTo || (planned && m.step() > c.steps() / 4)) return null;
        double perStep = windowSeconds / (windowTo - windowFrom);
        // validations still to come of eval_tokens each, forward only (about a third of a training token's cost)
        long validationsLeft = planned ? Math.max(0, VALIDATIONS - m.step() / c.evalEvery()) : VALIDATIONS;
        double valSeconds = validates ? validationsLeft * perStep * c.evalTokens() / (3.0 * c.tokensPerStep()) : 0;
        long total = plannedTotal(budgetSeconds, m.elapsedSeconds(), m.step(), perStep, valSeconds);
        // rounded up: five in the run and one at its end, not a sixth just before it
        long evalEvery = Math.max(1, (total + VALIDATIONS - 1) / VALIDATIONS);
        trainer.setTotalSteps(total);
        trainer.setEvalEvery(evalEvery);
        Plan p = new Plan(budgetSeconds, windowFrom, windowTo, perStep, total, evalEvery);
        windowFrom = windowTo;
        windowSeconds = 0;
        windowTo *= 2;
        return p;
    }

    /**
     * The run's length that spends what is left of the budget on updates at {@code perStep} seconds
     * each, after {@code otherSeconds} of validations; at least one more update.
     */
    public static long plannedTotal(double budgetSeconds, double elapsedSeconds, long stepsDone, double perStep, double otherSeconds) {
        return Math.max(stepsDone + 1, stepsDone + (long) ((budgetSeconds - elapsedSeconds - otherSeconds) / perStep));
    }
}
