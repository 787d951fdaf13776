package org.gsa4j.infer;

import org.gsa4j.data.Tokenizer;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** Text from tokens that split characters, and stop strings across tokens. */
class TextStreamTest {

    /** A byte-level tokenizer: token i is byte i; decoding replaces incomplete UTF-8 with U+FFFD, as the real ones do. */
    static final Tokenizer BYTES = new Tokenizer() {
        @Override
        public int[] encode(String text) {
            byte[] b = text.getBytes(StandardCharsets.UTF_8);
            int[] ids = new int[b.length];
            for (int i = 0; i < b.length; i++) ids[i] = b[i] & 0xFF;
            return ids;
        }

        @Override
        public String decode(int[] ids) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            for (int id : ids) out.write(id);
            return out.toString(StandardCharsets.UTF_8);
        }

        @Override
        public int vocabSize() {
            return 256;
        }

        @Override
        public int eosId() {
            return -1;
        }
    };

    private static List<String> stream(String text, List<String> stops, boolean[] stopped) {
        List<String> pieces = new ArrayList<>();
        TextStream s = new TextStream(BYTES, pieces::add).stopAt(stops);
        for (int id : BYTES.encode(text)) {
            if (!s.accept(id)) {
                stopped[0] = true;
                break;
            }
        }
        s.finish();
        return pieces;
    }

    @Test
    void charactersSplitAcrossTokensAreHandedOnWhole() {
        String text = "café – 😀 ok\nnext line é";
        boolean[] stopped = {false};
        List<String> pieces = stream(text, List.of(), stopped);
        assertEquals(text, String.join("", pieces));
        for (String p : pieces) assertFalse(p.contains("\uFFFD"), "never half a character: " + pieces);
        assertTrue(pieces.contains("😀"), "the emoji's four bytes come out as one piece: " + pieces);
        assertFalse(stopped[0]);
    }

    @Test
    void aStopStringEndsTheTextBeforeItEvenAcrossTokens() {
        boolean[] stopped = {false};
        List<String> pieces = stream("It was the best of times, it was", List.of("worst", "of t"), stopped);
        assertTrue(stopped[0]);
        assertEquals("It was the best ", String.join("", pieces));
        // a possible start of a stop string is held back, then released when it does not complete
        stopped[0] = false;
        pieces = stream("a wor d", List.of("worst"), stopped);
        assertFalse(stopped[0]);
        assertEquals("a wor d", String.join("", pieces));
    }

    @Test
    void theContextIsDecodedWithTheTokensButNotHandedOn() {
        List<String> pieces = new ArrayList<>();
        int[] prompt = BYTES.encode("caf\u00c3".substring(0, 3)); // "caf"
        TextStream s = new TextStream(BYTES, pieces::add).context(prompt);
        for (int id : BYTES.encode("é!")) s.accept(id);
        s.finish();
        assertEquals("é!", String.join("", pieces));
        assertEquals("é!", s.text());
    }

    @Test
    void repetitionPenaltyFollowsTransformers() {
        float[] logits = {2f, -2f, 3f, 0.5f};
        Generator.penalize(logits, new int[] {0, 1, 3}, 3, 2f);
        assertArrayEquals(new float[] {1f, -4f, 3f, 0.25f}, logits);
    }
}
