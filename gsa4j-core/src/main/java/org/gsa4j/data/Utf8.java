package org.gsa4j.data;

import org.gsa4j.Gsa4jException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;

/** Strict UTF-8 decoding whose errors say where: the byte offset of the first invalid sequence. */
public final class Utf8 {
    private Utf8() {}

    private static CharsetDecoder strict() {
        return StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
    }

    /** Decodes bytes, or throws "WHERE: not valid UTF-8 text at byte N (0xXX)". */
    public static String decode(byte[] raw, String where) {
        ByteBuffer in = ByteBuffer.wrap(raw);
        CharBuffer out = CharBuffer.allocate(raw.length);
        CharsetDecoder dec = strict();
        CoderResult r = dec.decode(in, out, true);
        if (!r.isError()) r = dec.flush(out);
        if (r.isError()) throw new Gsa4jException(where + ": " + problemAt(in.position(), raw[in.position()]));
        return out.flip().toString();
    }

    /** "not valid UTF-8 text at byte N (0xXX)". */
    static String problemAt(long offset, byte b) {
        return String.format("not valid UTF-8 text at byte %d (0x%02X)", offset, b & 0xFF);
    }

    /**
     * Offset of the first byte that is not valid UTF-8 in a text file (of the uncompressed stream for
     * .gz), and that byte, or null when the file is valid. For error messages: it reads the file again.
     */
    public static String firstProblem(Path file) {
        try (InputStream raw = Files.newInputStream(file);
             InputStream in = file.getFileName().toString().toLowerCase(java.util.Locale.ROOT).endsWith(".gz")
                     ? new GZIPInputStream(raw, 1 << 16) : raw) {
            CharsetDecoder dec = strict();
            ByteBuffer bb = ByteBuffer.allocate(1 << 16);
            CharBuffer cb = CharBuffer.allocate(1 << 16);
            long before = 0; // bytes consumed before bb's start
            boolean eof = false;
            while (true) {
                if (!eof) {
                    int n = in.read(bb.array(), bb.position(), bb.remaining());
                    if (n < 0) eof = true;
                    else bb.position(bb.position() + n);
                }
                bb.flip();
                CoderResult r;
                do {
                    cb.clear();
                    r = dec.decode(bb, cb, eof);
                } while (r.isOverflow());
                if (r.isError()) return problemAt(before + bb.position(), bb.get(bb.position()));
                if (eof) return null;
                before += bb.position();
                bb.compact();
            }
        } catch (IOException e) {
            return "not valid UTF-8 text (" + e.getMessage() + ")";
        }
    }

    /** The error for an invalid text file: its path and where the first invalid byte is. */
    public static Gsa4jException invalid(Path file, Throwable cause) {
        String problem = firstProblem(file);
        return Gsa4jException.at(file, null, problem != null ? problem : "not valid UTF-8 text", cause);
    }
}
