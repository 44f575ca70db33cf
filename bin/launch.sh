#!/usr/bin/env bash
# Shared by bin/diglett and bin/diglett-server: runs a module's shaded jar, building it on first use.
# Usage (from the launchers): launch.sh MODULE MAIN_CLASS [ARGS...]
# DIGLETT_JAVA_OPTS replaces the JVM options below; DIGLETT_CLASSPATH adds jars (plug-ins found with
# ServiceLoader, such as an authenticator).
set -euo pipefail
module=$1
main=$2
shift 2
here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
root=$(cd "$here/.." && pwd)
jar="$root/$module/target/$module-all.jar"
if [ ! -f "$jar" ]; then
  echo "building $module (first run)..." >&2
  log=$(mktemp)
  if ! (cd "$root" && mvn -B -q -DskipTests package -pl "$module" -am) >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "build failed" >&2
    exit 1
  fi
  rm -f "$log"
fi
# Small heap: a tunnel's buffers are direct memory bounded by its windows, not heap.
# shellcheck disable=SC2086
exec java ${DIGLETT_JAVA_OPTS:--Xms32m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1} \
  -cp "$jar${DIGLETT_CLASSPATH:+:$DIGLETT_CLASSPATH}" "$main" "$@"
