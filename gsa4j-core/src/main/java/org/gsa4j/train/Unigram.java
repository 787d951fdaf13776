package org.gsa4j.train;

import org.gsa4j.data.TokenFile;

/**
 * A unigram model: add-one-smoothed token frequencies, {@code p(t) = (count(t) + 1) / (N + V)}. It
 * ignores context, so a language model that does not beat its bits per byte has learned nothing but
 * token frequencies: the baseline {@code demo} and {@code eval} print beside the model's figure.
 */
public final class Unigram {
    private final long[] counts;
    private long total;

    /** An empty model over a vocabulary of {@code vocab} ids (every id then has probability 1/V). */
    public Unigram(int vocab) {
        this.counts = new long[vocab];
    }

    /** Fitted on every token of a token file (e.g. the training split). */
    public static Unigram fit(TokenFile file, int vocab) {
        Unigram u = new Unigram(vocab);
        int[] buf = new int[1 << 16];
        for (long i = 0; i < file.size(); i += buf.length) {
            int n = (int) Math.min(buf.length, file.size() - i);
            file.read(i, buf, 0, n);
            u.add(buf, 0, n);
        }
        return u;
    }

    public void add(int[] ids, int from, int length) {
        for (int i = from; i < from + length; i++) counts[ids[i]]++;
        total += length;
    }

    /** −ln p(id). */
    public double nats(int id) {
        return -Math.log((counts[id] + 1.0) / (total + counts.length));
    }

    /** Σ −ln p(id) over the ids. */
    public double nllNats(int[] ids) {
        double nll = 0;
        for (int id : ids) nll += nats(id);
        return nll;
    }

    /** The NLL of the counted tokens themselves: what this model, fitted on a text, scores on that text. */
    public double selfNllNats() {
        double nll = 0;
        for (long c : counts) if (c > 0) nll -= c * Math.log((c + 1.0) / (total + counts.length));
        return nll;
    }

    /** Tokens counted. */
    public long total() {
        return total;
    }

    /** Bits per byte of an NLL in nats over a text of {@code bytes} UTF-8 bytes. */
    public static double bitsPerByte(double nllNats, long bytes) {
        return nllNats / (Math.log(2) * bytes);
    }
}
