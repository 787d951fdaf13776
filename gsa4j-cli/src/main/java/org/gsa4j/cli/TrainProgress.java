package org.gsa4j.cli;

import me.tongfei.progressbar.ProgressBar;
import org.gsa4j.train.TimeBudget;
import org.gsa4j.train.Trainer;

import java.io.PrintStream;
import java.util.Map;

/**
 * Training progress on stderr: a live bar on a terminal, else about 25 plain lines per run (step,
 * loss, learning rate, speed, elapsed, remaining) and one per validation.
 */
final class TrainProgress implements TimeBudget.Listener, AutoCloseable {
    private final boolean bar;
    private final PrintStream err;
    private ProgressBar progress;
    private double ema = Double.NaN;
    private long total;
    private final long tokensPerStep;

    TrainProgress(boolean bar, long tokensPerStep, PrintStream err) {
        this.bar = bar;
        this.tokensPerStep = tokensPerStep;
        this.err = err;
    }

    @Override
    public void onStart(long fromStep, long totalSteps) {
        total = totalSteps;
        if (bar) progress = CliSupport.bar("train", totalSteps, fromStep, null);
    }

    @Override
    public void onPlan(TimeBudget.Plan p) {
        total = p.totalSteps();
        if (progress != null) progress.maxHint(total);
        else err.printf("time budget %s: %.2f s per update over updates %d–%d, so %d updates in all%n",
                CliSupport.fmtSeconds(p.budgetSeconds()), p.secondsPerUpdate(), p.windowFrom(), p.windowTo(), p.totalSteps());
    }

    @Override
    public void onStep(Trainer.StepMetrics m) {
        ema = Double.isNaN(ema) ? m.loss() : 0.9 * ema + 0.1 * m.loss();
        if (progress != null) {
            progress.stepTo(m.step());
            progress.setExtraMessage(String.format("loss %.3f avg %.3f %,.0f tok/s", m.loss(), ema, m.tokensPerSecond()));
        } else if (m.step() % Math.max(1, total / 25) == 0 || m.step() == total) {
            double eta = (total - m.step()) * tokensPerStep / Math.max(1, m.tokensPerSecond());
            err.printf("step %d/%d loss %.3f (avg %.3f) lr %.1e %,.0f tok/s, elapsed %s, eta %s%n", m.step(), total, m.loss(), ema, m.lr(),
                    m.tokensPerSecond(), CliSupport.fmtSeconds(m.elapsedSeconds()), CliSupport.fmtSeconds(eta));
        }
    }

    @Override
    public void onValidation(long step, Map<String, Double> v) {
        double loss = v.get("val_loss");
        if (progress != null) progress.setExtraMessage(String.format("val loss %.3f ppl %.1f", loss, Math.exp(loss)));
        else err.printf("step %d: validation loss %.4f, perplexity %.2f%n", step, loss, v.getOrDefault("val_ppl", Math.exp(loss)));
    }

    @Override
    public void close() {
        if (progress != null) progress.close();
    }
}
