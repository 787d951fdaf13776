/**
 * The data pipeline: corpus, tokenizer, token files, batches.
 *
 * <ul>
 *   <li>{@link org.gsa4j.data.Corpus} — the embedded Austen corpus ({@code corpus/austen/} on the
 *       classpath, six gzipped novels with a README of provenance and SHA-256 checksums, verified on
 *       load) or a user directory of .txt/.txt.gz files; train split and validation split
 *       ({@code persuasion.txt}).</li>
 *   <li>{@link org.gsa4j.data.BpeTrainer} — GPT-2-style byte-level BPE training (ids: 0 =
 *       {@code <|endoftext|>}, 1..256 = bytes, then merges); {@link org.gsa4j.data.BpeTokenizer} —
 *       its pure-Java encoder/decoder and Hugging Face {@code tokenizer.json} writer/reader.</li>
 *   <li>{@link org.gsa4j.data.Tokenizer} — what the rest of gsa4j uses; {@code load} goes through
 *       DJL (any tokenizer.json), {@code loadFast} uses the pure-Java encoder when it applies. The
 *       two are tested to give identical ids (Austen text, random Unicode); the written
 *       tokenizer.json was also checked by hand against Hugging Face {@code tokenizers} 0.23.2
 *       (Node binding), which encoded all of {@code persuasion.txt} to the same 131,147 ids.</li>
 *   <li>{@link org.gsa4j.data.TokenFile} — memory-mapped little-endian token files (32-byte header,
 *       uint16 or int32 ids), written atomically and validated on open.</li>
 *   <li>{@link org.gsa4j.data.Batcher} — training batches as a pure function of (seed, step), and
 *       sequential evaluation windows.</li>
 *   <li>{@link org.gsa4j.data.DataPrep} — the prepare step writing tokenizer.json,
 *       tokenizer_config.json, train.bin, val.bin and prep.json (token and byte counts for bits per
 *       byte, and a unigram baseline).</li>
 * </ul>
 */
package org.gsa4j.data;
