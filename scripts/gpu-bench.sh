#!/usr/bin/env bash
# The GPU run of record, on the GPU machine, from the repository root with .device/bundle (scripts/gpu-bundle.sh)
# and the reference library under .device/peers/fla (see ../shared/peers/README.md): the gpu-tagged tests (their
# comparisons logged to conformance.jsonl), GpuOpBench, then the reference library's kernels at the same shapes,
# one after the other so that neither is timed while the other runs. Writes into FOLDER (default docs/gpu):
#   conformance.jsonl tests.log gpu-op.json bench.log peer.json peer.log device.txt
# then, on any machine: python3 scripts/gpu-report.py docs/gpu > docs/GPU.md
#   scripts/gpu-bench.sh [FOLDER] [REPS]      (defaults: docs/gpu, 10)
# A Triton cache from an earlier run (.device/triton-cache.tar.xz, TRITON_CACHE_DIR's contents) spares the peer its
# autotuning, which takes minutes per shape.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="${1:-docs/gpu}"
reps="${2:-10}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem,memory.total --format=csv > "$out/device.txt" 2>&1

GSA4J_GPU_REPORT="$out/conformance.jsonl" OUT=/tmp/gsa4j-gpu-tests timeout "${TEST_TIMEOUT:-210}" scripts/gpu-test.sh > "$out/tests.log" 2>&1
echo "tests exit $?" >> "$out/tests.log"
tail -n 1 "$out/tests.log"

timeout "${BENCH_TIMEOUT:-110}" scripts/gpu-test.sh --main org.gsa4j.cuda.bench.GpuOpBench "$out/gpu-op.json" --reps "$reps" > "$out/bench.log" 2>&1
echo "bench exit $?" >> "$out/bench.log"
cat "$out/bench.log"

export TRITON_CACHE_DIR=/tmp/triton-cache PYTHONUNBUFFERED=1 PYTHONPATH="$root/.device/peers/fla${PYTHONPATH:+:$PYTHONPATH}"
if [ -f .device/triton-cache.tar.xz ]; then
  python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall("/tmp")' .device/triton-cache.tar.xz
fi
timeout "${PEER_TIMEOUT:-170}" python3 bench/peer/gpu_gsa_peer.py "$out/peer.json" --reps "$reps" > "$out/peer.log" 2>&1
echo "peer exit $?" >> "$out/peer.log"
cat "$out/peer.log"
