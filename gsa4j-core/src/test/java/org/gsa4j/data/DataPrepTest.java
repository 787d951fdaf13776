package org.gsa4j.data;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;

import org.gsa4j.Gsa4jException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataPrepTest {

    @TempDir
    Path dir;

    private Path smallCorpus() throws Exception {
        Path c = dir.resolve("corpus");
        Files.createDirectories(c);
        String emma = Corpus.austen().train().get(0).text();
        Files.writeString(c.resolve("a.txt"), emma.substring(0, 60_000));
        Files.writeString(c.resolve("b.txt"), emma.substring(60_000, 120_000));
        Files.writeString(c.resolve("persuasion.txt"), emma.substring(120_000, 140_000));
        return c;
    }

    @Test
    void prepareWritesTokenizerTokenFilesAndStats() throws Exception {
        Corpus corpus = Corpus.fromDirectory(smallCorpus());
        Path out = dir.resolve("out");
        DataPrep.Result r = DataPrep.prepare(corpus, out, 512);
        assertEquals(512, r.vocabSize());
        assertEquals(0, r.eosId());
        for (String f : new String[] {"tokenizer.json", "train.bin", "val.bin", "prep.json"}) assertTrue(Files.isRegularFile(out.resolve(f)), f);
        try (Tokenizer tok = Tokenizer.loadFast(r.tokenizerPath()); TokenFile tr = TokenFile.open(r.trainPath()); TokenFile va = TokenFile.open(r.validationPath())) {
            assertEquals(512, tr.vocabSize());
            assertEquals(r.train().tokens(), tr.size());
            assertEquals(r.validation().tokens(), va.size());
            assertEquals(0, va.get(va.size() - 1)); // document ends with <|endoftext|>
            int[] ids = new int[(int) va.size() - 1];
            va.read(0, ids, 0, ids.length);
            assertEquals(corpus.validation().text(), tok.decode(ids));
        }
        assertEquals(r.validation().bytes() / (double) r.validation().tokens(), r.validation().bytesPerToken(), 1e-12);
        assertTrue(r.train().bytesPerToken() > 2.0, "" + r.train().bytesPerToken());
        DataPrep.Result back = DataPrep.load(out);
        assertEquals(r.train(), back.train());
        assertEquals(r.validation(), back.validation());
        assertEquals(r.corpusSha256(), back.corpusSha256());
        // same corpus and vocab: reused, not retrained
        long before = Files.getLastModifiedTime(out.resolve("train.bin")).toMillis();
        DataPrep.Result again = DataPrep.loadOrPrepare(corpus, out, 512);
        assertEquals(r.train(), again.train());
        assertEquals(before, Files.getLastModifiedTime(out.resolve("train.bin")).toMillis());
    }

    @Test
    void prepareWithAGivenTokenizer() throws Exception {
        Corpus corpus = Corpus.fromDirectory(smallCorpus());
        DataPrep.Result first = DataPrep.prepare(corpus, dir.resolve("one"), 300);
        DataPrep.Result second = DataPrep.prepare(corpus, dir.resolve("two"), first.tokenizerPath());
        assertFalse(second.tokenizerTrained());
        assertEquals(first.train(), second.train());
        assertEquals(Files.readString(first.tokenizerPath()), Files.readString(second.tokenizerPath()));
    }

    @Test
    void outputPathThatIsAFileIsAClearError() throws Exception {
        Corpus corpus = Corpus.fromDirectory(smallCorpus());
        Path file = dir.resolve("occupied");
        Files.writeString(file, "x");
        Gsa4jException e = assertThrows(Gsa4jException.class, () -> DataPrep.prepare(corpus, file, 300));
        assertTrue(e.getMessage().contains("occupied"), e.getMessage());
    }

    @Test
    void loadWithoutPrepareIsAClearError() {
        Gsa4jException e = assertThrows(Gsa4jException.class, () -> DataPrep.load(dir));
        assertTrue(e.getMessage().contains("prep.json") && e.getMessage().contains("prepare"), e.getMessage());
    }
}
