package org.gsa4j.data;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;

import org.gsa4j.Gsa4jException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BatcherTest {

    @TempDir
    Path dir;

    /** Token i has id i % 1000: windows can be checked against their start. */
    private TokenFile ramp(int n) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = i % 1000;
        Path f = dir.resolve("ramp" + n + ".bin");
        TokenFile.write(f, t, 1000);
        return TokenFile.open(f);
    }

    @Test
    void batchesAreDeterministicAndShifted() {
        try (TokenFile tf = ramp(5000)) {
            Batcher a = new Batcher(tf, 4, 16, 42);
            Batcher b = new Batcher(tf, 4, 16, 42);
            Batcher c = new Batcher(tf, 4, 16, 43);
            Set<Long> starts = new HashSet<>();
            boolean differs = false;
            for (long step = 0; step < 50; step++) {
                Batcher.Batch x = a.batch(step), y = b.batch(step), z = c.batch(step);
                assertArrayEquals(x.inputs(), y.inputs());
                assertArrayEquals(x.targets(), y.targets());
                assertArrayEquals(x.starts(), y.starts());
                differs |= !java.util.Arrays.equals(x.starts(), z.starts());
                for (int r = 0; r < 4; r++) {
                    long s = x.starts()[r];
                    assertTrue(s >= 0 && s + 17 <= 5000);
                    starts.add(s);
                    for (int t = 0; t < 16; t++) {
                        assertEquals((s + t) % 1000, x.inputs()[r * 16 + t]);
                        assertEquals((s + t + 1) % 1000, x.targets()[r * 16 + t]);
                    }
                }
            }
            assertTrue(differs, "another seed gives other batches");
            assertTrue(starts.size() > 150, "starts are spread: " + starts.size());
            // resuming: step 37 alone equals step 37 of the run
            assertArrayEquals(a.batch(37).inputs(), new Batcher(tf, 4, 16, 42).batch(37).inputs());
        }
    }

    @Test
    void everyWindowIsReachable() {
        try (TokenFile tf = ramp(20)) {
            Batcher b = new Batcher(tf, 8, 19, 1); // exactly one window: start 0
            for (long s = 0; s < 5; s++) for (long st : b.batch(s).starts()) assertEquals(0, st);
            Batcher b2 = new Batcher(tf, 8, 18, 1); // two windows
            Set<Long> seen = new HashSet<>();
            for (long s = 0; s < 20; s++) for (long st : b2.batch(s).starts()) seen.add(st);
            assertEquals(Set.of(0L, 1L), seen);
        }
    }

    @Test
    void sequenceLongerThanDataIsAClearError() {
        try (TokenFile tf = ramp(20)) {
            Gsa4jException e = assertThrows(Gsa4jException.class, () -> new Batcher(tf, 2, 20, 0));
            assertTrue(e.getMessage().contains("longer than the data") && e.getMessage().contains("ramp20.bin"), e.getMessage());
        }
    }

    @Test
    void sequentialWindowsTileTheFile() {
        try (TokenFile tf = ramp(1001)) {
            long expectedStart = 0;
            long predictions = 0;
            int windows = 0;
            for (Batcher.Window w : Batcher.sequential(tf, 64)) {
                assertEquals(expectedStart, w.start());
                for (int t = 0; t < w.length(); t++) {
                    assertEquals((w.start() + t) % 1000, w.inputs()[t]);
                    assertEquals((w.start() + t + 1) % 1000, w.targets()[t]);
                }
                expectedStart += w.length();
                predictions += w.length();
                windows++;
            }
            assertEquals(1000, predictions);
            assertEquals(16, windows); // 15 x 64 + 40
        }
    }
}
