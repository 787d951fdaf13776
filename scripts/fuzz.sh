#!/usr/bin/env bash
# A long mutation-fuzzing campaign over every loader (docs/RELIABILITY.md):
#   scripts/fuzz.sh [ITERATIONS per target] [SEED] [TARGET...]
# Needs the test classes built (./test.sh or mvn test-compile). Failures are saved in target/fuzz-campaign.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/jdk.sh"
cd "$root/gsa4j-core"
iters="${1:-20000}"; seed="${2:-1}"; shift $(( $# > 2 ? 2 : $# )) || true
cp=target/classes:target/test-classes:$(mvn -B -q -o dependency:build-classpath -Dmdep.outputFile=/dev/stdout -Dmdep.includeScope=test)
exec java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xss8m -Xmx8g -cp "$cp" \
  org.gsa4j.reliability.FuzzCampaign "$iters" "$seed" target/fuzz-campaign "$@"
