/**
 * The operator tier: each operator with its forward, hand-written backward and (where decoding
 * needs one) recurrent step.
 *
 * <ul>
 *   <li>{@link org.gsa4j.ops.gla}: the one gated-linear-attention primitive,
 *       {@code S_t = decay(S_{t-1}) + k_t v_tᵀ}, {@code o_t = S_tᵀ q_t}, with the decay on the key
 *       axis (GLA, HGRN2, GSA pass 2), the value axis (GSA pass 1) or a fixed scalar per head
 *       (RetNet). float32: chunkwise-parallel forward and backward (docs/MATH.md#the-gated-linear-attention-primitive, {@code ChunkHead});
 *       float64: the plain recurrence with BPTT ({@code NaiveGla}); plus an allocation-free
 *       recurrent step.</li>
 *   <li>{@link org.gsa4j.ops.gsa}: the GSA operator, two passes of the primitive joined by a softmax
 *       over the slots (docs/MATH.md#the-gsa-operator); float64 runs the recurrence of docs/MATH.md#the-gsa-operator ({@code NaiveGsa}).</li>
 *   <li>{@link org.gsa4j.ops.attention}: rotary embedding, causal softmax attention, the KV cache.</li>
 *   <li>{@link org.gsa4j.ops.RmsNorm}, {@link org.gsa4j.ops.CrossEntropy}, {@link org.gsa4j.ops.ShortConv}.</li>
 * </ul>
 *
 * Layout everywhere: sequences {@code [B,T,H,D]}, states {@code [B,H,Dk,Dv]}, row-major.
 */
package org.gsa4j.ops;
