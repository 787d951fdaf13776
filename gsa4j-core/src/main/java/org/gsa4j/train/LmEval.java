package org.gsa4j.train;

import org.gsa4j.Gsa4jException;
import org.gsa4j.data.Tokenizer;
import org.gsa4j.models.CausalLM;
import org.gsa4j.models.DecodeState;
import org.gsa4j.tensor.Parallel;
import org.gsa4j.tensor.Tensor;
import org.gsa4j.tensor.VectorOps;

import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.Reader;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * Perplexity and bits per byte of a model on a text of any length, in constant memory: the text is
 * read and tokenized in blocks (cut only after a line break followed by a non-space character, where
 * the byte-level pre-tokenizer splits anyway, so the tokens equal those of the whole text), and the
 * tokens are fed in chunks through the model's recurrent state ({@link CausalLM#feedAll}). Token i
 * is scored with the logits of position i−1, carried across chunks. When the tokenizer has an
 * end-of-text token, it is fed first as the document start so that the first token is scored too.
 *
 * <p>{@code perplexity = exp(NLL / tokens)}, {@code bits per byte = NLL / (ln 2 · UTF-8 bytes)}.
 */
public final class LmEval {
    private LmEval() {}

    private static final int BLOCK_CHARS = 1 << 16;

    /** Progress: bytes of the file read so far, tokens scored, NLL so far. */
    public interface Progress {
        void update(long bytesRead, long tokensScored, double nllNats);
    }

    /**
     * @param unigramNats the NLL of the scored tokens under a unigram model fitted on those same
     *                    tokens ({@link Unigram#selfNllNats()}): the context-free baseline
     */
    public record Result(long tokens, long bytes, double nllNats, double seconds, long stateBytes, int chunk, boolean firstTokenScored,
                         double unigramNats) {
        public double perplexity() {
            return Math.exp(nllNats / tokens);
        }

        public double bitsPerByte() {
            return nllNats / (Math.log(2) * bytes);
        }

        public double bitsPerToken() {
            return nllNats / (Math.log(2) * tokens);
        }

        public double tokensPerSecond() {
            return tokens / Math.max(seconds, 1e-9);
        }

        /** Bits per byte of the unigram baseline (see the record's comment). */
        public double unigramBitsPerByte() {
            return Unigram.bitsPerByte(unigramNats, bytes);
        }
    }

    /**
     * What evaluation needs of a model, wherever it computes: one sequence's state fed the text's tokens
     * in order, each token scored (−log p, in nats) with the model's prediction after the tokens before it.
     * {@link Scorer} is the CPU engine's.
     */
    public interface TokenScorer {
        /** Feeds a context token whose successor will be scored, without scoring it. */
        void start(int id);

        /** Whether a token has been fed (or given to {@link #start}) whose prediction scores the next one. */
        boolean started();

        /**
         * Scores every token of {@code ids} in order, the first with the prediction after the last token before
         * them; before anything is {@link #started}, the first token only starts the state.
         */
        void score(int[] ids);

        /** Σ −log p over the tokens scored, in nats. */
        double nll();

        /** Tokens scored. */
        long count();

        /** The decoding state's size in bytes. */
        long stateBytes();

        /** Tokens fed at once. */
        int chunk();
    }

    /** Scores every token of a UTF-8 text file. */
    public static Result evaluate(CausalLM model, Tokenizer tok, Path textFile, int chunk, Progress progress) {
        return evaluate(model, tok, textFile, chunk, Long.MAX_VALUE, progress);
    }

    /** Scores the first {@code maxTokens} tokens of a UTF-8 text file (all when it is Long.MAX_VALUE). */
    public static Result evaluate(CausalLM model, Tokenizer tok, Path textFile, int chunk, long maxTokens, Progress progress) {
        return evaluate(scorer(model, chunk), model.config.vocabSize(), tok, textFile, maxTokens, progress);
    }

