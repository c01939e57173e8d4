#!/usr/bin/env bash
# Install the independent verifiers the interop tests run (tests/interop/vc/): Digital
# Bazaar's Data Integrity stack, jsonld.js and ajv, from npm by name and pinned version,
# into a cache folder outside the repository. Nothing of theirs is committed.
#
#   scripts/vc-interop.sh install    install (a second run with the same versions does nothing)
#   scripts/vc-interop.sh dir        print the folder holding node_modules
#   scripts/vc-interop.sh versions   print "package version" for each package (README table)
#
# Environment:
#   GOVEX_NPM_HOME   cache folder (default ~/.cache/govex/npm-vc)
#   NPM, NODE        commands to use (default npm, node); Node.js >= 18
set -euo pipefail

NPM_HOME="${GOVEX_NPM_HOME:-${HOME}/.cache/govex/npm-vc}"
NPM="${NPM:-npm}"
NODE="${NODE:-node}"

# name@version, one a line: the versions the README's standards table names
PACKAGES=(
    "@digitalbazaar/vc@7.3.0"
    "jsonld-signatures@11.6.0"
    "@digitalbazaar/data-integrity@2.5.0"
    "@digitalbazaar/eddsa-jcs-2022-cryptosuite@1.0.0"
    "@digitalbazaar/ed25519-multikey@1.3.1"
    "jsonld@9.0.0"
    "@digitalbazaar/credentials-context@3.2.0"
    "did-context@3.1.1"
    "@digitalbazaar/multikey-context@2.0.1"
    "ajv@8.20.0"
    "ajv-formats@3.0.1"
)
MARKER="${NPM_HOME}/.govex-$(printf '%s\n' "${PACKAGES[@]}" | cksum | cut -d' ' -f1)"

install() {
    command -v "$NODE" >/dev/null || { echo "node not found: install Node.js >= 18" >&2; exit 1; }
    [[ -f "$MARKER" ]] && return 0
    mkdir -p "$NPM_HOME"
    [[ -f "$NPM_HOME/package.json" ]] || printf '{"private": true, "type": "module"}\n' \
        >"$NPM_HOME/package.json"
    "$NPM" install --prefix "$NPM_HOME" --no-audit --no-fund --save-exact --loglevel=error \
        "${PACKAGES[@]}" </dev/null
    rm -f "$NPM_HOME"/.govex-*
    touch "$MARKER"
}

case "${1:-}" in
    install) install ;;
    dir) echo "$NPM_HOME" ;;
    versions) printf '%s\n' "${PACKAGES[@]}" | sed -E 's/@([^@]+)$/ \1/' ;;
    *) echo "usage: $0 install|dir|versions" >&2; exit 2 ;;
esac
