#!/usr/bin/env bash
# Profiles one bench suite with Java Flight Recorder (execution samples of all threads) and prints
# the hottest methods by self time: the evidence behind "what bounds it" in docs/BENCHMARKS.md.
#   bench/profile.sh SUITE [extra bench args]      e.g. bench/profile.sh train --python ''
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/jdk.sh"
suite="${1:?suite}"; shift
out="${PROFILE_DIR:-/tmp}/gsa4j-$suite.jfr"
GSA4J_JAVA_OPTS="-XX:StartFlightRecording=filename=$out,settings=profile ${GSA4J_JAVA_OPTS:-}" \
  "$root/gsa4j" bench --suite "$suite" "$@"
"$JAVA_HOME/bin/jfr" view --width 160 hot-methods "$out"
