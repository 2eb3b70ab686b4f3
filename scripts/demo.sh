#!/usr/bin/env bash
# The main job for a first look: set up, start the embedded PostGIS, load the Beijing sample,
# print a summary, write the coverage map and a siting plan, and start the service on
# http://127.0.0.1:8000 (in the background).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/locator demo "$@"
