#!/usr/bin/env bash
# Shared by bin/diglett and bin/diglett-server: runs a module's shaded jar, building it when it is missing or stale.
# Usage (from the launchers): launch.sh MODULE MAIN_CLASS [ARGS...]
# DIGLETT_JAVA_OPTS replaces the JVM options below; DIGLETT_CLASSPATH adds jars (plug-ins found with
# ServiceLoader, such as an authenticator).
set -euo pipefail
module=$1
main=$2
shift 2
# Start-up counts (each command this script runs took 7-10 ms on a 2-core virtual machine, 0.13 s in all
# before a JVM started): what bash can do itself, it does (parameter expansion for dirname, a read loop for
# the pom, PATH searched in a loop, the JDK found by comparing files, its version read from its release file,
# the archive's checksum in arithmetic; bin/diglett and bin/diglett-server source this file instead of starting
# a second bash); what runs on every start is find (in a checkout with sources).
# The checkout is the directory above this script's: taken from the path it was run by when that path is plain
# (absolute or made so, a leading ./ dropped, no "." or ".." parts, neither the script nor its directory a
# symbolic link, the module there), else from readlink -f.
self=${BASH_SOURCE[0]}
case $self in /*) ;; *) self=$PWD/${self#./} ;; esac
here=${self%/*}
root=${here%/*}
case $self in
  */./*|*/../*|*//*) plain=0 ;;
  *) plain=1; if [ -L "$self" ] || [ -L "$here" ] || ! [ -d "$root/$module" ]; then plain=0; fi ;;
esac
if [ "$plain" = 0 ]; then
  self=$(readlink -f "${BASH_SOURCE[0]}")
  here=${self%/*}
  root=${here%/*}
fi
jar="$root/$module/target/$module-all.jar"
# The jar is built on first use, and again when a source or pom it is made from (the module's, or one of
# the diglett modules its pom depends on outside test scope) is newer than it: after a git pull or an edit, a
# checkout does not run code older than itself. One build at a time per checkout (flock): a second launcher
# waits and then finds the jar fresh. A stale jar that cannot be rebuilt here (no mvn, a read-only install, a
# failed build) runs with a warning.
main_deps() {  # sets deps: the diglett modules the module's pom depends on, test scope left out
  local line artifact="" test=0
  deps=()
  [ -f "$root/$module/pom.xml" ] || return 0
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
      *"<dependency>"*) artifact=""; test=0 ;;
      *"<artifactId>diglett-"*) artifact=${line#*<artifactId>}; artifact=${artifact%%</artifactId>*} ;;
      *"<scope>test</scope>"*) test=1 ;;
      *"</dependency>"*)
        if [ -n "$artifact" ] && [ "$test" = 0 ]; then deps+=("$artifact"); fi
        artifact="" ;;
    esac
  done < "$root/$module/pom.xml"
}
why_build() {  # sets reason: why the jar must be built (the first pom or main source newer than it), or ""
  reason=""
  if [ ! -f "$jar" ]; then
    reason="first run"
    return
  fi
  local dirs=("$root/pom.xml" "$root/$module") dep newer
  main_deps
  for dep in ${deps[@]+"${deps[@]}"}; do
    [ -d "$root/$dep" ] && dirs+=("$root/$dep")
  done
  newer=$(find "${dirs[@]}" \( -name target -o -name '.*' \) -prune -o -type f \( -name pom.xml -o -path '*/src/main/*' \) \
    -newer "$jar" -print -quit 2>/dev/null || true)
  [ -z "$newer" ] || reason="${newer#"$root"/} is newer than the jar"
}
build() {  # returns non-zero (after printing Maven's output) when the build fails
  echo "building $module ($1)..." >&2
  # Maven rewrites a jar in place; a JVM still running from it (the other program, after a git pull) would
  # read garbage when it loads its next class. Each jar gets a fresh inode first; running JVMs keep the old.
  local j log
  for j in "$root"/*/target/*-all.jar; do
    if [ -f "$j" ]; then cp -p "$j" "$j.tmp" && mv -f "$j.tmp" "$j"; fi
  done
  log=$(mktemp)
  if ! (cd "$root" && mvn -B -q -DskipTests package -pl "$module" -am) >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
  # A build whose output did not change leaves the jar's time alone (the shade plugin skips equal bytes):
  # mark it fresh, or every start would build again.
  touch "$jar"
}
why_build
if [ -n "$reason" ]; then
  if command -v mvn >/dev/null 2>&1 && [ -w "$root" ] && [ -w "$root/$module" ]; then
    if command -v flock >/dev/null 2>&1 && exec 9>>"$root/.launcher-build.lock"; then
      flock 9 || true
      why_build  # another launcher may have built it while this one waited
    fi
    if [ -n "$reason" ] && ! build "$reason"; then
      [ -f "$jar" ] || { echo "build failed" >&2; exit 1; }
      echo "warning: the build failed; running the jar built before (older than the sources)" >&2
    fi
    exec 9>&-  # the JVM must not inherit the lock
  elif [ -f "$jar" ]; then
    echo "warning: $jar is older than its sources ($reason); rebuild it with 'mvn -B package -DskipTests'" \
      "in $root" >&2
  else
    echo "$jar is missing and cannot be built here (needs mvn and a writable $root)" >&2
    exit 1
  fi
fi
# Small heap: a tunnel's buffers are pooled direct memory bounded by its windows, not heap. Serial GC: the
# least memory and threads; C2 (the default tiered compiler) for throughput. The native heap is trimmed every
# 2 s (JDK 17.0.9 and later; the first of those call the option experimental, hence the unlock; older JDKs
# ignore it), and glibc keeps two malloc arenas instead of one per thread: freed native memory goes back to
# the system (resident memory at 1,000 connections after a bulk transfer, gateway and agent: 8-10 MB less at
# the peak, 13-22 MB less afterwards).
opts=${DIGLETT_JAVA_OPTS:--Xms32m -Xmx256m -XX:+UseSerialGC -XX:+IgnoreUnrecognizedVMOptions -XX:+UnlockExperimentalVMOptions -XX:TrimNativeHeapInterval=2000}
export MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX:-2}
# Class-data sharing for start-up: a run that gets to work (the gateway listening, the agent online) leaves an
# archive of the classes it loaded next to the jar, and later starts map it instead of loading and verifying
# those classes again. The JVM writes the archive at exit (SIGTERM included) to JAR.CHECKSUM.jsa.PID.partial,
# and the list of the classes it loaded to JAR.CHECKSUM.jsa.PID.classes; the program creates
# JAR.CHECKSUM.jsa.PID.ok once it works, and the next start moves a partial archive whose JVM has exited and
# whose run got that far into place, its class list too. A run that stopped early (a typo, a gateway that was
# down, a refused login) loaded too few classes to be worth an archive: its files are removed instead.
# That archive is the JVM's dynamic kind, which JDK 17 cannot fill with class files older than Java 6
# (picocli's): the start that first maps it also makes, from the class list, a static archive that holds them
# too (JAR.CHECKSUM.static.jsa; `java -Xshare:dump`, about 3 s of CPU, in the background at the lowest
# priority), and the starts after it map that one instead (0.05 s sooner to the first request).
# The JVM silently ignores an archive made for another jar path, another JDK or other options, so the name
# carries a checksum of those: a moved jar, an upgraded JDK or other DIGLETT_JAVA_OPTS get an archive of their
# own, and a rebuilt jar makes every older archive stale (removed when the next one is made). Making one is
# best effort: any failure just runs without. DIGLETT_CDS=0 turns it off.
cds=()
checksum() {  # sets sum: FNV-1a (32 bits) of $1's characters, in decimal
  local i c
  sum=2166136261
  for ((i = 0; i < ${#1}; i++)); do
    printf -v c '%d' "'${1:i:1}"
    sum=$(( ((sum ^ c) * 16777619) & 0xFFFFFFFF ))
  done
}
# The java that runs (`command -v java`, without a subshell), and the JDK it belongs to: one of the JDKs in
# /usr/lib/jvm when it is the same file (Debian's alternatives link /usr/bin/java to one of them; a directory
# there that is a symbolic link, such as java-1.17.0-openjdk-amd64, is another name for one of the others), else
# wherever readlink -f says it is.
java_bin=
IFS=: read -r -a path_dirs <<< "$PATH"
for dir in ${path_dirs[@]+"${path_dirs[@]}"}; do
  [ "${DIGLETT_CDS:-1}" != 0 ] || break  # only the archive's name needs it
  if [ -x "${dir:-.}/java" ] && [ ! -d "${dir:-.}/java" ]; then
    for candidate in /usr/lib/jvm/*/bin/java; do
      [ ! -L "${candidate%/bin/java}" ] || continue
      if [ "${dir:-.}/java" -ef "$candidate" ]; then
        java_bin=$candidate
        break
      fi
    done
    [ -n "$java_bin" ] || java_bin=$(readlink -f "${dir:-.}/java" 2>/dev/null || true)
    break
  fi
