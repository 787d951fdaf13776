package org.gsa4j.config;

/**
 * What the GSA, GLA and RetNet configs share: {@code num_heads} query heads over
 * {@code num_kv_heads} key/value heads, key and value widths {@code hidden_size·expand_k} and
 * {@code hidden_size·expand_v}.
 */
public interface MultiHeadConfig {
    LmConfig lm();

    int numHeads();

    int numKvHeads();

    double expandK();

    double expandV();

    /** The head layout these fields describe. */
    default HeadShape heads() {
        return HeadShape.of(lm().hiddenSize(), numHeads(), numKvHeads(), expandK(), expandV());
    }
}
