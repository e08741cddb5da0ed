#!/usr/bin/env bash
# The GPU checks in one timed run (about 6 minutes on an H100/H200, 10 at most): the CUDA
# tests of the captured update, the learner throughput rows (captured vs eager vs SB3 per shape,
# with the GPU floor), and in-process training throughput. Prints everything README's Performance
# table needs. Needs a Python with CUDA torch, stable-baselines3 and mujoco: PYTHON=... to choose it.
#
#     bash bench/gpu_check.sh 2>&1 | tee gpu_check.log
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export MUJOCO_GL=${MUJOCO_GL:-egl} PYTHONPATH=${PYTHONPATH:-$PWD}
status=0
step() {  # step SECONDS TITLE COMMAND...: runs under a timeout, reports its time, keeps going on failure
    local limit=$1 title=$2 started=$SECONDS
    shift 2
    echo "=== $title"
    timeout "$limit" "$@" || { echo "!!! $title failed (exit $?)"; status=1; }
    echo "--- $title: $((SECONDS - started)) s"
}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
"$PY" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, torch.cuda.is_available())"
step 150 "CUDA tests (captured vs eager, no host sync, checkpoints, device buffer)" \
    "$PY" -m pytest -q -p no:cacheprovider -rs test/test_captured_update.py test/test_device_buffer.py
step 240 "learner throughput: small, original, large shapes, 1 update per replay" \
    "$PY" bench/learner_throughput.py --device cuda --rounds 5 --updates 300
step 60 "learner throughput: small shape, 4 updates per replay" \
    "$PY" bench/learner_throughput.py --device cuda --shapes small --rounds 3 --updates 400 --updates-per-replay 4
step 150 "in-process training throughput (1 grasp env, learning on)" \
    "$PY" bench/training_throughput.py --device cuda --steps 4000 --rounds 2
exit $status