done
# The JDK's build, which the JVM checks an archive against: its release file (versions, vendor, build; Debian's
# JAVA_RUNTIME_VERSION carries the package's revision) but for its long list of modules, or without one the
# modification time of its libjvm.so. A JDK rebuilt without a new version shows in libjvm.so being newer than an
# archive (fresh, below), unless its package kept an older time.
libjvm=
jdk_build() {  # sets build and libjvm
  local line
  build=
  libjvm="${java_bin%/*}/../lib/server/libjvm.so"
  [ -f "$libjvm" ] || libjvm=$java_bin
  if [ -f "${java_bin%/*}/../release" ]; then
    while IFS= read -r line || [ -n "$line" ]; do
      case "$line" in MODULES=*) ;; *) build+="$line;" ;; esac
    done < "${java_bin%/*}/../release"
  fi
  if [ -z "$build" ]; then
    build="modified $(stat -c %Y "$libjvm" 2>/dev/null || echo unknown)"
  fi
}
running() { kill -0 "$1" 2>/dev/null || [ -e "/proc/$1" ]; }
if [ "${DIGLETT_CDS:-1}" != 0 ] && [ -z "${DIGLETT_CLASSPATH:-}" ] && [ -n "$java_bin" ]; then
  quick=0
  for arg in "$@"; do
    case "$arg" in -h|--help|-V|--version|generate-completion|gen-manpage) quick=1 ;; esac
  done
  # The JVM refuses to write an archive with a JVMTI agent loaded (a profiler, say): run without one.
  case " $opts " in *" -agentpath:"*|*" -agentlib:"*|*" -javaagent:"*) quick=1 ;; esac
  jdk_build
  checksum "jar=$jar java=$java_bin jvm=$build opts=$opts"
  jsa="$jar.$sum.jsa"
  static="$jar.$sum.static.jsa"
  fresh() { [ -f "$1" ] && [ "$1" -nt "$jar" ] && ! [ "$libjvm" -nt "$1" ]; }
  # What runs that have exited left (RUN.partial, RUN.ok, RUN.classes; RUN is JAR.CHECKSUM.jsa.PID, or
  # JAR.CHECKSUM.static.jsa.PID for a static archive being made): this configuration's partial archive and its
  # class list go into place if its run got to work and the jar has not changed since; the rest is removed,
  # except another configuration's archive that its own next start will want.
  if [ -w "${jar%/*}" ]; then
    for left in "$jar".*.jsa.*.partial "$jar".*.jsa.*.ok "$jar".*.jsa.*.classes; do
      run=${left%.*}
      if ! [ -f "$left" ] || running "${run##*.}"; then continue; fi
      usable=0
      if [ -f "$run.partial" ] && [ -f "$run.ok" ] && [ "$run.partial" -nt "$jar" ]; then usable=1; fi
      if [ "${run%.*}" = "$jsa" ]; then
        if [ "$usable" = 1 ] && ! fresh "$jsa"; then
          # the class list first: a start running beside this one that finds the archive moved removes the rest
          mv -f "$run.classes" "$jsa.classes" 2>/dev/null || true
          mv -f "$run.partial" "$jsa" 2>/dev/null || true
        fi
        rm -f "$run.partial" "$run.ok" "$run.classes" 2>/dev/null || true
      elif [ "${run%.*}" = "$static" ]; then  # killed while making the static archive: the next start retries
        if [ -f "$run.classes" ] && fresh "$run.classes"; then
          mv -f "$run.classes" "$jsa.classes" 2>/dev/null || true
        fi
        rm -f "$run.partial" "$run.classes" 2>/dev/null || true
      elif [ "$usable" = 0 ]; then
        rm -f "$run.partial" "$run.ok" "$run.classes" 2>/dev/null || true
      fi
    done
  fi
  if fresh "$static"; then
    cds=(-XX:SharedArchiveFile="$static" -Xlog:cds=off -Xlog:cds+dynamic=off)
    # no longer mapped by new starts (tested first: an rm on every start cost 8 ms)
    if [ -w "${jar%/*}" ] && { [ -e "$jsa" ] || [ -e "$jsa.classes" ]; }; then
      rm -f "$jsa" "$jsa.classes" 2>/dev/null || true
    fi
  elif fresh "$jsa"; then
    cds=(-XX:SharedArchiveFile="$jsa" -Xlog:cds=off -Xlog:cds+dynamic=off)
    # The static archive, once: the first start to claim the class list (mv is atomic) makes it, in a
    # subshell of its own process group (set -m) that outlives this start's Ctrl-C and hangup and holds no
    # lock or terminal, forked twice so that init reaps it, not the JVM this start becomes; its pid names its
    # files, so a later start leaves them alone while it runs, and if it was killed, puts the class list back
    # for the next start to try again. A jar rebuilt meanwhile gets no archive made from the old one.
    if [ "$quick" = 0 ] && [ -w "${jar%/*}" ] && [ -f "$jsa.classes" ]; then
      set -m
      ( (
        trap '' INT HUP
        exec 9>&- </dev/null >/dev/null 2>&1
        part="$static.$BASHPID"
        if mv "$jsa.classes" "$part.classes"; then
          made_from=$(stat -c '%i %Y %s' "$jar")
          if nice -n 19 java $opts -Xshare:dump -XX:SharedClassListFile="$part.classes" \
              -XX:SharedArchiveFile="$part.partial" -Xlog:cds=off -Xlog:cds+dynamic=off -cp "$jar" &&
              [ "$(stat -c '%i %Y %s' "$jar")" = "$made_from" ]; then
            rm -f "$part.classes"  # before the archive appears: whoever sees it finds no list left
            mv -f "$part.partial" "$static"
          fi
          rm -f "$part.partial" "$part.classes"
        fi
      ) & ) &
      wait "$!" || true
      set +m
    fi
  elif [ "$quick" = 0 ] && [ -w "${jar%/*}" ]; then
    for old in "$jar".*.jsa "$jar".*.jsa.classes; do
      if [ -f "$old" ] && ! [ "$old" -nt "$jar" ]; then rm -f "$old" 2>/dev/null || true; fi
    done
    rm -f "$jar.jsa" "$jar.jsa.key" 2>/dev/null || true  # this launcher's older naming
    # exec keeps this shell's pid: the JVM's
    cds=(-XX:ArchiveClassesAtExit="$jsa.$$.partial" -XX:DumpLoadedClassList="$jsa.$$.classes"
      -Ddiglett.cds.marker="$jsa.$$.ok" -Xlog:cds=off -Xlog:cds+dynamic=off)
  fi
fi
# shellcheck disable=SC2086
exec java $opts "${cds[@]}" \
  -cp "$jar${DIGLETT_CLASSPATH:+:$DIGLETT_CLASSPATH}" "$main" "$@"
