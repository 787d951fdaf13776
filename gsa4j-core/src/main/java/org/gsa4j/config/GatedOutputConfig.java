package org.gsa4j.config;

/** What the GLA and RetNet configs share: the per-head output norm, optionally times a swish gate. */
public interface GatedOutputConfig {
    LmConfig lm();

    boolean useOutputGate();

    boolean fuseNorm();

    /**
     * The output norm's weight name: the reference library fuses norm and swish gate (and names the
     * module {@code g_norm_swish_gate}) when the gate function is swish, fuse_norm is on and there is a gate.
     */
    default String gateNormName() {
        return lm().hiddenAct().equals("swish") && fuseNorm() && useOutputGate() ? "g_norm_swish_gate.weight" : "g_norm.weight";
    }
}
