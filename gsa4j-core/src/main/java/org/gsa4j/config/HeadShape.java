package org.gsa4j.config;

import static org.gsa4j.config.ConfigException.require;

/**
 * The heads of a linear-attention layer: {@code numHeads} query heads sharing {@code numKvHeads}
 * key/value heads (grouped-query attention), {@code keyDim} and {@code valueDim} the widths of all
 * query heads together.
 */
public record HeadShape(int numHeads, int numKvHeads, int keyDim, int valueDim) {

    public HeadShape {
        require(numHeads > 0, "num_heads", "must be positive, found " + numHeads);
        require(numKvHeads > 0, "num_kv_heads", "must be positive, found " + numKvHeads);
        require(numHeads % numKvHeads == 0, "num_kv_heads", numKvHeads + " does not divide the " + numHeads + " query heads");
        require(keyDim > 0, "expand_k", "hidden_size·expand_k = " + keyDim + " must be positive");
        require(valueDim > 0, "expand_v", "hidden_size·expand_v = " + valueDim + " must be positive");
        require(keyDim % numHeads == 0, "num_heads", numHeads + " heads do not divide " + keyDim + " (hidden_size·expand_k)");
        require(valueDim % numHeads == 0, "num_heads", numHeads + " heads do not divide " + valueDim + " (hidden_size·expand_v)");
    }

    /** key_dim = hidden_size·expand_k and value_dim = hidden_size·expand_v, truncated as the reference library does. */
    public static HeadShape of(int hiddenSize, int numHeads, int numKvHeads, double expandK, double expandV) {
        return new HeadShape(numHeads, numKvHeads, (int) (hiddenSize * expandK), (int) (hiddenSize * expandV));
    }

    public int headKDim() {
        return keyDim / numHeads;
    }

    public int headVDim() {
        return valueDim / numHeads;
    }

    /** Query heads per kv head. */
    public int groups() {
        return numHeads / numKvHeads;
    }

    public int kvKeyDim() {
        return numKvHeads * headKDim();
    }

    public int kvValueDim() {
        return numKvHeads * headVDim();
    }
}
