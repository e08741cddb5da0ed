"""`sac-grasp rollout` (sac_grasp_ros.envs.rollout.main): JSON summary and a rendered PNG frame."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sac_grasp_ros.envs import rollout


def test_scripted_rollout_prints_a_json_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert rollout.main(["--policy", "scripted", "--episodes", "2", "--seed", "5", "--random-target"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(summary) == {"episodes", "success_rate", "mean_return", "env_steps", "steps_per_s"}
    assert summary["episodes"] == 2 and summary["success_rate"] == 1.0
    assert summary["mean_return"] > 4 and 0 < summary["env_steps"] < 200 and summary["steps_per_s"] > 0


def test_random_rollout_runs_full_episodes(capsys: pytest.CaptureFixture[str]) -> None:
    assert rollout.main(["--policy", "random", "--episodes", "1", "--max-episode-steps", "20"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["env_steps"] <= 20 and summary["success_rate"] == 0.0


def test_bad_arguments_exit_with_usage_error() -> None:
    with pytest.raises(SystemExit) as raised:
        rollout.main(["--policy", "telepathic"])
    assert raised.value.code == 2
    assert rollout.main(["--episodes", "1", "--max-episode-steps", "0"]) == 2


def test_render_writes_a_png(tmp_path: Path) -> None:
    """Off-screen rendering needs MUJOCO_GL set before MuJoCo loads: run in a fresh process (EGL)."""
    out = tmp_path / "scene.png"
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    result = subprocess.run(
        [sys.executable, "-m", "sac_grasp_ros.envs.rollout", "--episodes", "0", "--render", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    header = out.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
    assert (width, height) == (320, 240)
