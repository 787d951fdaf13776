package org.gsa4j.data;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import org.gsa4j.Gsa4jException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenFileTest {

    @TempDir
    Path dir;

    @Test
    void roundTripUint16() {
        int[] toks = new Random(1).ints(10_000, 0, 4096).toArray();
        toks[0] = 4095;
        toks[1] = 0;
        Path f = dir.resolve("a.bin");
        TokenFile.write(f, toks, 4096);
        try (TokenFile tf = TokenFile.open(f)) {
            assertEquals(10_000, tf.size());
            assertEquals(4096, tf.vocabSize());
            assertEquals(2, tf.width());
            for (int i = 0; i < toks.length; i++) assertEquals(toks[i], tf.get(i));
            int[] buf = new int[100];
            tf.read(500, buf, 0, 100);
            assertArrayEquals(Arrays.copyOfRange(toks, 500, 600), buf);
            assertThrows(IndexOutOfBoundsException.class, () -> tf.get(10_000));
            assertThrows(IndexOutOfBoundsException.class, () -> tf.get(-1));
        }
    }

    @Test
    void uint16HoldsFullRangeAndLittleEndianLayout() throws IOException {
        Path f = dir.resolve("b.bin");
        TokenFile.write(f, new int[] {65535, 1, 256}, 65536);
        byte[] raw = Files.readAllBytes(f);
        assertEquals(TokenFile.HEADER_BYTES + 6, raw.length);
        assertEquals("GSA4JTOK", new String(raw, 0, 8, java.nio.charset.StandardCharsets.US_ASCII));
        ByteBuffer b = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(1, b.getInt(8));
        assertEquals(2, b.getInt(12));
        assertEquals(3, b.getLong(16));
        assertEquals(65536, b.getInt(24));
        assertEquals((byte) 0x00, raw[32 + 4]);
        assertEquals((byte) 0x01, raw[32 + 5]); // 256 little-endian
        try (TokenFile tf = TokenFile.open(f)) {
            assertEquals(65535, tf.get(0));
            assertEquals(256, tf.get(2));
        }
    }

    @Test
    void int32WhenVocabExceeds65536() {
        Path f = dir.resolve("c.bin");
        int[] toks = {0, 65536, 99_999, 7};
        TokenFile.write(f, toks, 100_000);
        try (TokenFile tf = TokenFile.open(f)) {
            assertEquals(4, tf.width());
            int[] got = new int[4];
            tf.read(0, got, 0, 4);
            assertArrayEquals(toks, got);
        }
    }

    @Test
    void emptyFileOfZeroTokensIsValid() {
        Path f = dir.resolve("e.bin");
        TokenFile.write(f, new int[0], 10);
        try (TokenFile tf = TokenFile.open(f)) {
            assertEquals(0, tf.size());
        }
    }

    @Test
    void writerRejectsOutOfVocabIdsAndLeavesNothing() throws IOException {
        Path f = dir.resolve("d.bin");
        Gsa4jException e = assertThrows(Gsa4jException.class, () -> TokenFile.write(f, new int[] {1, 2, 10}, 10));
        assertTrue(e.getMessage().contains("d.bin") && e.getMessage().contains("10"), e.getMessage());
        assertFalse(Files.exists(f));
        try (var s = Files.list(dir)) {
            assertEquals(0, s.count(), "temporary file left behind");
        }
    }

    @Test
    void atomicReplaceKeepsOldFileUntilCommit() {
        Path f = dir.resolve("r.bin");
        TokenFile.write(f, new int[] {1, 2, 3}, 10);
        try (TokenFile.Writer w = TokenFile.writer(f, 10)) {
            w.append(5);
            try (TokenFile tf = TokenFile.open(f)) {
                assertEquals(3, tf.size()); // the old file is intact while writing
            }
        } // closed without commit: discarded
        try (TokenFile tf = TokenFile.open(f)) {
            assertEquals(3, tf.size());
        }
    }

    private Path good() {
        Path f = dir.resolve("good.bin");
        TokenFile.write(f, new int[] {1, 2, 3, 4}, 10);
        return f;
    }

    private void expectBad(Path f, String... words) {
        Gsa4jException e = assertThrows(Gsa4jException.class, () -> TokenFile.open(f).close());
        assertTrue(e.getMessage().contains(f.toString()), e.getMessage());
        for (String w : words) assertTrue(e.getMessage().contains(w), e.getMessage());
    }

    @Test
    void badMagic() throws IOException {
        Path f = good();
        byte[] raw = Files.readAllBytes(f);
        raw[0] = 'X';
        Files.write(f, raw);
        expectBad(f, "magic");
    }

    @Test
    void truncatedHeaderAndData() throws IOException {
        Path f = good();
        byte[] raw = Files.readAllBytes(f);
        Files.write(f, Arrays.copyOf(raw, raw.length - 1));
        expectBad(f, "truncated");
        Files.write(f, Arrays.copyOf(raw, 20));
        expectBad(f, "truncated");
        Files.write(f, new byte[0]);
        expectBad(f, "truncated");
    }

    @Test
    void trailingBytes() throws IOException {
        Path f = good();
        byte[] raw = Files.readAllBytes(f);
        Files.write(f, Arrays.copyOf(raw, raw.length + 2));
        expectBad(f, "trailing");
    }

    @Test
    void tokenIdOutsideVocab() throws IOException {
        Path f = good();
        byte[] raw = Files.readAllBytes(f);
        raw[TokenFile.HEADER_BYTES + 4] = 10; // token 2 := 10 with vocab 10
        Files.write(f, raw);
        expectBad(f, "token 2", "id 10");
    }

    @Test
    void badVersionDtypeAndVocab() throws IOException {
        Path f = good();
        byte[] raw = Files.readAllBytes(f);
        byte[] v = raw.clone();
        v[8] = 9;
        Files.write(f, v);
        expectBad(f, "version");
        byte[] d = raw.clone();
        d[12] = 3;
        Files.write(f, d);
        expectBad(f, "dtype");
        byte[] z = raw.clone();
        z[24] = 0;
        Files.write(f, z);
        expectBad(f, "vocab_size");
    }

    @Test
    void missingFile() {
        expectBad(dir.resolve("none.bin"), "does not exist");
    }
}