    /** {@link #evaluate(CausalLM, Tokenizer, Path, int, long, Progress)} through any engine's scorer (a model of {@code vocab} tokens). */
    public static Result evaluate(TokenScorer scorer, int vocab, Tokenizer tok, Path textFile, long maxTokens, Progress progress) {
        if (!Files.isRegularFile(textFile)) throw Gsa4jException.at(textFile, null, "no such text file");
        try (InputStream in = Files.newInputStream(textFile)) {
            if (Files.size(textFile) == 0) throw Gsa4jException.at(textFile, null, "the file is empty: nothing to evaluate");
            Reader reader = new InputStreamReader(in, StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT));
            return evaluate(scorer, vocab, tok, reader, maxTokens, progress);
        } catch (CharacterCodingException e) {
            throw org.gsa4j.data.Utf8.invalid(textFile, e);
        } catch (NoSuchFileException e) {
            throw Gsa4jException.at(textFile, null, "no such text file", e);
        } catch (IOException e) {
            throw Gsa4jException.at(textFile, null, "cannot read: " + e.getMessage(), e);
        }
    }

    public static Result evaluate(CausalLM model, Tokenizer tok, Reader reader, int chunk, Progress progress) throws IOException {
        return evaluate(model, tok, reader, chunk, Long.MAX_VALUE, progress);
    }

    /**
     * Scores a text read from {@code reader}, stopping after {@code maxTokens} scored tokens. A
     * non-finite logit stops it with a {@link NonFiniteException} naming the token.
     */
    public static Result evaluate(CausalLM model, Tokenizer tok, Reader reader, int chunk, long maxTokens, Progress progress) throws IOException {
        return evaluate(scorer(model, chunk), model.config.vocabSize(), tok, reader, maxTokens, progress);
    }

    private static Scorer scorer(CausalLM model, int chunk) {
        if (chunk <= 0) throw new Gsa4jException("eval: chunk length must be positive, is " + chunk);
        return new Scorer(model, chunk);
    }

    /** {@link #evaluate(CausalLM, Tokenizer, Reader, int, long, Progress)} through any engine's scorer (a model of {@code vocab} tokens). */
    public static Result evaluate(TokenScorer s, int vocab, Tokenizer tok, Reader reader, long maxTokens, Progress progress) throws IOException {
        if (maxTokens <= 0) throw new Gsa4jException("eval: the number of tokens to score must be positive, is " + maxTokens);
        if (tok.vocabSize() > vocab) {
            throw new Gsa4jException("the tokenizer has " + tok.vocabSize() + " tokens but the model only " + vocab
                    + ": they do not belong together");
        }
        long t0 = System.nanoTime();
        Unigram unigram = new Unigram(vocab);
        if (tok.eosId() >= 0) s.start(tok.eosId());
        StringBuilder buf = new StringBuilder();
        char[] cbuf = new char[BLOCK_CHARS];
        long bytes = 0;
        boolean eof = false;
        while (!eof && s.count() < maxTokens) {
            int n = reader.read(cbuf);
            if (n > 0) buf.append(cbuf, 0, n);
            else eof = true;
            if (!eof && buf.length() < BLOCK_CHARS) continue;
            int cut = eof ? buf.length() : cutPoint(buf);
            if (cut < 0 && buf.length() < 64 * BLOCK_CHARS) continue;
            if (cut < 0) cut = buf.length(); // a pathological line of megabytes: cut anyway
            if (cut == 0) break;
            String piece = buf.substring(0, cut);
            buf.delete(0, cut);
            int[] ids = tok.encode(piece);
            // the tokens still to score: with a first token that only starts the state, one more is fed
            long room = maxTokens - s.count() + (s.started() ? 0 : 1);
            if (ids.length > room) {
                ids = java.util.Arrays.copyOf(ids, (int) room);
                piece = tok.decode(ids);
            }
            bytes += utf8(piece);
            int context = s.started() ? 0 : Math.min(1, ids.length); // a first token that only starts the state is not scored
            s.score(ids);
            unigram.add(ids, context, ids.length - context);
            if (progress != null) progress.update(bytes, s.count(), s.nll());
        }
        if (s.count() == 0) throw new Gsa4jException("eval: the text has no tokens to score");
        if (progress != null) progress.update(bytes, s.count(), s.nll());
        return new Result(s.count(), bytes, s.nll(), (System.nanoTime() - t0) / 1e9, s.stateBytes(), s.chunk(), tok.eosId() >= 0,
                unigram.selfNllNats());
    }

    /** After the last "\n" that is followed by a non-space character, or -1. */
    static int cutPoint(CharSequence s) {
        for (int i = s.length() - 2; i >= 0; i--) {
            if (s.charAt(i) == '\n' && !Character.isWhitespace(s.charAt(i + 1))) return i + 1;
        }
        return -1;
    }

    private static long utf8(String s) {
        long n = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x80) n++;
            else if (c < 0x800) n += 2;
            else if (Character.isHighSurrogate(c)) {
                n += 4;
                i++;
            } else n += 3;
        }
        return n;
    }

    /** The model's logits turned NaN or infinite: its weights or its arithmetic are broken. */
    public static final class NonFiniteException extends Gsa4jException {
        public NonFiniteException(String message) {
            super(message);
        }
    }

    /**
     * Feeds token ids through the state; scores each with the previous position's logits
     * (−log softmax, max-subtracted, in float lanes, summed in double).
     */
    public static final class Scorer implements TokenScorer {
        private final CausalLM model;
        private final int chunk, vocab;
        final DecodeState state;
        private float[] pending;
        private int pendingOff;
        double nll;
        long count;
        private long fed; // tokens of the text fed so far

        public Scorer(CausalLM model, int chunk) {
            this.model = model;
            this.chunk = chunk;
            this.vocab = model.config.vocabSize();
            this.state = model.newState(1);
        }

        @Override
        public void start(int id) {
            Tensor l = model.feedAll(new int[] {id}, 1, 1, state);
            pending = l.f;
            pendingOff = 0;
        }

        @Override
        public boolean started() {
            return pending != null;
        }

        @Override
        public void score(int[] ids) {
            for (int from = 0; from < ids.length; from += chunk) {
                int n = Math.min(chunk, ids.length - from);
                int[] piece = java.util.Arrays.copyOfRange(ids, from, from + n);
                for (int id : piece) {
                    if (id < 0 || id >= vocab) throw new Gsa4jException("token id " + id + " outside the model's vocabulary [0, " + vocab + ")");
                }
                Tensor l = model.feedAll(piece, 1, n, state);
                double[] rows = new double[n];
                float[] prev = pending;
                int prevOff = pendingOff;
                boolean first = prev == null;
                Parallel.forRange(n, j -> {
                    if (j == 0) rows[0] = first ? 0 : nll(prev, prevOff, piece[0]);
                    else rows[j] = nll(l.f, (j - 1) * vocab, piece[j]);
                });
                for (int j = first ? 1 : 0; j < n; j++) {
                    if (!Double.isFinite(rows[j])) {
                        throw new NonFiniteException("eval stopped: the model's logits are not finite (" + rows[j] + ") at token "
                                + (fed + j + 1) + " of the text: its weights hold NaN or infinity, or its arithmetic overflowed "
                                + "(check the weights with generate --check-tensors)");
                    }
                    nll += rows[j];
                    count++;
                }
                fed += n;
                pending = l.f;
                pendingOff = (n - 1) * vocab;
            }
        }

        /** −log softmax(logits)[target] of one row, computed in place (each row is scored once). */
        private double nll(float[] logits, int off, int target) {
            float z = logits[off + target];
            float max = VectorOps.max(logits, off, vocab);
            // a NaN or infinite logit makes the sum (and so the result) NaN or infinite
            double sum = VectorOps.expShifted(logits, off, max, logits, off, vocab);
            return max + Math.log(sum) - z;
        }

        @Override
        public double nll() {
            return nll;
        }

        @Override
        public long count() {
            return count;
        }

        @Override
        public long stateBytes() {
            return state.bytes();
        }

        @Override
        public int chunk() {
            return chunk;
        }
    }
}
