#!/usr/bin/env bash
# Runs the whole gsa4j test suite (every module) with a JDK >= 25 (Maven, or the Maven Wrapper without it).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$root/scripts/jdk.sh"
cd "$root"
exec "$(gsa4j_maven)" -B test "$@"
