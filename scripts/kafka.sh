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
# A cluster, secured as a province would run it:
#   scripts/kafka.sh start --nodes 3 --port P1,P2,P3 --controller-port C1,C2,C3 --secure \
#       --user gongan=<password> --user node-a=<password> [--dir D]
#       Three combined KRaft nodes (node i in D/node-i), each with its own data. With
#       --secure: clients speak SASL_SSL with SCRAM-SHA-512 on P (a test CA made here,
#       D/tls/ca.pem, signs each node's certificate for 127.0.0.1), the controllers PLAIN
#       over SASL on C, the StandardAuthorizer refuses whoever holds no ACL, and the
#       SCRAM users (the super user `admin`, password in D/admin.password, and every
#       --user) are created when the storage is formatted. Passwords may also come one
#       `name=password` a line from --users-file F.
#   scripts/kafka.sh prepare [same options]
#       Write the config(s), the test CA and format the storage, start nothing (a test
#       then runs each node with `run --node i`).
#   scripts/kafka.sh run --node I [same options]
#       Exec node I of a cluster in the foreground.
#   scripts/kafka.sh grant-connector --dir D --port P1 --principal NAME --resource RES
#       ACLs for one department's connector: create, describe and write the topic
#       govex.records.RES and nothing else.
#   scripts/kafka.sh grant-exchange --dir D --port P1 --principal NAME [--group G]
#           [--audit-topic A]
#       ACLs for one exchange node: read and describe the govex.records.* topics, use
#       the consumer groups G.* (default govex-exchange); and what a cluster node
#       (`govex serve --node-id`) needs on the cluster's own topics, beside the record
#       topics: create, describe, read and write the control topic and the nodes topic
#       (govex.control, govex.nodes: the prefix without `.records.`, as the node names
#       them) and the audit topic A (default govex.audit, GOVEX_KAFKA__AUDIT_TOPIC).
#   Both take --topic-prefix T (default govex.records.) for a govex on other topics.
#
# Environment:
#   GOVEX_KAFKA_VERSION        Kafka version (default 4.4.0, the newest 4.x on Maven Central
#                              when chosen; list them: mvn versions:display-dependency-updates
#                              -f scripts/kafka/pom.xml)
#   GOVEX_KAFKA_HOME           cache folder (default ~/.cache/govex/kafka-<version>)
#   GOVEX_KAFKA_START_TIMEOUT  seconds `start` waits for readiness (default 90)
#   GOVEX_KAFKA_ADMIN_PASSWORD the super user's password with --secure (default: random,
#                              written to D/admin.password, mode 0600)
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
NODES=1
NODE=""
SECURE=0
USERS=()
USERS_FILE=""
PRINCIPAL=""
RESOURCE=""
GROUP="govex-exchange"
TOPIC_PREFIX="govex.records."
AUDIT_TOPIC="govex.audit"

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
            --nodes) NODES="${2:?--nodes needs a value}"; shift 2 ;;
            --node) NODE="${2:?--node needs a value}"; shift 2 ;;
            --secure) SECURE=1; shift ;;
            --user) USERS+=("${2:?--user needs name=password}"); shift 2 ;;
            --users-file) USERS_FILE="${2:?--users-file needs a value}"; shift 2 ;;
            --principal) PRINCIPAL="${2:?--principal needs a value}"; shift 2 ;;
            --resource) RESOURCE="${2:?--resource needs a value}"; shift 2 ;;
            --group) GROUP="${2:?--group needs a value}"; shift 2 ;;
            --topic-prefix) TOPIC_PREFIX="${2:?--topic-prefix needs a value}"; shift 2 ;;
            --audit-topic) AUDIT_TOPIC="${2:?--audit-topic needs a value}"; shift 2 ;;
            *) die "unknown option: $1 (see: scripts/kafka.sh help)" ;;
        esac
    done
    [[ "$NODES" == 1 || "$NODES" == 3 ]] || die "--nodes must be 1 or 3, got: $NODES"
    IFS=, read -r -a PORTS <<<"$PORT"
    IFS=, read -r -a CONTROLLER_PORTS <<<"$CONTROLLER_PORT"
    [[ ${#PORTS[@]} -eq $NODES ]] || die "--port needs $NODES port(s), got: $PORT"
    [[ ${#CONTROLLER_PORTS[@]} -eq $NODES ]] || die "--controller-port needs $NODES port(s), got: $CONTROLLER_PORT"
    local p
    for p in "${PORTS[@]}" "${CONTROLLER_PORTS[@]}"; do
        [[ "$p" =~ ^[0-9]+$ ]] || die "ports must be numbers, got: $p"
    done
    [[ "$(printf '%s\n' "${PORTS[@]}" "${CONTROLLER_PORTS[@]}" | sort -u | wc -l)" -eq $((2 * NODES)) ]] \
        || die "--port and --controller-port must all differ"
    [[ -z "$NODE" || ( "$NODE" =~ ^[0-9]+$ && "$NODE" -ge 1 && "$NODE" -le "$NODES" ) ]] \
        || die "--node must be 1..$NODES, got: $NODE"
    [[ -z "$USERS_FILE" ]] || [[ -r "$USERS_FILE" ]] || die "--users-file $USERS_FILE is not readable"
    PORT="${PORTS[0]}"
    CONTROLLER_PORT="${CONTROLLER_PORTS[0]}"
    mkdir -p "$DIR"
    DIR="$(cd "$DIR" && pwd)"
}

# The folder of node $1: DIR itself for one broker, DIR/node-N in a cluster.
node_dir() {
    if [[ "$NODES" == 1 ]]; then echo "$DIR"; else echo "${DIR}/node-$1"; fi
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

# The super user's password (secure mode): from the environment, else made once.
admin_password() {
    local file="${DIR}/admin.password"
    if [[ -n "${GOVEX_KAFKA_ADMIN_PASSWORD:-}" ]]; then
        echo "$GOVEX_KAFKA_ADMIN_PASSWORD"
        return
    fi
    if [[ ! -f "$file" ]]; then
        (umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$file")
    fi
    cat "$file"
}

# A test CA and one certificate for 127.0.0.1/localhost, shared by the nodes (PEM).
make_tls() {
    local tls="${DIR}/tls"
    [[ -f "${tls}/broker.pem" ]] && return 0
    command -v openssl >/dev/null || die "openssl not found: --secure makes a test CA with it"
    mkdir -p "$tls"
    (
        umask 077
        cd "$tls"
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 30 \
            -subj "/CN=govex test CA" >/dev/null 2>&1
        openssl req -newkey rsa:2048 -nodes -keyout broker.key -out broker.csr \
            -subj "/CN=127.0.0.1" >/dev/null 2>&1
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext
        openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
            -out broker.crt -days 30 -extfile san.ext >/dev/null 2>&1
        # Kafka's PEM keystore: an unencrypted PKCS#8 key, then the chain
        openssl pkcs8 -topk8 -nocrypt -in broker.key -out broker.p8
        cat broker.p8 broker.crt ca.pem >broker.pem
        rm -f broker.csr broker.key broker.p8 san.ext
    ) || die "making the test CA in ${tls} failed"
    chmod 0644 "${tls}/ca.pem"
}

# Every SCRAM user as name=password: admin, then --user and --users-file lines.
scram_users() {
    echo "admin=$(admin_password)"
    local entry
    for entry in "${USERS[@]}"; do echo "$entry"; done
    if [[ -n "$USERS_FILE" ]]; then grep -v '^[[:space:]]*\(#\|$\)' "$USERS_FILE"; fi
}

write_config() {
    local i="$1" nd voters="" j
    nd="$(node_dir "$i")"
    mkdir -p "$nd"
    local port="${PORTS[$((i - 1))]}" cport="${CONTROLLER_PORTS[$((i - 1))]}"
    for ((j = 1; j <= NODES; j++)); do
        voters+="${voters:+,}${j}@127.0.0.1:${CONTROLLER_PORTS[$((j - 1))]}"
    done
    local rf=1 isr=1
    [[ "$NODES" == 3 ]] && rf=3 && isr=2
    {
        echo "# KRaft node ${i} of ${NODES} on loopback, written by scripts/kafka.sh."
        echo "process.roles=broker,controller"
        echo "node.id=${i}"
        if [[ "$NODES" == 1 ]]; then
            echo "controller.quorum.bootstrap.servers=127.0.0.1:${cport}"
        else
            echo "controller.quorum.voters=${voters}"
        fi
        echo "controller.listener.names=CONTROLLER"
        echo "log.dirs=${nd}/logs"
        echo "num.partitions=3"
        echo "default.replication.factor=${rf}"
        echo "min.insync.replicas=${isr}"
        echo "group.initial.rebalance.delay.ms=0"
        echo "offsets.topic.replication.factor=${rf}"
        echo "offsets.topic.num.partitions=3"
        echo "transaction.state.log.replication.factor=${rf}"
        echo "transaction.state.log.min.isr=${isr}"
        echo "transaction.state.log.num.partitions=3"
        echo "share.coordinator.state.topic.replication.factor=${rf}"
        echo "share.coordinator.state.topic.min.isr=${isr}"
        echo "# A broker killed with SIGKILL is re-admitted once its old session expires (default 9 s)."
        echo "broker.heartbeat.interval.ms=500"
        echo "broker.session.timeout.ms=3000"
        if [[ "$SECURE" == 0 ]]; then
            echo "listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${cport}"
            echo "advertised.listeners=PLAINTEXT://127.0.0.1:${port}"
            echo "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
            echo "inter.broker.listener.name=PLAINTEXT"
            echo "auto.create.topics.enable=true"
        else
            local pw tls="${DIR}/tls"
            pw="$(admin_password)"
            echo "listeners=CLIENT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${cport}"
            echo "advertised.listeners=CLIENT://127.0.0.1:${port}"
            echo "listener.security.protocol.map=CLIENT:SASL_SSL,CONTROLLER:SASL_PLAINTEXT"
            echo "inter.broker.listener.name=CLIENT"
            echo "auto.create.topics.enable=false"
            echo "sasl.enabled.mechanisms=SCRAM-SHA-512"
            echo "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512"
            echo "listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"${pw}\";"
            echo "sasl.mechanism.controller.protocol=PLAIN"
            echo "listener.name.controller.sasl.enabled.mechanisms=PLAIN"
            echo "listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"${pw}\" user_admin=\"${pw}\";"
            echo "ssl.keystore.type=PEM"
            echo "ssl.keystore.location=${tls}/broker.pem"
            echo "ssl.truststore.type=PEM"
            echo "ssl.truststore.location=${tls}/ca.pem"
            echo "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"
            echo "allow.everyone.if.no.acl.found=false"
            echo "super.users=User:admin"
        fi
    } >"${nd}/server.properties"
    chmod 0600 "${nd}/server.properties"
    # Broker output goes to stdout (broker.log); chatty request/state loggers stay quiet.
    cat >"${nd}/log4j2.properties" <<'LOG'
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
LOG
}

# The JVM command line shared by the storage tool and node $1 (in JAVA_CMD).
set_java_cmd() {
    local nd
    nd="$(node_dir "$1")"
    JAVA_CMD=("$JAVA" -Xmx512m -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
        "-Dlog4j2.configurationFile=${nd}/log4j2.properties" -cp "${LIB_DIR}/*")
}

# Write the configs and format every node's storage once (a restart keeps the data).
prepare() {
    lib_complete || die "no Kafka jars in ${LIB_DIR}: run scripts/kafka.sh fetch first"
    command -v "$JAVA" >/dev/null || die "java not found: Kafka ${KAFKA_VERSION} needs Java 17+"
    [[ "$SECURE" == 0 ]] || make_tls
    local i nd cid_file="${DIR}/cluster.id" format_args=()
    [[ -f "$cid_file" ]] || cluster_id >"$cid_file"
    if [[ "$SECURE" == 1 ]]; then
        local entry name pass
        while IFS= read -r entry; do
            name="${entry%%=*}" pass="${entry#*=}"
            [[ "$name" =~ ^[A-Za-z0-9._-]+$ && -n "$pass" && "$entry" == *=* ]] \
                || die "a SCRAM user is name=password, got: ${name}=…"
            format_args+=(--add-scram "SCRAM-SHA-512=[name=${name},password=${pass}]")
        done < <(scram_users)
    fi
    for ((i = 1; i <= NODES; i++)); do
        write_config "$i"
        nd="$(node_dir "$i")"
        set_java_cmd "$i"
        if [[ ! -f "${nd}/logs/meta.properties" ]]; then
            local mode=(--standalone)
            [[ "$NODES" == 1 ]] || mode=()
            "${JAVA_CMD[@]}" kafka.tools.StorageTool format -t "$(cat "$cid_file")" \
                -c "${nd}/server.properties" "${mode[@]}" "${format_args[@]}" \
                >"${nd}/format.log" 2>&1 \
                || { tail -n 30 "${nd}/format.log" >&2; die "formatting ${nd}/logs failed"; }
        fi
    done
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

broker_alive() {
    local pid="$1"
    [[ -r "/proc/${pid}/cmdline" ]] && tr '\0' ' ' <"/proc/${pid}/cmdline" | grep -q 'kafka\.Kafka'
}

cmd_prepare() {
    parse_options "$@"
    prepare
    echo "prepared ${NODES} node(s) in ${DIR}"
}

cmd_run() {
    parse_options "$@"
    [[ "$NODES" == 1 || -n "$NODE" ]] || die "run starts one node of a cluster: pass --node 1..$NODES"
    local i="${NODE:-1}"
    prepare
    set_java_cmd "$i"
    exec "${JAVA_CMD[@]}" kafka.Kafka "$(node_dir "$i")/server.properties"
}

# Ask a real client (kafka-python's admin client) to list topics, within the bound.
wait_ready() {
    local pid="$1" secure_args=()
    [[ "$SECURE" == 0 ]] || secure_args=("${DIR}/tls/ca.pem" "$(admin_password)")
    "$PYTHON" - "127.0.0.1:${PORT}" "$START_TIMEOUT" "$pid" "${secure_args[@]}" <<'PY'
import logging, os, sys, time
from kafka import KafkaAdminClient
from kafka.errors import KafkaError

logging.disable(logging.CRITICAL)
bootstrap, timeout, pids = sys.argv[1], float(sys.argv[2]), sys.argv[3].split(",")
secure = {}
if len(sys.argv) > 5:
    secure = dict(security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
                  sasl_plain_username="admin", sasl_plain_password=sys.argv[5],
                  ssl_cafile=sys.argv[4])
deadline = time.monotonic() + timeout
while time.monotonic() < deadline:
    for pid in pids:
        try:  # a dead child that is not reaped yet keeps /proc/<pid> with an empty cmdline
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                alive = bool(f.read())
        except OSError:
            alive = False
        if not alive:
            sys.exit(f"broker process {pid} exited")
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            request_timeout_ms=5000,
            bootstrap_timeout_ms=2000,
            reconnect_backoff_max_ms=200,
            **secure,
        )
        try:
            admin.list_topics()
            if len(pids) > 1 and len(admin.describe_cluster()["brokers"]) < len(pids):
                raise KafkaError("not every broker has joined yet")
        finally:
            admin.close()
        sys.exit(0)
    except KafkaError:
        time.sleep(0.2)
sys.exit(f"no answer from {bootstrap} within {timeout:g}s")
PY
}

cmd_start() {
    parse_options "$@"
    local i nd pidfile pids=() port
    for ((i = 1; i <= NODES; i++)); do
        pidfile="$(node_dir "$i")/broker.pid"
        if [[ -f "$pidfile" ]] && broker_alive "$(cat "$pidfile")"; then
            die "a broker is already running from $(node_dir "$i") (pid $(cat "$pidfile")); run: scripts/kafka.sh stop --dir ${DIR} --nodes ${NODES}"
        fi
    done
    for port in "${PORTS[@]}" "${CONTROLLER_PORTS[@]}"; do
        ! port_in_use "$port" || die "127.0.0.1:${port} is already in use: pick other ports (--port, --controller-port)"
    done
    prepare
    for ((i = 1; i <= NODES; i++)); do
        nd="$(node_dir "$i")"
        set_java_cmd "$i"
        setsid "${JAVA_CMD[@]}" kafka.Kafka "${nd}/server.properties" >"${nd}/broker.log" 2>&1 </dev/null &
        echo "$!" >"${nd}/broker.pid"
        pids+=("$!")
    done
    local joined
    joined="$(IFS=,; echo "${pids[*]}")"
    if ! wait_ready "$joined"; then
        for ((i = 1; i <= NODES; i++)); do
            nd="$(node_dir "$i")"
            echo "---- last lines of ${nd}/broker.log ----" >&2
            tail -n 40 "${nd}/broker.log" >&2 || true
            kill -KILL "$(cat "${nd}/broker.pid")" 2>/dev/null || true
            rm -f "${nd}/broker.pid"
        done
        die "broker(s) on 127.0.0.1:${PORT} did not come up within ${START_TIMEOUT}s"
    fi
    echo "bootstrap=$(printf '127.0.0.1:%s,' "${PORTS[@]}" | sed 's/,$//')"
    if [[ "$SECURE" == 1 ]]; then
        echo "security=SASL_SSL SCRAM-SHA-512 ca=${DIR}/tls/ca.pem admin_password_file=${DIR}/admin.password"
    fi
}

cmd_stop() {
    parse_options "$@"
    local i nd pid k pids=()
    # SIGTERM to every node first: a node left alone waits for a quorum to shut down
    for ((i = 1; i <= NODES; i++)); do
        nd="$(node_dir "$i")"
        [[ -f "${nd}/broker.pid" ]] || { echo "no broker pid file in ${nd}"; continue; }
        pid="$(cat "${nd}/broker.pid")"
        if broker_alive "$pid"; then
            kill -CONT "$pid" 2>/dev/null || true # a paused broker would ignore SIGTERM
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    for pid in "${pids[@]}"; do
        for ((k = 0; k < 300; k++)); do
            broker_alive "$pid" || break
            sleep 0.1
        done
        if broker_alive "$pid"; then
            echo "broker ${pid} ignored SIGTERM for 30s: sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    for ((i = 1; i <= NODES; i++)); do
        nd="$(node_dir "$i")"
        if [[ -f "${nd}/broker.pid" ]]; then
            rm -f "${nd}/broker.pid"
            echo "stopped broker from ${nd}"
        fi
    done
}

# Create ACLs as the super user (kafka-python's admin client), over the secured listener.
grant() {
    local kind="$1"
    [[ "$SECURE" == 1 || -f "${DIR}/tls/ca.pem" ]] || die "grant needs a --secure cluster in ${DIR}"
    [[ "$PRINCIPAL" =~ ^[A-Za-z0-9._-]+$ ]] || die "--principal must be a SCRAM user name, got: ${PRINCIPAL}"
    if [[ "$kind" == connector ]]; then
        [[ "$RESOURCE" =~ ^[a-z0-9][a-z0-9._-]{0,127}$ ]] || die "--resource must be a catalog resource, got: ${RESOURCE}"
    fi
    [[ "$TOPIC_PREFIX" =~ ^[A-Za-z0-9._-]+$ ]] || die "--topic-prefix must be a topic name prefix"
    [[ "$AUDIT_TOPIC" =~ ^[A-Za-z0-9._-]{1,249}$ ]] || die "--audit-topic must be a topic name, got: ${AUDIT_TOPIC}"
    "$PYTHON" - "127.0.0.1:${PORT}" "${DIR}/tls/ca.pem" "$(admin_password)" "$kind" \
        "$PRINCIPAL" "$RESOURCE" "$GROUP" "$TOPIC_PREFIX" "$AUDIT_TOPIC" <<'PY'
import logging, sys
from kafka import KafkaAdminClient
from kafka.admin import (ACL, ACLOperation, ACLPermissionType, ACLResourcePatternType,
                         ResourcePattern, ResourceType)

logging.disable(logging.CRITICAL)
bootstrap, cafile, password, kind, principal, resource, group, prefix, audit = sys.argv[1:10]
user = f"User:{principal}"

def acl(op, rtype, name, pattern=ACLResourcePatternType.LITERAL):
    return ACL(user, "*", op, ACLPermissionType.ALLOW, ResourcePattern(rtype, name, pattern))

if kind == "connector":
    topic = prefix + resource
    acls = [acl(op, ResourceType.TOPIC, topic)
            for op in (ACLOperation.CREATE, ACLOperation.DESCRIBE, ACLOperation.WRITE)]
else:
    pre = ACLResourcePatternType.PREFIXED
    acls = [acl(ACLOperation.READ, ResourceType.TOPIC, prefix, pre),
            acl(ACLOperation.DESCRIBE, ResourceType.TOPIC, prefix, pre),
            acl(ACLOperation.DESCRIBE_CONFIGS, ResourceType.TOPIC, prefix, pre),
            acl(ACLOperation.READ, ResourceType.GROUP, group + ".", pre),
            acl(ACLOperation.DESCRIBE, ResourceType.GROUP, group + ".", pre)]
    # a cluster node: the control and nodes topics (named from the record prefix as
    # exchange.cluster.events.ControlTopics names them) and the audit topic; it creates
    # them when they are missing, publishes (acks=all, the audit producer idempotent)
    # and reads them without a consumer group (every node reads every event)
    base = prefix.rstrip(".")
    base = base.removesuffix(".records") if base != "records" else "govex"
    for topic in (f"{base}.control", f"{base}.nodes", audit):
        acls += [acl(op, ResourceType.TOPIC, topic)
                 for op in (ACLOperation.CREATE, ACLOperation.DESCRIBE,
                            ACLOperation.DESCRIBE_CONFIGS, ACLOperation.READ,
                            ACLOperation.WRITE)]
admin = KafkaAdminClient(bootstrap_servers=bootstrap, security_protocol="SASL_SSL",
                         sasl_mechanism="SCRAM-SHA-512", sasl_plain_username="admin",
                         sasl_plain_password=password, ssl_cafile=cafile,
                         request_timeout_ms=10000)
try:
    result = admin.create_acls(acls)
finally:
    admin.close()
if result.get("failed"):
    sys.exit(f"ACLs refused: {result['failed']}")
print(f"granted {user}: {len(acls)} ACL(s) ({kind})")
PY
}

cmd_grant() {
    local kind="$1"
    shift
    parse_options "$@"
    [[ -f "${DIR}/tls/ca.pem" ]] && SECURE=1
    grant "$kind"
}

case "${1:-help}" in
    fetch) shift; cmd_fetch "$@" ;;
    prepare) shift; cmd_prepare "$@" ;;
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    run) shift; cmd_run "$@" ;;
    grant-connector) shift; cmd_grant connector "$@" ;;
    grant-exchange) shift; cmd_grant exchange "$@" ;;
    lib) echo "$LIB_DIR" ;;
    help | -h | --help) usage ;;
    *) die "unknown command: $1 (commands: fetch, prepare, start, stop, run, grant-connector, grant-exchange, lib)" ;;
esac
