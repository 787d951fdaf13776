package org.gsa4j.data;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.regex.Matcher;

import org.gsa4j.Gsa4jException;

/**
 * Trains a GPT-2-style byte-level BPE tokenizer.
 *
 * <p>Ids: 0 is {@code <|endoftext|>} (an added, special token), 1..256 are the single bytes 0..255
 * (in byte order, as their GPT-2 printable characters), and each merge adds the next id. Training
 * text is split on {@code <|endoftext|>} and then into pre-tokens by {@link ByteLevel#GPT2_SPLIT};
 * merges are learned on the table of distinct pre-tokens with their frequencies.
 *
 * <p>Algorithm: pair counts over the word table are kept incrementally. A priority queue (lazy: stale
 * entries are skipped when popped) gives the most frequent pair; ties go to the smaller left id, then
 * the smaller right id, so training is deterministic. Each merge touches only the words that contain
 * the pair (an index from pair to words), subtracting their old pairs and adding their new ones.
 * Training stops at the requested vocabulary size, or earlier when no pair occurs at least
 * {@code minFrequency} times.
 */
public final class BpeTrainer {

    private BpeTrainer() {}

    /** Smallest vocabulary: {@code <|endoftext|>} and the 256 bytes. */
    public static final int MIN_VOCAB = 257;

    /** Result of training: the tokenizer and how long it took. */
    public record Result(BpeTokenizer tokenizer, int distinctWords, long totalWords, double seconds) {}

    /** Trains with {@code minFrequency = 2}. */
    public static BpeTokenizer train(List<String> texts, int vocabSize) {
        return trainWithStats(texts, vocabSize, 2).tokenizer();
    }

    public static Result trainWithStats(List<String> texts, int vocabSize, int minFrequency) {
        if (vocabSize < MIN_VOCAB) {
            throw new Gsa4jException("BPE: vocabulary size " + vocabSize + " is too small: at least " + MIN_VOCAB
                    + " (256 bytes and " + Tokenizer.END_OF_TEXT + ")");
        }
        long t0 = System.nanoTime();
        // ---- word frequency table
        HashMap<String, int[]> counts = new HashMap<>();
        long totalWords = 0;
        for (String text : texts) {
            int pos = 0;
            while (pos <= text.length()) {
                int eot = text.indexOf(Tokenizer.END_OF_TEXT, pos);
                int end = eot < 0 ? text.length() : eot;
                Matcher m = ByteLevel.GPT2_SPLIT.matcher(text);
                m.region(pos, end);
                int last = pos;
                while (m.find()) {
                    if (m.start() > last) { counts.computeIfAbsent(text.substring(last, m.start()), k -> new int[1])[0]++; totalWords++; }
                    counts.computeIfAbsent(m.group(), k -> new int[1])[0]++;
                    totalWords++;
                    last = m.end();
                }
                if (last < end) { counts.computeIfAbsent(text.substring(last, end), k -> new int[1])[0]++; totalWords++; }
                if (eot < 0) break;
                pos = eot + Tokenizer.END_OF_TEXT.length();
            }
        }
        List<String> words = new ArrayList<>(counts.keySet());
        words.sort(null);
        int nw = words.size();
        int[][] sym = new int[nw][];
        int[] len = new int[nw];
        long[] freq = new long[nw];
        for (int w = 0; w < nw; w++) {
            byte[] b = ByteLevel.utf8(words.get(w));
            sym[w] = new int[b.length];
            for (int i = 0; i < b.length; i++) sym[w][i] = 1 + (b[i] & 0xFF);
            len[w] = b.length;
            freq[w] = counts.get(words.get(w))[0];
        }
        counts = null;

        // ---- vocabulary
        List<String> idToStr = new ArrayList<>();
        Map<String, Integer> strToId = new HashMap<>();
        idToStr.add(Tokenizer.END_OF_TEXT);
        for (int b = 0; b < 256; b++) {
            String s = String.valueOf(ByteLevel.byteToChar(b));
            strToId.put(s, idToStr.size());
            idToStr.add(s);
        }

        // ---- initial pair counts and index
        LongLongMap pairCount = new LongLongMap(1 << 16);
        PairIndex pairWords = new PairIndex();
        for (int w = 0; w < nw; w++) {
            int[] s = sym[w];
            for (int i = 0; i + 1 < len[w]; i++) {
                long p = LongLongMap.pair(s[i], s[i + 1]);
                pairCount.add(p, freq[w]);
                pairWords.add(p, w);
            }
        }
        PriorityQueue<long[]> pq = new PriorityQueue<>(BpeTrainer::compareEntries);
        for (int k = 0; k < pairWords.pairs.n; k++) {
            long p = pairWords.pairs.a[k];
            long c = pairCount.get(p, 0);
            if (c > 0) pq.add(new long[] {c, p});
        }

        // ---- merge loop
        List<String[]> merges = new ArrayList<>();
        int[] stamp = new int[nw];
        java.util.Arrays.fill(stamp, -1);
        LongList changed = new LongList();
        LongLongMap changedStamp = new LongLongMap(1 << 16);
        while (idToStr.size() < vocabSize && !pq.isEmpty()) {
            long[] top = pq.poll();
            long p = top[1];
            long cur = pairCount.get(p, 0);
            if (cur != top[0]) continue; // stale entry; the current count (if > 0) is queued too
            if (cur < minFrequency) break;
            int a = (int) (p >>> 32), b = (int) p;
            String sa = idToStr.get(a), sb = idToStr.get(b), sab = sa + sb;
            Integer existing = strToId.get(sab);
            int nid;
            if (existing != null) {
                nid = existing;
            } else {
                nid = idToStr.size();
                idToStr.add(sab);
                strToId.put(sab, nid);
            }
            int mergeIndex = merges.size();
            merges.add(new String[] {sa, sb});

            changed.n = 0;
            BpeTokenizer.IntList ws = pairWords.take(p);
            for (int k = 0; k < ws.n; k++) {
                int w = ws.a[k];
                if (stamp[w] == mergeIndex) continue;
                stamp[w] = mergeIndex;
                int[] s = sym[w];
                int n = len[w];
                boolean has = false;
                for (int i = 0; i + 1 < n; i++) if (s[i] == a && s[i + 1] == b) { has = true; break; }
                if (!has) continue;
                long f = freq[w];
                for (int i = 0; i + 1 < n; i++) {
                    long q = LongLongMap.pair(s[i], s[i + 1]);
                    pairCount.add(q, -f);
                    changed.add(q);
                }
                int o = 0;
                for (int i = 0; i < n; ) {
                    if (i + 1 < n && s[i] == a && s[i + 1] == b) { s[o++] = nid; i += 2; }
                    else s[o++] = s[i++];
                }
                len[w] = n = o;
                for (int i = 0; i + 1 < n; i++) {
                    long q = LongLongMap.pair(s[i], s[i + 1]);
                    pairCount.add(q, f);
                    changed.add(q);
                    if (s[i] == nid || s[i + 1] == nid) pairWords.add(q, w);
                }
            }
            // queue the new count of every pair that changed (duplicates are harmless)
            for (int k = 0; k < changed.n; k++) {
                long q = changed.a[k];
                if (q == p || changedStamp.get(q, -1) == mergeIndex) continue;
                changedStamp.put(q, mergeIndex);
                long c = pairCount.get(q, 0);
                if (c > 0) pq.add(new long[] {c, q});
            }
        }

        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (int id = 0; id < idToStr.size(); id++) vocab.put(idToStr.get(id), id);
        Map<String, Integer> added = new LinkedHashMap<>();
        added.put(Tokenizer.END_OF_TEXT, 0);
        BpeTokenizer tok = new BpeTokenizer(vocab, merges, added);
        return new Result(tok, nw, totalWords, (System.nanoTime() - t0) / 1e9);
    }

