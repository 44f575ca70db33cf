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
# Class-data sharing for start-up: the first run that does real work writes an archive of the classes it
# loaded next to the jar (at exit, SIGTERM included); later runs map it instead of loading and verifying
# those classes again. A rebuilt jar makes the archive stale, so it is made again. DIGLETT_CDS=0 turns it off.
cds=()
jsa="$jar.jsa"
if [ "${DIGLETT_CDS:-1}" != 0 ] && [ -z "${DIGLETT_CLASSPATH:-}" ]; then
  quick=0
  for arg in "$@"; do
    case "$arg" in -h|--help|-V|--version|generate-completion|gen-manpage) quick=1 ;; esac
  done
  if [ -f "$jsa" ] && [ "$jsa" -nt "$jar" ]; then
    cds=(-XX:SharedArchiveFile="$jsa" -Xlog:cds=off -Xlog:cds+dynamic=off)
  elif [ "$quick" = 0 ] && [ -w "$(dirname "$jar")" ]; then
    rm -f "$jsa"
    cds=(-XX:ArchiveClassesAtExit="$jsa" -Xlog:cds=off -Xlog:cds+dynamic=off)
  fi
fi
# Small heap: a tunnel's buffers are pooled direct memory bounded by its windows, not heap. Serial GC: the
# least memory and threads; C2 (the default tiered compiler) for throughput.
# shellcheck disable=SC2086
exec java ${DIGLETT_JAVA_OPTS:--Xms32m -Xmx256m -XX:+UseSerialGC} "${cds[@]}" \
  -cp "$jar${DIGLETT_CLASSPATH:+:$DIGLETT_CLASSPATH}" "$main" "$@"
