/**
 * Softmax-attention operators for the Transformer/Llama baselines (docs/MATH.md#causal-softmax-attention) and the rotary
 * embedding they (and RetNet, docs/MATH.md#retnet-layer) use.
 *
 * <ul>
 *   <li>{@link org.gsa4j.ops.attention.Rotary}: GPT-NeoX half-split rotary, fp32 angles as the reference;
 *       {@code apply(x, offset, inverse)} on [B,T,H,dim], {@code applyStep} on [B,H,dim].</li>
 *   <li>{@link org.gsa4j.ops.attention.CausalAttention}: causal GQA attention with optional sliding
 *       window, forward + backward; float64 plain loops (the reference), float32 flash-style blocks.</li>
 *   <li>{@link org.gsa4j.ops.attention.KvCache}: per-layer decode cache (ring buffer under a window),
 *       attended per kv head in parallel ranges with an online softmax; {@code reserve} pre-sizes it.</li>
 * </ul>
 *
 * Typical use in a layer: project q, k, v to [B,T,H,D]; {@code rotary.apply(q, pos0, false)},
 * {@code rotary.apply(k, pos0, false)}; {@code CausalAttention.forward(q, k, v, D^-0.5, window)}; in
 * backward, {@code CausalAttention.backward(result, dO)} then {@code rotary.apply(dq, pos0, true)}
 * and {@code rotary.apply(dk, pos0, true)}. For generation: prefill as above plus
 * {@code cache.append(k, v)}; each new token at position p = {@code cache.length()}:
 * {@code rotary.applyStep(q, p)}, {@code rotary.applyStep(k, p)}, {@code cache.step(q, k, v, scale, o)}
 * (allocation-free on flat arrays: {@code rotary.angles(p, cos, sin)} once, then {@code rotary.rotate}
 * on q's and k's heads).
 */
package org.gsa4j.ops.attention;
