package org.gsa4j.train;

/**
 * Linear warm-up then cosine decay to a floor. Update {@code s} (0-based) uses
 * {@code peak·(s+1)/warmup} while {@code s < warmup}, then
 * {@code floor + (peak − floor)·(1 + cos(π·p))/2} with {@code p = (s − warmup)/(total − warmup)}
 * (clamped to [0, 1]; the floor holds after {@code total}).
 */
public record LrSchedule(double peak, double floor, long warmup, long total) {

    public double at(long step) {
        if (step < warmup) return peak * (step + 1) / warmup;
        long span = Math.max(1, total - warmup);
        double p = Math.min(1.0, Math.max(0.0, (step - warmup) / (double) span));
        return floor + (peak - floor) * 0.5 * (1 + Math.cos(Math.PI * p));
    }
}
