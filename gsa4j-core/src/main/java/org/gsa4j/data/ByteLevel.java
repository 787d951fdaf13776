package org.gsa4j.data;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * GPT-2's byte-level pieces, exactly as Hugging Face {@code tokenizers}' {@code ByteLevel}
 * pre-tokenizer and decoder implement them: the byte-to-printable-character table and the
 * pre-tokenizer regex that splits text into words, numbers, punctuation and whitespace.
 */
public final class ByteLevel {

    private ByteLevel() {}

    /**
     * GPT-2's pre-tokenizer regex (the one HF's ByteLevel pre-tokenizer uses with
     * {@code use_regex: true}). {@code \s} is Unicode whitespace, as in Oniguruma, which HF uses.
     */
    public static final Pattern GPT2_SPLIT = Pattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
            Pattern.UNICODE_CHARACTER_CLASS);

    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final int[] CHAR_TO_BYTE = new int[512];

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, -1);
        boolean[] printable = new boolean[256];
        for (int b = '!'; b <= '~'; b++) printable[b] = true;
        for (int b = 0xA1; b <= 0xAC; b++) printable[b] = true;
        for (int b = 0xAE; b <= 0xFF; b++) printable[b] = true;
        int n = 0;
        for (int b = 0; b < 256; b++) {
            char c = printable[b] ? (char) b : (char) (256 + n++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = b;
        }
    }

    /** The printable character GPT-2 uses for byte {@code b} (0..255). */
    public static char byteToChar(int b) {
        return BYTE_TO_CHAR[b & 0xFF];
    }

    /** The byte a byte-level character stands for, or -1 when {@code c} is not one. */
    public static int charToByte(char c) {
        return c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
    }

    /** The byte-level form of UTF-8 bytes: one printable char per byte. */
    public static String encodeBytes(byte[] bytes, int from, int to) {
        char[] out = new char[to - from];
        for (int i = from; i < to; i++) out[i - from] = BYTE_TO_CHAR[bytes[i] & 0xFF];
        return new String(out);
    }

    /** Splits text into GPT-2 pre-tokens (substrings of {@code text}, covering it entirely). */
    public static List<String> split(String text) {
        List<String> out = new ArrayList<>();
        Matcher m = GPT2_SPLIT.matcher(text);
        int last = 0;
        while (m.find()) {
            if (m.start() > last) out.add(text.substring(last, m.start()));
            out.add(m.group());
            last = m.end();
        }
        if (last < text.length()) out.add(text.substring(last));
        return out;
    }

    /** The UTF-8 bytes of a string (unpaired surrogates become '?', as Java's encoder does). */
    public static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
