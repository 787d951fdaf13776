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
        for (String f : new String[] {"tokenizer.json", "tokenizer_config.json", "train.bin", "val.bin", "prep.json"}) {
            assertTrue(Files.isRegularFile(out.resolve(f)), f);
        }
        var cfg = new com.fasterxml.jackson.databind.ObjectMapper().readTree(out.resolve("tokenizer_config.json").toFile());
        assertEquals("PreTrainedTokenizerFast", cfg.get("tokenizer_class").asText());
        assertFalse(cfg.get("clean_up_tokenization_spaces").asBoolean(true));
        assertEquals(Tokenizer.END_OF_TEXT, cfg.get("eos_token").asText());
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
    void streamedFileEncodingEqualsWholeTextEncoding() throws Exception {
        Corpus corpus = Corpus.fromDirectory(smallCorpus());
        DataPrep.Result r = DataPrep.prepare(corpus, dir.resolve("p"), 400);
        String text = Corpus.austen().validation().text().substring(0, 80_000) + "\n  \n\nend \u00a0\n\u2028x\n";
        Path txt = dir.resolve("eval.txt");
        Files.writeString(txt, text);
        try (Tokenizer tok = Tokenizer.loadFast(r.tokenizerPath())) {
            assertInstanceOf(BpeTokenizer.class, tok);
            int[] whole = tok.encode(text);
            for (int chunk : new int[] {40, 777, 1 << 20}) {
                Path bin = dir.resolve("eval" + chunk + ".bin");
                DataPrep.Split s = DataPrep.encodeFile(txt, tok, bin, chunk);
                assertEquals(Corpus.utf8Length(text), s.bytes());
                try (TokenFile tf = TokenFile.open(bin)) {
                    int[] got = new int[(int) tf.size()];
                    tf.read(0, got, 0, got.length);
                    assertArrayEquals(whole, got, "chunk " + chunk);
                }
            }
            Path empty = dir.resolve("empty.txt");
            Files.writeString(empty, "");
            Gsa4jException e = assertThrows(Gsa4jException.class, () -> DataPrep.encodeFile(empty, tok, dir.resolve("x.bin")));
            assertTrue(e.getMessage().contains("empty.txt") && e.getMessage().contains("empty"), e.getMessage());
            assertFalse(Files.exists(dir.resolve("x.bin")));
        }
    }

    @Test
    void unigramBaselineAndVocabCheck() throws Exception {
        Corpus corpus = Corpus.fromDirectory(smallCorpus());
        DataPrep.Result r = DataPrep.prepare(corpus, dir.resolve("u"), 300);
        double bpb = r.unigramValBitsPerByte();
        // a unigram model of English BPE tokens: a few bits per byte, well under 8
        assertTrue(bpb > 1.0 && bpb < 6.0, "unigram bits/byte " + bpb);
        assertEquals(bpb, DataPrep.load(r.dir()).unigramValBitsPerByte(), 1e-4);
        try (TokenFile tf = TokenFile.open(r.trainPath())) {
            tf.requireVocabAtMost(300, "model");
            Gsa4jException e = assertThrows(Gsa4jException.class, () -> tf.requireVocabAtMost(256, "model config.json"));
            assertTrue(e.getMessage().contains("train.bin") && e.getMessage().contains("does not match"), e.getMessage());
        }
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
