# Sourced by ./gsa4j and ./test.sh: exports JAVA_HOME pointing at a JDK >= 25, or exits with a message;
# defines gsa4j_maven, which prints the Maven to build with.
# JDK order: $JAVA_HOME if it is >= 25, then /usr/lib/jvm/*25* (and newer), then `java` on the PATH.
gsa4j_java_major() {
  "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p' | head -n1
}
gsa4j_find_jdk() {
  local cand major
  for cand in "${JAVA_HOME:-}" /usr/lib/jvm/*25* /usr/lib/jvm/*-2[6-9]* /usr/lib/jvm/*-[3-9][0-9]* \
              "$(dirname "$(dirname "$(readlink -f "$(command -v java 2>/dev/null || echo /nonexistent)")")")"; do
    [ -n "$cand" ] && [ -x "$cand/bin/java" ] && [ -x "$cand/bin/javac" ] || continue
    major=$(gsa4j_java_major "$cand")
    case "$major" in ''|1.*) continue ;; esac
    if [ "$major" -ge 25 ] 2>/dev/null; then export JAVA_HOME="$cand"; return 0; fi
  done
  echo "gsa4j: needs a JDK 25 or newer (found none in JAVA_HOME, /usr/lib/jvm or on the PATH)." >&2
  echo "       Install one (e.g. Temurin 25) and set JAVA_HOME to it." >&2
  exit 1
}
gsa4j_find_jdk
# Maven on the PATH when there is one, else the Maven Wrapper beside this folder (it downloads the Maven
# version pinned in .mvn/wrapper/maven-wrapper.properties once, into ~/.m2/wrapper): only a JDK is needed.
gsa4j_maven() {
  if command -v mvn >/dev/null 2>&1; then echo mvn; else echo "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/mvnw"; fi
}
