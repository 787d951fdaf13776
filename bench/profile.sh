#!/usr/bin/env bash
# Profiles one bench suite with Java Flight Recorder (execution samples of all threads) and prints
# the hottest methods by self time: the evidence behind "what bounds it" in docs/BENCHMARKS.md.
#   bench/profile.sh SUITE [extra bench args]      e.g. PROFILE_DELAY=60s bench/profile.sh train --python ''
# PROFILE_DELAY skips the warm-up; GSA4J_JAVA_OPTS=-Dgsa4j.bench.trainRounds=N lengthens the train suite.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/jdk.sh"
suite="${1:?suite}"; shift
out="${PROFILE_DIR:-/tmp}/gsa4j-$suite.jfr"
GSA4J_JAVA_OPTS="-XX:StartFlightRecording=filename=$out,settings=profile,delay=${PROFILE_DELAY:-0s} ${GSA4J_JAVA_OPTS:-}" \
  "$root/gsa4j" bench --suite "$suite" "$@"
"$JAVA_HOME/bin/jfr" print --json --stack-depth 64 --events jdk.ExecutionSample "$out" | python3 "$root/bench/jfr_self.py" 30
