#!/usr/bin/env bash
# Builds the distribution internlmj-<version>.tar.gz: a Java runtime made by jlink with only the JDK
# modules the jars need (as jdeps finds them), the jars, bin/internlmj, configs/ and the README. It runs
# on Linux x86-64 with no JDK installed.
#
#   scripts/dist.sh                 builds the project with Maven (tests skipped) and prints the tarball's path
#   scripts/dist.sh --assemble --lib DIR --version V --out DIR
#                                   assembles from the jars in DIR (what the Maven build of distribution/ calls)
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)

if [ "${1:-}" != "--assemble" ]; then
  source "$root/scripts/find-java.sh"
  (cd "$root" && mvn -B -q -ntp -DskipTests package -pl distribution -am) >&2
  ls "$root"/distribution/target/internlmj-*.tar.gz
  exit 0
fi
shift
lib="" version="" out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --lib) lib=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "dist.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$lib" ] && [ -n "$version" ] && [ -n "$out" ] || { echo "dist.sh --assemble needs --lib, --version and --out" >&2; exit 2; }
source "$root/scripts/find-java.sh"
for tool in jdeps jlink; do
  [ -x "$JAVA_HOME/bin/$tool" ] || { echo "error: $JAVA_HOME/bin/$tool is missing: a full JDK is needed to build the distribution" >&2; exit 1; }
done

name="internlmj-$version"
stage="$out/$name"
rm -rf "$stage" "$out/$name.tar.gz"
mkdir -p "$stage/bin" "$stage/lib" "$stage/configs"
cp "$lib"/*.jar "$stage/lib/"

# The JDK modules the jars use. jdeps reads the classes of all jars unpacked into one folder: given the
# jars themselves, it resolves the modular ones as modules and stops at a module one of them names but
# the build leaves out (commons-compress requires commons-lang3, which DJL excludes). It sees static
# references only; what is reached by reflection or a service lookup alone is added by hand:
# jdk.crypto.ec (TLS, should a tokenizer be fetched), jdk.zipfs (zip file systems), jdk.management (the
# JVM's OperatingSystemMXBean).
classes=$(mktemp -d)
trap 'rm -rf "$classes"' EXIT
for jar in "$stage"/lib/*.jar; do
  (cd "$classes" && "$JAVA_HOME/bin/jar" xf "$jar")
done
rm -rf "$classes/META-INF/versions"
find "$classes" -name module-info.class -delete
modules=$("$JAVA_HOME/bin/jdeps" --ignore-missing-deps --print-module-deps "$classes")
modules=$(echo "$modules,jdk.incubator.vector,jdk.crypto.ec,jdk.zipfs,jdk.management" | tr ',' '\n' | sort -u | paste -sd, -)
echo "dist.sh: runtime modules: $modules" >&2
"$JAVA_HOME/bin/jlink" --add-modules "$modules" --output "$stage/runtime" \
  --strip-debug --no-man-pages --no-header-files --compress zip-6

cp "$root/distribution/src/bin/internlmj" "$stage/bin/internlmj"
cp "$root/scripts/find-cuda.sh" "$stage/bin/find-cuda.sh"
chmod +x "$stage/bin/internlmj"
cp "$root"/configs/*.yaml "$stage/configs/"
cp "$root/README.md" "$stage/README.md"
cp -r "$root/docs" "$stage/docs"
echo "$version" > "$stage/VERSION"

tar -C "$out" -czf "$out/$name.tar.gz" "$name"
echo "dist.sh: $out/$name.tar.gz ($(du -h "$out/$name.tar.gz" | cut -f1))" >&2
