#!/usr/bin/env bash
# Bring our own Apache Kafka broker: one combined KRaft node (broker + controller)
# on 127.0.0.1, from the jars Maven Central serves. No Docker, no distribution tarball.
#
#   scripts/kafka.sh fetch
#       Resolve org.apache.kafka:kafka_2.13 and its runtime jars into the cache
#       (scripts/kafka/pom.xml + mvn). A second run needs no network.
#   scripts/kafka.sh start [--port P] [--controller-port C] [--dir D]
#       Write D/server.properties, format D/logs once, start the broker in the
#       background (pid in D/broker.pid, output in D/broker.log), wait until a
#       client can list topics, print `bootstrap=127.0.0.1:P`.
#   scripts/kafka.sh stop [--dir D]
#       Stop the broker started with `start` (SIGTERM, then SIGKILL after a bound).
#   scripts/kafka.sh run [--port P] [--controller-port C] [--dir D]
#       Like start, but exec the broker in the foreground (the caller owns the
#       pid; tests/support/kafka.py uses this). Does not wait for readiness.
#   scripts/kafka.sh lib
#       Print the folder holding the jars.
#
# Environment:
#   GOVEX_KAFKA_VERSION        Kafka version (default 4.4.0, the newest 4.x on Maven Central
#                              when chosen; list them: mvn versions:display-dependency-updates
#                              -f scripts/kafka/pom.xml)
#   GOVEX_KAFKA_HOME           cache folder (default ~/.cache/govex/kafka-<version>)
#   GOVEX_KAFKA_START_TIMEOUT  seconds `start` waits for readiness (default 90)
#   JAVA, MVN, PYTHON          commands to use (default java, mvn, python3)
set -euo pipefail

KAFKA_VERSION="${GOVEX_KAFKA_VERSION:-4.4.0}"
KAFKA_HOME="${GOVEX_KAFKA_HOME:-${HOME}/.cache/govex/kafka-${KAFKA_VERSION}}"
LIB_DIR="${KAFKA_HOME}/lib"
MARKER="${LIB_DIR}/.govex-complete"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
POM="${SCRIPT_DIR}/kafka/pom.xml"
JAVA="${JAVA:-java}"
MVN="${MVN:-mvn}"
PYTHON="${PYTHON:-python3}"
START_TIMEOUT="${GOVEX_KAFKA_START_TIMEOUT:-90}"

PORT=9092
CONTROLLER_PORT=9093
DIR="${TMPDIR:-/tmp}/govex-kafka"

die() {
    echo "kafka.sh: $*" >&2
    exit 1
}

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

parse_options() {
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --port) PORT="${2:?--port needs a value}"; shift 2 ;;
            --controller-port) CONTROLLER_PORT="${2:?--controller-port needs a value}"; shift 2 ;;
            --dir) DIR="${2:?--dir needs a value}"; shift 2 ;;
            *) die "unknown option: $1 (see: scripts/kafka.sh help)" ;;
        esac
    done
    [[ "$PORT" =~ ^[0-9]+$ ]] || die "--port must be a number, got: $PORT"
    [[ "$CONTROLLER_PORT" =~ ^[0-9]+$ ]] || die "--controller-port must be a number, got: $CONTROLLER_PORT"
    [[ "$PORT" != "$CONTROLLER_PORT" ]] || die "--port and --controller-port must differ"
    mkdir -p "$DIR"
    DIR="$(cd "$DIR" && pwd)"
}

# The lib folder is complete when every jar the marker lists is there.
lib_complete() {
    [[ -f "$MARKER" ]] || return 1
    local jar
    while IFS= read -r jar; do
        [[ -f "${LIB_DIR}/${jar}" ]] || return 1
    done <"$MARKER"
}

cmd_fetch() {
    if lib_complete; then
        echo "kafka ${KAFKA_VERSION}: jars cached in ${LIB_DIR}"
        return 0
    fi
    command -v "$MVN" >/dev/null || die "mvn not found: install Maven (Debian: apt-get install maven)"
    local tmp="${LIB_DIR}.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$(dirname "$LIB_DIR")"
    echo "kafka ${KAFKA_VERSION}: resolving jars from Maven Central into ${LIB_DIR}"
    if ! "$MVN" -B -q -Dstyle.color=never -f "$POM" -Dkafka.version="$KAFKA_VERSION" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp"; then
        rm -rf "$tmp"
        die "mvn could not resolve org.apache.kafka:kafka_2.13:${KAFKA_VERSION}"
    fi
    # Check what the broker needs before declaring the cache complete.
    [[ -f "${tmp}/kafka_2.13-${KAFKA_VERSION}.jar" ]] || die "kafka_2.13-${KAFKA_VERSION}.jar missing after mvn"
    compgen -G "${tmp}/log4j-slf4j-impl-*.jar" >/dev/null \
        || die "no slf4j binding (log4j-slf4j-impl) resolved: the broker would log nothing"
    (cd "$tmp" && ls -1 -- *.jar) >"${tmp}/.govex-complete"
    rm -rf "$LIB_DIR"
    mv "$tmp" "$LIB_DIR"
    echo "kafka ${KAFKA_VERSION}: $(wc -l <"$MARKER") jars in ${LIB_DIR}"
}

# A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (22 chars),
# not starting with '-' (as org.apache.kafka.common.Uuid.randomUuid avoids).
cluster_id() {
    local id
    while :; do
        id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
        [[ "$id" == -* ]] || break
    done
    echo "$id"
}

