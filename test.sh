#!/usr/bin/env bash
# Runs the whole gsa4j test suite (every module) with a JDK >= 25.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$root/scripts/jdk.sh"
cd "$root"
exec mvn -B test "$@"
