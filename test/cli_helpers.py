"""Running `sac-grasp` as a user does, in a subprocess, for the tests of its options."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sac_grasp_ros.graph.arguments import LaunchArguments, node_specs, prepare_run
from sac_grasp_ros.graph.spec import NodeSpec


def run_sac_grasp_test(
    env: dict[str, str], out: Path, seed: int, episodes: int, *options: str, timeout: float = 400
) -> subprocess.CompletedProcess[str]:
    """`sac-grasp test` in lockstep on the ROS domain of `env` (the ros_env fixture), its output in
    `out`, with `options` (e.g. --record DIR); the caller checks the exit status and the JSON line."""
    command = [sys.executable, "-m", "sac_grasp_ros.cli", "test", "--step-mode", "lockstep"]
    command += ["--seed", str(seed), "--eval-episodes", str(episodes), *options, "--out", str(out)]
    command += ["--domain-id", env["ROS_DOMAIN_ID"]]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


def planned_specs(args: LaunchArguments) -> list[NodeSpec]:
    """The nodes a launcher starts for `args`, with a training run prepared first as both launchers do."""
    return node_specs(args, preparation=prepare_run(args))
