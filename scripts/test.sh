#!/usr/bin/env bash
# README's test command: set everything up (idempotent), then run the whole test suite.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k env`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
cd "$root"
export MUJOCO_GL="${MUJOCO_GL:-egl}"
exec "$root/.venv/bin/python" -m pytest "$@"