    private static int compareEntries(long[] x, long[] y) {
        int c = Long.compare(y[0], x[0]); // higher count first
        if (c != 0) return c;
        int xa = (int) (x[1] >>> 32), ya = (int) (y[1] >>> 32);
        if (xa != ya) return Integer.compare(xa, ya);
        return Integer.compare((int) x[1], (int) y[1]);
    }

    /** Pair to the words that (may) contain it; entries are checked when used. */
    private static final class PairIndex {
        final LongLongMap slot = new LongLongMap(1 << 16);
        final ArrayList<BpeTokenizer.IntList> lists = new ArrayList<>();
        final LongList pairs = new LongList();

        void add(long p, int w) {
            long k = slot.get(p, -1);
            BpeTokenizer.IntList l;
            if (k < 0) {
                slot.put(p, lists.size());
                lists.add(l = new BpeTokenizer.IntList(4));
                pairs.add(p);
            } else {
                l = lists.get((int) k);
                if (l == null) lists.set((int) k, l = new BpeTokenizer.IntList(4));
            }
            if (l.n == 0 || l.a[l.n - 1] != w) l.add(w);
        }

        /** The list for p, detached from the index (an empty list when p has none). */
        BpeTokenizer.IntList take(long p) {
            long k = slot.get(p, -1);
            if (k < 0) return new BpeTokenizer.IntList(1);
            BpeTokenizer.IntList l = lists.get((int) k);
            lists.set((int) k, null);
            return l == null ? new BpeTokenizer.IntList(1) : l;
        }
    }

    private static final class LongList {
        long[] a = new long[256];
        int n;

        void add(long v) {
            if (n == a.length) a = java.util.Arrays.copyOf(a, n * 2);
            a[n++] = v;
        }
    }
}
