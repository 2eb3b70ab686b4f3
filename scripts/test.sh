#!/usr/bin/env bash
# The whole test suite against a real PostGIS that the test session starts itself.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check locator api maps scripts tests
.venv/bin/mypy locator api maps
exec .venv/bin/pytest "$@"