write_config() {
    cat >"${DIR}/server.properties" <<EOF
# One combined KRaft node on loopback, written by scripts/kafka.sh.
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:${PORT},CONTROLLER://127.0.0.1:${CONTROLLER_PORT}
advertised.listeners=PLAINTEXT://127.0.0.1:${PORT}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
controller.quorum.bootstrap.servers=127.0.0.1:${CONTROLLER_PORT}
log.dirs=${DIR}/logs
num.partitions=3
auto.create.topics.enable=true
group.initial.rebalance.delay.ms=0
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# A broker killed with SIGKILL is re-admitted once its old session expires (default 9 s).
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
EOF
    # Broker output goes to stdout (D/broker.log); chatty request/state loggers stay quiet.
    cat >"${DIR}/log4j2.properties" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.state.name = state.change.logger
logger.state.level = warn
logger.clients.name = org.apache.kafka.clients
logger.clients.level = warn
EOF
}

# The JVM command line shared by the storage tool and the broker (in JAVA_CMD).
set_java_cmd() {
    JAVA_CMD=("$JAVA" -Xmx512m -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
        "-Dlog4j2.configurationFile=${DIR}/log4j2.properties" -cp "${LIB_DIR}/*")
}

# Write the config and format the storage once (a restart keeps the data).
prepare() {
    lib_complete || die "no Kafka jars in ${LIB_DIR}: run scripts/kafka.sh fetch first"
    command -v "$JAVA" >/dev/null || die "java not found: Kafka ${KAFKA_VERSION} needs Java 17+"
    write_config
    set_java_cmd
    if [[ ! -f "${DIR}/logs/meta.properties" ]]; then
        "${JAVA_CMD[@]}" kafka.tools.StorageTool format -t "$(cluster_id)" \
            -c "${DIR}/server.properties" --standalone >"${DIR}/format.log" 2>&1 \
            || { tail -n 30 "${DIR}/format.log" >&2; die "formatting ${DIR}/logs failed"; }
    fi
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

broker_alive() {
    local pid="$1"
    [[ -r "/proc/${pid}/cmdline" ]] && tr '\0' ' ' <"/proc/${pid}/cmdline" | grep -q 'kafka\.Kafka'
}

cmd_run() {
    parse_options "$@"
    prepare
    exec "${JAVA_CMD[@]}" kafka.Kafka "${DIR}/server.properties"
}

# Ask a real client (kafka-python's admin client) to list topics, within the bound.
wait_ready() {
    local pid="$1"
    "$PYTHON" - "127.0.0.1:${PORT}" "$START_TIMEOUT" "$pid" <<'EOF'
import logging, os, sys, time
from kafka import KafkaAdminClient
from kafka.errors import KafkaError

logging.disable(logging.CRITICAL)
bootstrap, timeout, pid = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
deadline = time.monotonic() + timeout
while time.monotonic() < deadline:
    try:  # a dead child that is not reaped yet keeps /proc/<pid> with an empty cmdline
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            alive = bool(f.read())
    except OSError:
        alive = False
    if not alive:
        sys.exit("broker process exited")
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            request_timeout_ms=5000,
            bootstrap_timeout_ms=2000,
            reconnect_backoff_max_ms=200,
        )
        try:
            admin.list_topics()
        finally:
            admin.close()
        sys.exit(0)
    except KafkaError:
        time.sleep(0.2)
sys.exit(f"no answer from {bootstrap} within {timeout:g}s")
EOF
}

cmd_start() {
    parse_options "$@"
    if [[ -f "${DIR}/broker.pid" ]] && broker_alive "$(cat "${DIR}/broker.pid")"; then
        die "a broker is already running from ${DIR} (pid $(cat "${DIR}/broker.pid")); run: scripts/kafka.sh stop --dir ${DIR}"
    fi
    local port
    for port in "$PORT" "$CONTROLLER_PORT"; do
        ! port_in_use "$port" || die "127.0.0.1:${port} is already in use: pick other ports (--port, --controller-port)"
    done
    prepare
    setsid "${JAVA_CMD[@]}" kafka.Kafka "${DIR}/server.properties" >"${DIR}/broker.log" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"${DIR}/broker.pid"
    if ! wait_ready "$pid" || ! broker_alive "$pid"; then
        echo "---- last lines of ${DIR}/broker.log ----" >&2
        tail -n 40 "${DIR}/broker.log" >&2 || true
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "${DIR}/broker.pid"
        die "broker on 127.0.0.1:${PORT} did not come up within ${START_TIMEOUT}s"
    fi
    echo "bootstrap=127.0.0.1:${PORT}"
}

cmd_stop() {
    parse_options "$@"
    local pidfile="${DIR}/broker.pid" pid i
    [[ -f "$pidfile" ]] || { echo "no broker pid file in ${DIR}"; return 0; }
    pid="$(cat "$pidfile")"
    if broker_alive "$pid"; then
        kill -CONT "$pid" 2>/dev/null || true # a paused broker would ignore SIGTERM
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 300; i++)); do
            broker_alive "$pid" || break
            sleep 0.1
        done
        if broker_alive "$pid"; then
            echo "broker ${pid} ignored SIGTERM for 30s: sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile"
    echo "stopped broker from ${DIR}"
}

case "${1:-help}" in
    fetch) shift; cmd_fetch "$@" ;;
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    run) shift; cmd_run "$@" ;;
    lib) echo "$LIB_DIR" ;;
    help | -h | --help) usage ;;
    *) die "unknown command: $1 (commands: fetch, start, stop, run, lib)" ;;
esac
