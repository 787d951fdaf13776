#!/usr/bin/env bash
# Packs what the GPU machine needs to run gsa4j-cuda's tests and programs; it has no Java of its own.
#   .device/bundle/jre.tar.xz   a slim runtime of JDK 25 made by jlink (the modules jdeps finds, plus the Vector API)
#   .device/bundle/lib/*.jar    gsa4j-core, gsa4j-cuda and its test classes, Jackson, the JUnit console launcher
#                               (not the core's other libraries: DJL's tokenizers with their native libraries for
#                               every platform, JFreeChart; GPU code that needs them must add them here)
# The folder is git-ignored; send it along with the working tree and run scripts/gpu-test.sh there.
# On the team's shared build machine, run it through the CPU lock: /work/tools/cpu scripts/gpu-bundle.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$root/scripts/jdk.sh"
cd "$root"

junit_platform=1.14.1          # the platform of JUnit Jupiter 5.14.1 (the root pom's junit.version)
dependency_plugin=org.apache.maven.plugins:maven-dependency-plugin:3.8.1
bundle="$root/.device/bundle"
rm -rf "$bundle"
mkdir -p "$bundle/lib"

# The jars: one reactor build, so that gsa4j-core resolves to the jar just built (nothing is installed).
mvn -B -q -DskipTests package "$dependency_plugin:copy-dependencies" -pl gsa4j-cuda -am \
    -DincludeScope=runtime -DincludeGroupIds=org.gsa4j,com.fasterxml.jackson.core -DoutputDirectory="$bundle/lib"
version=$(sed -n 's:.*<version>\(.*\)</version>.*:\1:p' gsa4j-cuda/pom.xml | head -n1)
cp "gsa4j-cuda/target/gsa4j-cuda-$version.jar" "$bundle/lib/"
cp "gsa4j-cuda/target/gsa4j-cuda-$version-tests.jar" "$bundle/lib/"
mvn -B -q "$dependency_plugin:copy" \
    -Dartifact="org.junit.platform:junit-platform-console-standalone:$junit_platform" -DoutputDirectory="$bundle/lib"

# The runtime: the modules the jars use (jdeps), the Vector API, and what JUnit needs (logging, the jar file system). Not java.desktop, which only
# the core's plots use (through JFreeChart, which is not bundled): it would add 6 MB.
modules=$("$JAVA_HOME/bin/jdeps" --ignore-missing-deps --print-module-deps --multi-release 25 \
    "$bundle"/lib/*.jar 2>/dev/null | tail -n1)
case "$modules" in java.base*) ;; *) echo "gpu-bundle: jdeps found no module list: '$modules'" >&2; exit 1 ;; esac
modules=$(echo "$modules,jdk.incubator.vector,java.logging,jdk.zipfs" | tr , '\n' | grep -vx java.desktop | sort -u | paste -sd, -)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$JAVA_HOME/bin/jlink" --add-modules "$modules" --strip-debug --no-man-pages --no-header-files \
    --output "$work/jre"
tar -C "$work" -cf - jre | xz -6 -T0 > "$bundle/jre.tar.xz"
echo "$modules" > "$bundle/modules.txt"

echo "gpu bundle: $(du -sh "$bundle" | cut -f1) in $bundle (modules: $modules)"
ls -l "$bundle" "$bundle/lib" | awk 'NF > 5 {print "  " $5 "\t" $NF}'
