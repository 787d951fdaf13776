package org.gsa4j.data;

import java.nio.file.Path;

/**
 * Text to token ids and back, as the rest of gsa4j sees a tokenizer.
 *
 * <p>{@link #load(Path)} opens any Hugging Face {@code tokenizer.json} through DJL's binding of the
 * Rust {@code tokenizers} library. {@link #loadFast(Path)} uses the project's own pure-Java
 * {@link BpeTokenizer} when the file is a byte-level BPE it understands (such as the ones
 * {@link BpeTrainer} writes; it encodes identically to DJL, and is used for bulk encoding), and falls
 * back to DJL otherwise.
 *
 * <p>{@code encode} never adds special tokens (no BOS/EOS template is applied): language-model data
 * is plain text; callers insert {@link #eosId()} between documents themselves. {@code decode} keeps
 * special tokens.
 */
public interface Tokenizer extends AutoCloseable {

    /** The end-of-text special token of tokenizers trained by the project (id 0 there). */
    String END_OF_TEXT = "<|endoftext|>";

    int[] encode(String text);

    String decode(int[] ids);

    /** One more than the largest token id this tokenizer can produce. */
    int vocabSize();

    /** Id of {@code <|endoftext|>} (or the tokenizer's end-of-sequence token), or -1 when it has none. */
    int eosId();

    /** Releases native resources (a no-op for the pure-Java tokenizer). */
    @Override
    default void close() {}

    /** Any Hugging Face tokenizer.json, through DJL. Missing or invalid files are a Gsa4jException. */
    static Tokenizer load(Path tokenizerJson) {
        return DjlTokenizer.load(tokenizerJson);
    }

    /** The pure-Java encoder when the file is a plain byte-level BPE, otherwise {@link #load(Path)}. */
    static Tokenizer loadFast(Path tokenizerJson) {
        BpeTokenizer fast = BpeTokenizer.tryLoad(tokenizerJson);
        return fast != null ? fast : load(tokenizerJson);
    }
}
