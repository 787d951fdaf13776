package org.gsa4j.infer;

import org.gsa4j.data.Tokenizer;

import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;

/**
 * Generated token ids in, text out as it becomes final: for a {@link Generator} to stream text.
 *
 * <p>A character can span several tokens (a byte-level BPE splits é or an emoji into byte tokens), and
 * some decoders change a token's text depending on what precedes it (a leading-space marker). So the
 * stream decodes the tokens since the last line break together, hands on what is new, and holds
 * back a trailing incomplete character (U+FFFD) until the next token completes it. After a line
 * break it starts afresh, so the work per token stays bounded by a line.
 *
 * <p>With stop strings, text that could be the start of one is held back too; when one appears,
 * the text before it is handed on and {@link #accept} returns false: generation stops there, and
 * the stop string itself is not part of the text.
 *
 * <pre>{@code
 * TextStream text = new TextStream(tokenizer, System.out::print).context(promptIds);
 * generator.generate(promptIds, 64, sampler, text);
 * text.finish();
 * }</pre>
 */
public final class TextStream implements Generator.TokenListener {
    private final Tokenizer tokenizer;
    private final Consumer<String> sink;
    private List<String> stops = List.of();
    private int[] ids = new int[16];
    private int count;       // tokens in the current window
    private int contextChars; // characters of the window's decoded text that precede the stream (the context)
    private int handedOn;     // characters of the window's decoded text already handed on (or context)
    private final StringBuilder text = new StringBuilder();
    private boolean stopped;

    public TextStream(Tokenizer tokenizer, Consumer<String> sink) {
        this.tokenizer = tokenizer;
        this.sink = sink;
    }

    /**
     * Tokens that precede the generated ones (the prompt): decoded together with them so that the
     * first generated token gets its context, but never handed on.
     */
    public TextStream context(int[] contextIds) {
        for (int id : contextIds) push(id);
        String t = tokenizer.decode(Arrays.copyOf(ids, count));
        contextChars = handedOn = t.length();
        return this;
    }

    /** Stop strings: generation stops when the text contains one of them. */
    public TextStream stopAt(List<String> stopStrings) {
        for (String s : stopStrings) if (s.isEmpty()) throw new IllegalArgumentException("a stop string must not be empty");
        this.stops = List.copyOf(stopStrings);
        return this;
    }

    /** Takes one generated token; false when a stop string has appeared (generation should stop). */
    @Override
    public boolean accept(int id) {
        if (stopped) return false;
        push(id);
        String t = tokenizer.decode(Arrays.copyOf(ids, count));
        int end = t.length();
        while (end > handedOn && t.charAt(end - 1) == '\uFFFD') end--; // an incomplete character: wait for its next byte
        if (end < handedOn) return true;
        String fresh = t.substring(handedOn, end);
        // a stop string may begin in text already held back: search from where it could start
        String pending = fresh;
        int stopAt = -1;
        for (String s : stops) {
            int i = pending.indexOf(s);
            if (i >= 0 && (stopAt < 0 || i < stopAt)) stopAt = i;
        }
        if (stopAt >= 0) {
            emit(pending.substring(0, stopAt));
            stopped = true;
            return false;
        }
        int hold = heldBack(pending);
        emit(pending.substring(0, pending.length() - hold));
        handedOn = end - hold;
        if (hold == 0 && end == t.length() && t.endsWith("\n")) {
            count = 0; // a new window after a line break
            handedOn = contextChars = 0;
        }
        return true;
    }

    /** Hands on what is still held back (an incomplete character at the very end, the start of a stop string). */
    public void finish() {
        if (stopped || count == 0) return;
        String t = tokenizer.decode(Arrays.copyOf(ids, count));
        if (t.length() > handedOn) emit(t.substring(handedOn));
        handedOn = t.length();
    }

    /** Everything handed on so far. */
    public String text() {
        return text.toString();
    }

    /** Whether a stop string ended the text. */
    public boolean stopped() {
        return stopped;
    }

    /** Length of the longest suffix of {@code s} that is a proper prefix of a stop string. */
    private int heldBack(String s) {
        int best = 0;
        for (String stop : stops) {
            for (int k = Math.min(stop.length() - 1, s.length()); k > best; k--) {
                if (s.endsWith(stop.substring(0, k))) {
                    best = k;
                    break;
                }
            }
        }
        return best;
    }

    private void push(int id) {
        if (count == ids.length) ids = Arrays.copyOf(ids, count * 2);
        ids[count++] = id;
    }

    private void emit(String s) {
        if (s.isEmpty()) return;
        text.append(s);
        sink.accept(s);
    }
}
