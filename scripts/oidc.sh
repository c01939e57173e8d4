#!/usr/bin/env bash
# A real OpenID Connect provider on loopback for the citizen sign-in tests: panva's
# oidc-provider (npm, pinned in scripts/oidc/package.json and package-lock.json), run by
# scripts/oidc/provider.js. No node_modules in the repository: they live in the cache.
#
#   scripts/oidc.sh install
#       npm ci into the cache folder (a second run with the same lockfile does nothing).
#   scripts/oidc.sh start [--port P] [--dir D]
#       Start the provider in the background (pid in D/oidc.pid, output in D/oidc.log),
#       wait until its discovery document answers, print `issuer=http://127.0.0.1:P`.
#   scripts/oidc.sh stop [--dir D]
#       Stop the provider started with `start`.
#   scripts/oidc.sh run [--port P]
#       Exec the provider in the foreground (the caller owns the pid; the tests use this).
#
# Environment: GOVEX_OIDC_HOME (cache folder, default ~/.cache/govex/oidc), NODE, NPM,
# and the GOVEX_OIDC_* settings that scripts/oidc/provider.js documents.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SOURCE="${SCRIPT_DIR}/oidc"
OIDC_HOME="${GOVEX_OIDC_HOME:-${HOME}/.cache/govex/oidc}"
NODE="${NODE:-node}"
NPM="${NPM:-npm}"
PORT="${GOVEX_OIDC_PORT:-9400}"
DIR="${TMPDIR:-/tmp}/govex-oidc"

die() {
    echo "oidc.sh: $*" >&2
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
            --dir) DIR="${2:?--dir needs a value}"; shift 2 ;;
            *) die "unknown option: $1 (see: scripts/oidc.sh help)" ;;
        esac
    done
}

install() {
    command -v "$NODE" >/dev/null || die "node not found (Debian: apt-get install nodejs npm)"
    mkdir -p "$OIDC_HOME"
    if ! cmp -s "$SOURCE/package-lock.json" "$OIDC_HOME/package-lock.json" \
        || [[ ! -d "$OIDC_HOME/node_modules/oidc-provider" ]]; then
        cp "$SOURCE/package.json" "$SOURCE/package-lock.json" "$OIDC_HOME/"
        (cd "$OIDC_HOME" && "$NPM" ci --no-audit --no-fund --loglevel=error) \
            || die "npm ci failed in $OIDC_HOME"
    fi
    cp "$SOURCE/provider.js" "$OIDC_HOME/provider.js"
}

run() {
    [[ -d "$OIDC_HOME/node_modules/oidc-provider" ]] || die "not installed: scripts/oidc.sh install"
    cp "$SOURCE/provider.js" "$OIDC_HOME/provider.js"
    export GOVEX_OIDC_PORT="$PORT"
    exec "$NODE" "$OIDC_HOME/provider.js"
}

start() {
    mkdir -p "$DIR"
    "${BASH_SOURCE[0]}" run --port "$PORT" >"$DIR/oidc.log" 2>&1 &
    echo $! >"$DIR/oidc.pid"
    local url="http://${GOVEX_OIDC_HOST:-127.0.0.1}:${PORT}/.well-known/openid-configuration"
    for _ in $(seq 1 100); do
        if curl -fsS -o /dev/null "$url" 2>/dev/null; then
            echo "issuer=http://${GOVEX_OIDC_HOST:-127.0.0.1}:${PORT}"
            return 0
        fi
        kill -0 "$(cat "$DIR/oidc.pid")" 2>/dev/null || { tail -n 20 "$DIR/oidc.log" >&2; die "the provider exited"; }
        sleep 0.2
    done
    die "the provider did not answer on port $PORT (see $DIR/oidc.log)"
}

stop() {
    [[ -f "$DIR/oidc.pid" ]] || return 0
    local pid
    pid="$(cat "$DIR/oidc.pid")"
    kill "$pid" 2>/dev/null || true
    rm -f "$DIR/oidc.pid"
}

command="${1:-help}"
shift || true
case "$command" in
    install) install ;;
    start) parse_options "$@"; start ;;
    stop) parse_options "$@"; stop ;;
    run) parse_options "$@"; run ;;
    help | -h | --help) usage ;;
    *) die "unknown command: $command (see: scripts/oidc.sh help)" ;;
esac
