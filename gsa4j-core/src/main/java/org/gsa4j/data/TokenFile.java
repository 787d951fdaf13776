package org.gsa4j.data;

import org.gsa4j.io.AtomicFiles;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Objects;

import org.gsa4j.Gsa4jException;

/**
 * A flat, memory-mapped file of token ids.
 *
 * <p>Layout (all little-endian): a 32-byte header, then {@code count} token ids.
 * <pre>
 *   offset  size  field
 *        0     8  magic      "GSA4JTOK" (ASCII)
 *        8     4  version    1
 *       12     4  dtype      bytes per token: 2 = uint16 (used when vocab_size &lt;= 65536), 4 = int32
 *       16     8  count      number of tokens
 *       24     4  vocab_size every id is in [0, vocab_size)
 *       28     4  reserved   0
 *       32        tokens
 * </pre>
 * Files are written atomically ({@link Writer}: temporary file, fsync, rename). {@link #open(Path)}
 * maps the file and validates the header, the size and every id, so a bad file fails at open with a
 * {@link Gsa4jException} naming it rather than mid-training. Reading is thread-safe.
 */
public final class TokenFile implements AutoCloseable {

    public static final int HEADER_BYTES = 32;
    public static final int VERSION = 1;
    static final byte[] MAGIC = "GSA4JTOK".getBytes(StandardCharsets.US_ASCII);

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Path path;
    private final Arena arena;
    private final MemorySegment seg;
    private final long count;
    private final int vocabSize;
    private final int width;

    private TokenFile(Path path, Arena arena, MemorySegment seg, long count, int vocabSize, int width) {
        this.path = path;
        this.arena = arena;
        this.seg = seg;
        this.count = count;
        this.vocabSize = vocabSize;
        this.width = width;
    }

    /** Bytes per token for a vocabulary: 2 (uint16) when it fits, else 4 (int32). */
    public static int widthFor(int vocabSize) {
        return vocabSize <= 65536 ? 2 : 4;
    }

