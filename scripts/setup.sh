#!/usr/bin/env bash
# Set up everything the locator needs on Debian/Ubuntu: PostgreSQL + PostGIS and headless
# Chromium for the browser tests (apt), and a Python virtual environment in .venv with the
# project and its test tools (pip).
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=0
apt_install() {
    if [ "$apt_updated" -eq 0 ]; then
        as_root apt-get update -qq
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

have_postgis() {
    for bin in /usr/lib/postgresql/*/bin; do
        [ -x "$bin/initdb" ] || continue
        major=$(basename "$(dirname "$bin")")
        [ "$major" -ge 15 ] 2>/dev/null || continue
        [ -f "/usr/share/postgresql/$major/extension/postgis.control" ] && return 0
    done
    return 1
}

if ! have_postgis; then
    command -v apt-get >/dev/null || {
        echo "PostgreSQL 15+ with PostGIS 3 is missing and apt-get is not available;" >&2
        echo "install them yourself or set LOCATOR_DATABASE_URL to an existing PostGIS." >&2
        exit 1
    }
    log "installing PostgreSQL and PostGIS (apt)"
    as_root apt-get update -qq; apt_updated=1
    major=$(apt-cache search --names-only '^postgresql-[0-9]+-postgis-3$' \
        | sed -E 's/^postgresql-([0-9]+)-postgis-3.*/\1/' | sort -n | awk '$1 >= 15' | tail -n 1)
    if [ -z "$major" ]; then
        echo "no postgresql-NN-postgis-3 package (NN >= 15) found by apt" >&2
        exit 1
    fi
    apt_install "postgresql-$major" "postgresql-$major-postgis-3"
fi

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    command -v apt-get >/dev/null || {
        echo "Chromium (for the browser tests) is missing and apt-get is not available;" >&2
        echo "install chromium and chromium-driver yourself." >&2
        exit 1
    }
    log "installing Chromium for the browser tests (apt)"
    apt_install chromium chromium-driver
fi
if command -v fc-list >/dev/null && command -v apt-get >/dev/null; then  # text in screenshots
    fonts=()
    [ -n "$(fc-list :lang=zh family)" ] || fonts+=(fonts-noto-cjk)
    [ -n "$(fc-list ':charset=1f50b' family)" ] || fonts+=(fonts-noto-color-emoji)
    if [ "${#fonts[@]}" -gt 0 ]; then
        log "installing fonts for the page screenshots (apt)"
        apt_install "${fonts[@]}"
    fi
fi

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "Python 3.11 or newer is needed (found: $("$python" --version 2>&1))" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    log "creating the virtual environment .venv"
    if ! "$python" -m venv .venv 2>/dev/null; then
        rm -rf .venv
        apt_install python3-venv
        "$python" -m venv .venv
    fi
fi

stamp=.venv/.locator-installed
wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    log "installing Python packages into .venv (pip)"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[test]'
    echo "$wanted" > "$stamp"
fi
