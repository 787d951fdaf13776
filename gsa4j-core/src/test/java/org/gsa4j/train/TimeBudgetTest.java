package org.gsa4j.train;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The time budget's arithmetic (the demo's planning is exercised end to end by the CLI tests). */
class TimeBudgetTest {
    @Test
    void timeBudgetSpendsWhatIsLeftOnUpdates() {
        // 240 s budget, 20 s spent by update 60, 0.1 s per update, 10 s of validations to come: 2,100 more updates
        assertEquals(2160, TimeBudget.plannedTotal(240, 20, 60, 0.1, 10));
        // a re-estimate at update 120 with slower updates shortens the run
        assertEquals(120 + 1000, TimeBudget.plannedTotal(240, 30, 120, 0.2, 10));
        // a budget already spent still allows one more update
        assertEquals(61, TimeBudget.plannedTotal(10, 20, 60, 0.1, 0));
    }
}
