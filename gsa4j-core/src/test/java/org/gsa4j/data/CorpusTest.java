package org.gsa4j.data;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.zip.GZIPOutputStream;

import org.gsa4j.Gsa4jException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CorpusTest {

    @TempDir
    Path dir;

    @Test
    void embeddedAustenSplitAndChecksums() {
        Corpus c = Corpus.austen();
        assertEquals("persuasion.txt", c.validation().name());
        assertEquals(List.of("emma.txt", "mansfieldpark.txt", "northangerabbey.txt", "prideprejudice.txt", "sensesensibility.txt"),
                c.train().stream().map(Corpus.Document::name).toList());
        assertEquals(466_854, c.validation().utf8Bytes());
        long total = c.validation().utf8Bytes();
        for (Corpus.Document d : c.train()) total += d.utf8Bytes();
        assertEquals(4_025_029, total);
        assertTrue(c.train().get(0).text().contains("Emma Woodhouse"));
    }

    @Test
    void embeddedReadmeKeepsProvenance() throws IOException {
        try (var in = Corpus.class.getClassLoader().getResourceAsStream("corpus/austen/README.md")) {
            String readme = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(readme.contains("r-cran-janeaustenr"));
            assertEquals(6, Corpus.parseChecksums(readme).size());
        }
    }

    private static void gz(Path p, String text) throws IOException {
        try (OutputStream o = new GZIPOutputStream(Files.newOutputStream(p))) {
            o.write(text.getBytes(StandardCharsets.UTF_8));
        }
    }

    private static String readme(String... rows) {
        StringBuilder sb = new StringBuilder("# test\n\n| file | bytes (uncompressed) | sha256 |\n| --- | --- | --- |\n");
        for (String r : rows) sb.append(r).append('\n');
        return sb.toString();
    }

    private static String row(String name, String text) {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        return "| " + name + " | " + String.format("%,d", b.length) + " | " + Corpus.sha256(b) + " |";
    }

    @Test
    void userDirectoryWithChecksums() throws IOException {
        gz(dir.resolve("a.txt.gz"), "first text\n");
        Files.writeString(dir.resolve("persuasion.txt"), "held out\n");
        Files.writeString(dir.resolve("b.txt"), "second text £\n");
        Files.writeString(dir.resolve("notes.md"), "ignored");
        Files.writeString(dir.resolve("README.md"), readme(row("a.txt", "first text\n"), row("b.txt", "second text £\n")));
        Corpus c = Corpus.fromDirectory(dir);
        assertEquals("persuasion.txt", c.validation().name());
        assertEquals(List.of("a.txt", "b.txt"), c.train().stream().map(Corpus.Document::name).toList());
        assertEquals("first text\n", c.train().get(0).text());
    }

    @Test
    void checksumMismatchIsReported() throws IOException {
        Files.writeString(dir.resolve("a.txt"), "first text\n");
        Files.writeString(dir.resolve("b.txt"), "tampered\n");
        Files.writeString(dir.resolve("README.md"), readme(row("a.txt", "first text\n"), row("b.txt", "original!\n")));
        Gsa4jException e = assertThrows(Gsa4jException.class, () -> Corpus.fromDirectory(dir));
        assertTrue(e.getMessage().contains("b.txt") && e.getMessage().contains("checksum mismatch"), e.getMessage());
        // same length, different content: the sha256 catches it
        Files.writeString(dir.resolve("README.md"), readme(row("a.txt", "first text\n"), row("b.txt", "tampereD\n")));
        e = assertThrows(Gsa4jException.class, () -> Corpus.fromDirectory(dir));
        assertTrue(e.getMessage().contains("b.txt") && e.getMessage().contains("sha256"), e.getMessage());
    }

    @Test
    void listedFileMissing() throws IOException {
        Files.writeString(dir.resolve("a.txt"), "first text\n");
        Files.writeString(dir.resolve("README.md"), readme(row("a.txt", "first text\n"), row("gone.txt", "x")));
        Gsa4jException e = assertThrows(Gsa4jException.class, () -> Corpus.fromDirectory(dir));
        assertTrue(e.getMessage().contains("gone.txt") && e.getMessage().contains("missing"), e.getMessage());
    }

    @Test
    void emptyAndInvalidFiles() throws IOException {
        Files.writeString(dir.resolve("a.txt"), "first text\n");
        Files.writeString(dir.resolve("b.txt"), "");
        Gsa4jException e = assertThrows(Gsa4jException.class, () -> Corpus.fromDirectory(dir));
        assertTrue(e.getMessage().contains("b.txt") && e.getMessage().contains("empty"), e.getMessage());
        Files.write(dir.resolve("b.txt"), new byte[] {(byte) 0xC3, 0x28});
        e = assertThrows(Gsa4jException.class, () -> Corpus.fromDirectory(dir));
        assertTrue(e.getMessage().contains("b.txt") && e.getMessage().contains("UTF-8"), e.getMessage());
        Files.delete(dir.resolve("b.txt"));
        Files.write(dir.resolve("b.txt.gz"), new byte[] {1, 2, 3});
        e = assertThrows(Gsa4jException.class, () -> Corpus.fromDirectory(dir));
        assertTrue(e.getMessage().contains("b.txt.gz") && e.getMessage().contains("gzip"), e.getMessage());
    }

    @Test
    void missingOrEmptyDirectory() {
        Gsa4jException e = assertThrows(Gsa4jException.class, () -> Corpus.fromDirectory(dir.resolve("nope")));
        assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
        e = assertThrows(Gsa4jException.class, () -> Corpus.fromDirectory(dir));
        assertTrue(e.getMessage().contains("no .txt"), e.getMessage());
    }

    @Test
    void singleFileHoldsOutItsTail() throws IOException {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 100; i++) sb.append("line ").append(i).append('\n');
        Files.writeString(dir.resolve("only.txt"), sb);
        Corpus c = Corpus.fromDirectory(dir);
        assertEquals(sb.toString(), c.train().get(0).text() + c.validation().text());
        assertTrue(c.validation().text().startsWith("line 9"), c.validation().text());
    }
}
