#!/usr/bin/env python3
"""The GPU peer of `GpuOpBench`: the reference library's Triton GSA kernels (chunk_gsa forward and
forward+backward, fused_recurrent_gsa for one decoding step) at the same shapes, bfloat16, timed with
CUDA events (median after warm-up). Run on the GPU machine with the library on PYTHONPATH; Triton's
autotuning results are cached under TRITON_CACHE_DIR, so a later process times with the same configs.

    python3 gpu_gsa_peer.py OUT.json [--reps N] [--quick] [--warm-only]
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn.functional as F
from fla.ops.gsa import chunk_gsa, fused_recurrent_gsa

SHAPES = [(8, 2048, 16, 128, 64), (8, 2048, 4, 512, 64),
          (2, 8192, 16, 128, 64), (2, 8192, 4, 512, 64),
          (1, 32768, 16, 128, 64), (1, 32768, 4, 512, 64)]
QUICK = [(2, 1024, 4, 128, 64)]


def timed(fn, reps):
    for _ in range(3):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    ms = []
    for _ in range(reps):
        start.record()
        fn()
        end.record()
        end.synchronize()
        ms.append(start.elapsed_time(end))
    return statistics.median(ms)


def inputs(B, T, H, K, M, grad):
    gen = torch.Generator(device="cuda").manual_seed(B * 131 + T + H)
    def randn(*shape):
        return torch.randn(*shape, device="cuda", generator=gen, dtype=torch.float32)
    q, k, v = (randn(B, T, H, K).bfloat16() for _ in range(3))
    g = (F.logsigmoid(randn(B, T, H, M)) / 8)
    s = (1 - g.exp()).bfloat16()
    g = g.bfloat16()   # the layer computes the gate in the model dtype
    for x in (q, k, v, s, g):
        x.requires_grad_(grad)
    return q, k, v, s, g


def op_row(B, T, H, K, M, reps, warm_only):
    scale = K ** -0.5
    q, k, v, s, g = inputs(B, T, H, K, M, grad=True)
    do = torch.randn_like(v)

    def forward():
        with torch.no_grad():
            chunk_gsa(q, k, v, s, g, scale=scale)

    def forward_backward():
        o, _ = chunk_gsa(q, k, v, s, g, scale=scale)
        o.backward(do)

    t0 = time.time()
    forward_backward()   # autotunes (or loads cached configs) for both directions
    forward()
    torch.cuda.synchronize()
    warm = time.time() - t0
    row = {"B": B, "T": T, "H": H, "K": K, "V": K, "M": M, "first_call_s": warm}
    if not warm_only:
        row["forward_ms"] = timed(forward, reps)
        row["forward_backward_ms"] = timed(forward_backward, reps)
        tokens = B * T
        row["forward_tokens_per_s"] = tokens / (row["forward_ms"] * 1e-3)
        row["forward_backward_tokens_per_s"] = tokens / (row["forward_backward_ms"] * 1e-3)
    print(json.dumps(row), flush=True)
    return row


def step_row(B, H, K, M, reps, warm_only):
    q, k, v, s, g = inputs(B, 1, H, K, M, grad=False)
    hk = torch.zeros(B, H, K, M, device="cuda", dtype=torch.float32)
    hv = torch.zeros(B, H, M, K, device="cuda", dtype=torch.float32)
    scale = K ** -0.5

    def step():
        with torch.no_grad():
            fused_recurrent_gsa(q, k, v, s, g, scale=scale, initial_state=(hk, hv), output_final_state=True)

    t0 = time.time()
    step()
    torch.cuda.synchronize()
    row = {"B": B, "H": H, "K": K, "V": K, "M": M, "first_call_s": time.time() - t0}
    if not warm_only:
        inner = 100
        def hundred():
            for _ in range(inner):
                step()
        row["step_us"] = timed(hundred, reps) * 1e3 / inner
    print(json.dumps(row), flush=True)
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--warm-only", action="store_true", help="only run each shape once (fills the autotune cache)")
    ap.add_argument("--shapes", type=int, nargs="*", help="indices into the shape list (default: all)")
    a = ap.parse_args()
    shapes = QUICK if a.quick else SHAPES
    if a.shapes:
        shapes = [shapes[i] for i in a.shapes]
    report = {"peer": "fla chunk_gsa / fused_recurrent_gsa (Triton)", "torch": torch.__version__,
              "device": torch.cuda.get_device_name(), "reps": a.reps, "op": [], "step": []}
    try:
        import triton
        report["triton"] = triton.__version__
    except ImportError:
        pass
    def save():   # after every row, so that a run cut short keeps what it measured
        with open(a.out, "w") as f:
            json.dump(report, f, indent=1)
    for B in (1, 64):
        for (H, K) in ((16, 128), (4, 512)):
            report["step"].append(step_row(B, H, K, 64, a.reps, a.warm_only))
            save()
    for (B, T, H, K, M) in shapes:
        report["op"].append(op_row(B, T, H, K, M, a.reps, a.warm_only))
        save()


if __name__ == "__main__":
    main()