    /** Maps and validates a token file. */
    public static TokenFile open(Path path) {
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < HEADER_BYTES) {
                throw Gsa4jException.at(path, "header", "truncated: file has " + size + " bytes, the header alone is " + HEADER_BYTES);
            }
            MemorySegment seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            for (int i = 0; i < MAGIC.length; i++) {
                if (seg.get(ValueLayout.JAVA_BYTE, i) != MAGIC[i]) {
                    throw Gsa4jException.at(path, "magic", "bad magic: not a gsa4j token file (expected \"GSA4JTOK\")");
                }
            }
            int version = seg.get(I32, 8);
            if (version != VERSION) throw Gsa4jException.at(path, "version", "unsupported version " + version + " (this build reads " + VERSION + ")");
            int width = seg.get(I32, 12);
            if (width != 2 && width != 4) throw Gsa4jException.at(path, "dtype", "unknown dtype " + width + " (2 = uint16, 4 = int32)");
            long count = seg.get(I64, 16);
            int vocab = seg.get(I32, 24);
            if (vocab <= 0) throw Gsa4jException.at(path, "vocab_size", "must be positive, is " + vocab);
            if (width == 2 && vocab > 65536) throw Gsa4jException.at(path, "vocab_size", vocab + " does not fit dtype uint16");
            if (count < 0) throw Gsa4jException.at(path, "count", "negative (" + count + ")");
            long expected = HEADER_BYTES + count * width;
            if (count > (Long.MAX_VALUE - HEADER_BYTES) / width || size < expected) {
                throw Gsa4jException.at(path, "count", "truncated: header says " + count + " tokens (" + expected
                        + " bytes) but the file has " + size + " bytes");
            }
            if (size > expected) {
                throw Gsa4jException.at(path, "count", "file has " + (size - expected) + " trailing bytes after " + count + " tokens");
            }
            TokenFile tf = new TokenFile(path, arena, seg, count, vocab, width);
            tf.validateIds();
            return tf;
        } catch (NoSuchFileException e) {
            arena.close();
            throw Gsa4jException.at(path, null, "token file does not exist", e);
        } catch (IOException e) {
            arena.close();
            throw Gsa4jException.at(path, null, "cannot read: " + e, e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private void validateIds() {
        if (width == 2) {
            for (long i = 0; i < count; i++) {
                int v = seg.get(U16, HEADER_BYTES + 2 * i) & 0xFFFF;
                if (v >= vocabSize) throw badId(i, v);
            }
        } else {
            for (long i = 0; i < count; i++) {
                int v = seg.get(I32, HEADER_BYTES + 4 * i);
                if (v < 0 || v >= vocabSize) throw badId(i, v);
            }
        }
    }

    private Gsa4jException badId(long i, long v) {
        return Gsa4jException.at(path, "tokens", "token " + i + " has id " + v + ", outside the vocabulary [0, " + vocabSize + ")");
    }

    /** Token at index i (0 &lt;= i &lt; size()). */
    public int get(long i) {
        Objects.checkIndex(i, count);
        return width == 2 ? seg.get(U16, HEADER_BYTES + 2 * i) & 0xFFFF : seg.get(I32, HEADER_BYTES + 4 * i);
    }

    /** Copies tokens [from, from+len) into dst[off..]. */
    public void read(long from, int[] dst, int off, int len) {
        Objects.checkFromIndexSize(from, len, count);
        Objects.checkFromIndexSize(off, len, dst.length);
        if (width == 2) {
            long base = HEADER_BYTES + 2 * from;
            for (int k = 0; k < len; k++) dst[off + k] = seg.get(U16, base + 2L * k) & 0xFFFF;
        } else {
            MemorySegment.copy(seg, I32, HEADER_BYTES + 4 * from, dst, off, len);
        }
    }

    /** Number of tokens. */
    public long size() {
        return count;
    }

    /**
     * Fails with a clear message when this file's ids may not fit a model's embedding table
     * ({@code vocabSize() > modelVocabSize}), e.g. data prepared with another tokenizer.
     */
    public void requireVocabAtMost(int modelVocabSize, String modelName) {
        if (vocabSize > modelVocabSize) {
            throw Gsa4jException.at(path, "vocab_size", "tokens come from a vocabulary of " + vocabSize
                    + " but " + modelName + " has only " + modelVocabSize + " embeddings: the tokenizer does not match the model");
        }
    }

    public int vocabSize() {
        return vocabSize;
    }

    /** Bytes per token on disk (2 or 4). */
    public int width() {
        return width;
    }

    public Path path() {
        return path;
    }

    /** Unmaps the file; later reads throw IllegalStateException. */
    @Override
    public void close() {
        arena.close();
    }

    // --------------------------------------------------------------------------------- writing

    /** Writes all tokens to {@code path} atomically. */
    public static void write(Path path, int[] tokens, int vocabSize) {
        try (Writer w = writer(path, vocabSize)) {
            w.append(tokens, 0, tokens.length);
            w.commit();
        }
    }

    /** A streaming writer; nothing appears at {@code path} until {@link Writer#commit()}. */
    public static Writer writer(Path path, int vocabSize) {
        return new Writer(path, vocabSize);
    }

    /** Streams tokens to a temporary file; {@link #commit()} fsyncs and renames it into place. */
    public static final class Writer implements AutoCloseable {
        private final Path target;
        private final Path tmp;
        private final int vocabSize;
        private final int width;
        private final FileChannel ch;
        private final ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        private long count;
        private boolean done;

        private Writer(Path target, int vocabSize) {
            if (vocabSize <= 0) throw Gsa4jException.at(target, "vocab_size", "must be positive, is " + vocabSize);
            this.target = target;
            this.vocabSize = vocabSize;
            this.width = widthFor(vocabSize);
            this.tmp = AtomicFiles.tempFor(target);
            try {
                this.ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
                ch.position(HEADER_BYTES);
            } catch (IOException e) {
                AtomicFiles.deleteQuietly(tmp);
                throw Gsa4jException.at(target, null, "cannot write: " + e, e);
            }
        }

        public void append(int token) {
            if (token < 0 || token >= vocabSize) {
                throw Gsa4jException.at(target, "tokens", "token " + count + " has id " + token + ", outside the vocabulary [0, " + vocabSize + ")");
            }
            if (buf.remaining() < 4) flush();
            if (width == 2) buf.putShort((short) token);
            else buf.putInt(token);
            count++;
        }

        public void append(int[] tokens, int from, int len) {
            for (int i = from; i < from + len; i++) append(tokens[i]);
        }

        /** Tokens appended so far. */
        public long count() {
            return count;
        }

        private void flush() {
            buf.flip();
            try {
                while (buf.hasRemaining()) ch.write(buf);
            } catch (IOException e) {
                throw Gsa4jException.at(target, null, "cannot write: " + e, e);
            }
            buf.clear();
        }

        /** Writes the header, fsyncs, renames the temporary file to the target. */
        public void commit() {
            if (done) throw new IllegalStateException("already committed or closed");
            flush();
            ByteBuffer h = ByteBuffer.allocate(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            h.put(MAGIC).putInt(VERSION).putInt(width).putLong(count).putInt(vocabSize).putInt(0).flip();
            try {
                ch.position(0);
                while (h.hasRemaining()) ch.write(h);
                ch.force(true);
                ch.close();
            } catch (IOException e) {
                close();
                throw Gsa4jException.at(target, null, "cannot write: " + e, e);
            }
            done = true;
            AtomicFiles.commit(tmp, target);
        }

        /** Without a prior commit, discards the temporary file. */
        @Override
        public void close() {
            if (!done) {
                done = true;
                try {
                    ch.close();
                } catch (IOException ignored) {
                    // discarding anyway
                }
                AtomicFiles.deleteQuietly(tmp);
            }
        }
    }
}
