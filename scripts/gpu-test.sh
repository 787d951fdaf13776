#!/usr/bin/env bash
# Runs gsa4j-cuda's GPU tests (JUnit tag "gpu") on a machine with an NVIDIA GPU and no Java, from the bundle that
# scripts/gpu-bundle.sh made (.device/bundle). Run from the repository root (the conformance tests read reference
# vectors from the tree).
#   scripts/gpu-test.sh                                   every gpu-tagged test
#   scripts/gpu-test.sh --select-class org.gsa4j.cuda.KernelGpuTest   JUnit console options pass through
#   scripts/gpu-test.sh --main org.gsa4j.cuda.CudaInfo [args]         any main class, same class path and JVM flags
# Reports (JUnit XML and the console log) go to $OUT/gpu-tests when OUT is set, else .device/reports. The last line
# says "N passed, N failed, N skipped"; the exit status is non-zero when a test failed or none passed.
# GSA4J_JAVA_OPTS adds JVM options (e.g. -Xmx64g).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bundle="$root/.device/bundle"
if [ ! -f "$bundle/jre.tar.xz" ]; then
  echo "gpu-test: no bundle at $bundle: run scripts/gpu-bundle.sh on a machine with JDK 25 and Maven first" >&2
  exit 2
fi

# The runtime, unpacked once per bundle into /tmp.
stamp=$(cksum < "$bundle/jre.tar.xz" | cut -d' ' -f1)
jre="/tmp/gsa4j-jre-$stamp"
if [ ! -x "$jre/jre/bin/java" ]; then
  part=$(mktemp -d "/tmp/gsa4j-jre-$stamp.XXXXXX")
  if command -v xz >/dev/null 2>&1; then
    xz -dc "$bundle/jre.tar.xz" | tar -C "$part" -xf - || exit 2
  else
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' \
      "$bundle/jre.tar.xz" "$part" || exit 2
  fi
  rm -rf "$jre"
  mv "$part" "$jre" 2>/dev/null || { rm -rf "$part"; }   # another run may have won the race: use its copy
fi
java="$jre/jre/bin/java"
classpath=$(ls "$bundle"/lib/*.jar | grep -v junit-platform-console-standalone | paste -sd: -)
console=$(ls "$bundle"/lib/junit-platform-console-standalone-*.jar)
# the root pom's jvm.args, as the Maven build runs tests
jvm_flags=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xss8m ${GSA4J_JAVA_OPTS:-})
cd "$root"

if [ "${1:-}" = "--main" ]; then
  shift
  [ $# -ge 1 ] || { echo "gpu-test: --main needs a class name" >&2; exit 2; }
  exec "$java" "${jvm_flags[@]}" -cp "$classpath" "$@"
fi

reports="${OUT:+$OUT/gpu-tests}"
reports="${reports:-$root/.device/reports}"
mkdir -p "$reports"
selection=(--scan-class-path "$(ls "$bundle"/lib/gsa4j-cuda-*-tests.jar)")
tags=(--include-tag gpu)
for arg in "$@"; do
  case "$arg" in
    --select*|--scan-class-path*|--scan-classpath*|-c|-m|-p|-d|-f|-u|-r|-o) selection=() ;;
    --include-tag*|--exclude-tag*|-t|-T) tags=() ;;
  esac
done
"$java" "${jvm_flags[@]}" -jar "$console" execute --disable-banner --disable-ansi-colors --details=tree --fail-if-no-tests \
  --class-path "$classpath" "${selection[@]}" "${tags[@]}" --reports-dir "$reports" "$@" 2>&1 | tee "$reports/console.log"
status=${PIPESTATUS[0]}

count() { sed -n "s/^\[ *\([0-9]*\) $1 *\]\$/\1/p" "$reports/console.log" | tail -n1; }
passed=$(count 'tests successful'); failed=$(count 'tests failed')
skipped=$(( $(count 'tests skipped') + $(count 'tests aborted') ))
classes_skipped=$(count 'containers aborted')
extra=""
if [ "${classes_skipped:-0}" -gt 0 ]; then extra=" ($classes_skipped test classes skipped as a whole: see the log)"; fi
echo "${passed:-0} passed, ${failed:-0} failed, ${skipped} skipped$extra"
if [ "$status" -eq 0 ] && [ "${passed:-0}" -eq 0 ]; then
  echo "gpu-test: no test passed (is a GPU visible here? the skip reasons are in the log above)" >&2
  status=3
fi
exit "$status"
