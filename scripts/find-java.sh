# Sourced by ./internlmj, ./run-tests and .ci/run: finds a JDK >= 25 and exports JAVA_HOME and JAVA.
# Order: $JAVA_HOME, then every JDK under /usr/lib/jvm and /opt (newest first), then `java` on PATH.
# Exits with a message naming what was found when there is none.

internlmj_java_version() { # prints the feature version of the java binary $1 (e.g. 25), or nothing
  "$1" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = \([0-9][0-9]*\).*/\1/p' | head -n 1
}

internlmj_find_java() {
  local need=25 candidates=() seen="" c v
  [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME")
  for c in $(ls -d /usr/lib/jvm/*/ /opt/*jdk*/ /opt/java/*/ 2>/dev/null | sort -rV); do candidates+=("${c%/}"); done
  if command -v java >/dev/null 2>&1; then
    candidates+=("$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")")
  fi
  for c in "${candidates[@]}"; do
    [ -x "$c/bin/java" ] || continue
    v=$(internlmj_java_version "$c/bin/java")
    seen="$seen $c(${v:-?})"
    if [ -n "$v" ] && [ "$v" -ge "$need" ]; then
      export JAVA_HOME="$c" JAVA="$c/bin/java"
      return 0
    fi
  done
  echo "error: InternLM-J needs a JDK >= $need (FFM and the Vector API); found:${seen:- none}." >&2
  echo "       Install one (e.g. Temurin 25 from https://adoptium.net) and set JAVA_HOME to it." >&2
  return 1
}

internlmj_find_java || exit 1
