"""Running `sac-grasp` as a user does, in a subprocess, for the tests of its options."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_sac_grasp_test(
    env: dict[str, str], out: Path, seed: int, episodes: int, *options: str, timeout: float = 400
) -> subprocess.CompletedProcess[str]:
    """`sac-grasp test` in lockstep on the ROS domain of `env` (the ros_env fixture), its output in
    `out`, with `options` (e.g. --record DIR); the caller checks the exit status and the JSON line."""
    command = [sys.executable, "-m", "sac_grasp_ros.cli", "test", "--step-mode", "lockstep"]
    command += ["--seed", str(seed), "--eval-episodes", str(episodes), *options, "--out", str(out)]
    command += ["--domain-id", env["ROS_DOMAIN_ID"]]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
