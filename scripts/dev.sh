#!/usr/bin/env bash
# One entry point for a fresh machine: idempotent set-up, then the demo run or the tests.
#   bash scripts/dev.sh demo [overrides...]   set up, then `ttc run configs/demo.yaml`
#   bash scripts/dev.sh test [pytest args...] set up, then the test suite
#   bash scripts/dev.sh setup                 set up only
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=$ROOT/.venv
PY=${PYTHON:-python3}
SANDBOX_IMAGE=${TTC_SANDBOX_IMAGE:-ttc-sandbox:base}

log() { printf '[ttc setup] %s\n' "$*" >&2; }
phase_start() { PHASE_T0=$(date +%s); log "$1..."; }
phase_end() { log "$1 done in $(( $(date +%s) - PHASE_T0 )) s"; }

is_root() { [ "$(id -u)" = 0 ]; }

apt_install() {
    if ! is_root || ! command -v apt-get >/dev/null; then
        log "need Debian packages: $*; install them (as root: apt-get install -y $*) and re-run"
        exit 1
    fi
    if [ ! -f /tmp/.ttc-apt-updated ]; then apt-get update -qq && touch /tmp/.ttc-apt-updated; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

setup_venv() {
    phase_start "python environment"
    [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
    local stamp="$VENV/.ttc-installed" want
    want=$(sha256sum pyproject.toml | cut -c1-16)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        "$VENV/bin/pip" install -q --upgrade pip >/dev/null 2>&1 || true
        # torch is pinned in pyproject.toml; the CPU wheel of that version is found locally
        "$VENV/bin/pip" install -q -e '.[test,datasets]' 2>&1 | grep -v "is ignored: it is neither" || true
        "$VENV/bin/python" -c "import torch, ray, transformers, docker" \
            || { log "pip install failed"; exit 1; }
        echo "$want" > "$stamp"
    fi
    phase_end "python environment"
}

docker_answers() { timeout 10 docker info >/dev/null 2>&1; }

start_dockerd() {
    log "starting dockerd in the background (log: /var/log/ttc-dockerd.log)"
    nohup dockerd >/var/log/ttc-dockerd.log 2>&1 &
    for _ in $(seq 1 60); do docker_answers && return 0; sleep 1; done
    log "dockerd did not answer within 60 s; see /var/log/ttc-dockerd.log"
    exit 1
}

setup_docker() {
    phase_start "docker engine"
    if ! docker_answers; then
        if [ -n "${DOCKER_HOST:-}" ]; then
            log "DOCKER_HOST=$DOCKER_HOST does not answer; fix it or unset it"; exit 1
        fi
        if ! command -v dockerd >/dev/null; then apt_install docker.io; fi
        if is_root; then start_dockerd; else
            log "the Docker engine is not running; start it (sudo systemctl start docker) and re-run"; exit 1
        fi
    fi
    phase_end "docker engine"
}

setup_image() {
    phase_start "sandbox image"
    # missing, or built from an older recipe (the image carries its recipe as a label)
    if ! "$VENV/bin/python" -c "import sys; from sandbox.image.build import image_is_current as current
sys.exit(not current('$SANDBOX_IMAGE'))"; then
        command -v debootstrap >/dev/null || apt_install debootstrap
        "$VENV/bin/ttc" sandbox build-image --tag "$SANDBOX_IMAGE"
    fi
    phase_end "sandbox image"
}

setup_gvisor() {
    phase_start "gVisor (runsc, for sandbox.runtime: gvisor)"
    # ttc runs runsc itself (sandbox/gvisor/): the Docker daemon's configuration is left alone
    if ! command -v runsc >/dev/null; then
        if is_root && command -v apt-get >/dev/null; then
            apt_install runsc || log "could not install runsc; sandbox.runtime: runc still works"
        else
            log "sandbox.runtime: gvisor needs runsc (as root: apt-get install -y runsc); runc works without it"
        fi
    fi
    phase_end "gVisor (runsc, for sandbox.runtime: gvisor)"
}

setup() { setup_venv; setup_docker; setup_image; setup_gvisor; }

cmd=${1:-setup}; shift || true
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-disabled} RAY_USAGE_STATS_ENABLED=0
case "$cmd" in
    setup) setup ;;
    demo) setup; exec "$VENV/bin/ttc" run configs/demo.yaml "$@" ;;
    test)
        setup
        # the layers' import contracts (pyproject.toml, docs/ARCHITECTURE.md): a violation fails here
        "$VENV/bin/lint-imports" --no-cache || { log "import contracts broken (see above)"; exit 1; }
        phase_start "tests"
        rc=0; "$VENV/bin/python" -m pytest "$@" || rc=$?
        phase_end "tests"
        # pytest's 5 means "no tests collected": say so, but it is not a failure of the code
        if [ "$rc" = 5 ]; then log "no tests were collected"; rc=0; fi
        exit "$rc" ;;
    *) echo "usage: bash scripts/dev.sh {setup|demo|test} [args...]" >&2; exit 2 ;;
esac
