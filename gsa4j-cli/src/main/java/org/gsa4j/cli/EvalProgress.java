package org.gsa4j.cli;

import me.tongfei.progressbar.ProgressBar;
import org.gsa4j.train.LmEval;

import java.io.PrintStream;

/**
 * Evaluation progress on stderr: a live bar (bytes read) on a terminal; otherwise a plain line at
 * most every {@link #LINE_SECONDS} seconds and one at the end, so a redirected run is never silent
 * for minutes.
 */
final class EvalProgress implements LmEval.Progress, AutoCloseable {
    /** Seconds between plain progress lines. */
    static final double LINE_SECONDS = 10;

    private final ProgressBar bar;
    private final PrintStream err;
    private final long totalBytes;
    private final long t0 = System.nanoTime();
    private double lastLine;
    private long bytes, tokens;
    private double nll;

    /** @param totalBytes the text's size, or ≤ 0 when unknown */
    EvalProgress(boolean bar, long totalBytes, PrintStream err) {
        this.bar = bar ? CliSupport.bar("eval", Math.max(1, totalBytes), 0, null) : null;
        this.err = err;
        this.totalBytes = totalBytes;
    }

    @Override
    public void update(long bytesRead, long tokensScored, double nllNats) {
        bytes = bytesRead;
        tokens = tokensScored;
        nll = nllNats;
        if (bar != null) {
            bar.stepTo(bytesRead);
            if (tokensScored > 0) bar.setExtraMessage(String.format("%,d tokens, ppl %.2f", tokensScored, Math.exp(nllNats / tokensScored)));
            return;
        }
        double now = (System.nanoTime() - t0) / 1e9;
        if (now - lastLine >= LINE_SECONDS) {
            line(now);
            lastLine = now;
        }
    }

    private void line(double now) {
        String share = totalBytes > 0 ? String.format(" (%.0f %%)", 100.0 * bytes / totalBytes) : "";
        err.printf("eval: %,d bytes%s, %,d tokens, perplexity so far %.3f, %,.0f tokens/s, elapsed %s%n", bytes, share, tokens,
                Math.exp(nll / Math.max(1, tokens)), tokens / Math.max(now, 1e-9), CliSupport.fmtSeconds(now));
    }

    @Override
    public void close() {
        if (bar != null) bar.close();
        else if (tokens > 0) line((System.nanoTime() - t0) / 1e9);
    }
}
