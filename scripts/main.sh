#!/usr/bin/env bash
# README's main-job command: set everything up (idempotent), then run a short training through the
# ROS 2 graph (2 simulator workers + the SAC agent) on the embedded MuJoCo scene, ending with /evaluate.
# Extra arguments go to `sac-grasp train` (e.g. `bash scripts/main.sh --total-steps 20000`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup.sh"
cd "$root"
export MUJOCO_GL="${MUJOCO_GL:-egl}"
exec "$root/.venv/bin/sac-grasp" train --quick "$@"
