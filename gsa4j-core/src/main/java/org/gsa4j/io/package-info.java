/**
 * Checkpoint I/O, compatible with the Python reference stack (safetensors, transformers,
 * huggingface_hub, flash-linear-attention).
 *
 * <ul>
 * <li>{@link org.gsa4j.io.SafeTensors}: validated, memory-mapped safetensors reader; byte-exact,
 * atomic writer (F32/F64/BF16/F16/I64/I32, per-tensor dtypes for mixed checkpoints).</li>
 * <li>{@link org.gsa4j.io.HfModelDir}: a Hugging Face model directory (config.json + single or
 * sharded safetensors), with {@code expect(name, shape)} checks; {@code save} writes the same
 * layout, sharded like huggingface_hub when asked.</li>
 * <li>{@link org.gsa4j.io.LegacyLayout}: the 2024 hub layouts (docs/MATH.md#checkpoint-layout) converted to current names.</li>
 * <li>{@link org.gsa4j.io.PyJson}: JSON text as Python's {@code json.dumps(indent=2, sort_keys=True)}.</li>
 * <li>{@link org.gsa4j.io.AtomicFiles}: temp file + fsync + rename + directory fsync.</li>
 * </ul>
 *
 * Every problem with the input is an {@link org.gsa4j.Gsa4jException} naming the file and the field
 * or tensor. Tied embeddings ({@code tie_word_embeddings}: {@code lm_head.weight} omitted from the
 * file) are the model loader's job: this package reports what the files hold.
 */
package org.gsa4j.io;
