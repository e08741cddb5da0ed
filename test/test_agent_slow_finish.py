"""The final evaluation after a slow final checkpoint, in real processes (rclpy, MuJoCo, torch).

A 100k-step run's final checkpoint (with its replay buffer) takes seconds. The agent once read its
clock before that save and stamped the final evaluation's worker resets with the stale time: they
looked older than stall_timeout at once, every worker was left out and the run exited 1. Here a
replay buffer prefilled with 150,000 transitions makes the final save take several times the
1 s stall_timeout (150,000 rows: ~2 s here), and the run must still evaluate and exit 0; with the
clock read moved back before the training step it exits 1. Seeds are fixed (file, worker, agent).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip("rclpy", reason="rclpy (ros-rclpy wheels) is not installed")

from sac_grasp_ros.sac import save_demos  # noqa: E402
from sac_grasp_ros.sac.replay import ReplayBuffer  # noqa: E402

OBS, ACT = 17, 7  # the original observation and the joint-velocity action
ROWS = 150_000
STALL_TIMEOUT = 1.0
SIM = {"random_target": True, "max_episode_steps": 20, "step_mode": "lockstep", "markers_every": 0,
       "joint_states_every": 0, "seed": 3}  # fmt: skip
SAC = {"hidden_size": 32, "batch_size": 32, "learning_starts": 0, "buffer_capacity": ROWS + 1000,
       "device": "cpu", "torch_threads": 1}  # fmt: skip


def big_transition_file(path: Path) -> Path:
    """Valid transitions of the env's shapes; their values do not matter, only how long a save takes."""
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(ROWS, OBS)).astype(np.float32)
    actions = rng.uniform(-1, 1, size=(ROWS, ACT)).astype(np.float32)
    return save_demos(path, obs, actions, np.zeros(ROWS, np.float32), obs, np.zeros(ROWS, np.float32))


def test_a_final_checkpoint_slower_than_stall_timeout_still_gets_its_final_evaluation(start_node, tmp_path):
    demo_file = big_transition_file(tmp_path / "transitions.npz")
    start_node("sim_node", "/worker_0", SIM)
    result_file = tmp_path / "result.json"
    agent = start_node(
        "agent_node",
        "/",
        {
            "workers": ["worker_0"],
            "seed": 1,
            "demo_file": str(demo_file),
            "prefill_from_demos": -1,  # the replay buffer the final checkpoint writes
            "total_steps": 60,
            "on_finish": "evaluate_and_exit",
            "eval_episodes": 2,
            "save_buffer": True,
            "checkpoint_every": 0,
            "checkpoint_dir": str(tmp_path / "checkpoints" / "latest"),
            "result_file": str(result_file),
            "stall_timeout": STALL_TIMEOUT,
            "sac": SAC,
        },
    )
    assert agent.process.wait(timeout=240) == 0, agent.log()[-3000:]
    result = json.loads(result_file.read_text())
    assert result["episodes"] == 2 and result["env_steps"] == 60, result
    saved = ReplayBuffer(ROWS + 1000, OBS, ACT, seed=0)
    saved.load(tmp_path / "checkpoints" / "latest" / "buffer.npz")
    assert len(saved) == ROWS + 60  # the save really held the whole buffer
    assert "reached total_steps=60: checkpoint saved" in agent.log()
