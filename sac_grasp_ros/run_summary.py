"""The few lines a training run ends with: what was trained, for how long, how well, where the
outputs are and what to run next. Printed on stderr, so stdout's last line stays the JSON result."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

OUTPUTS = ("learning_curve.png", "eval_curve.png", "rewards.csv", "tensorboard/", "logs/", "result.json")
"""what a training run writes into its output directory, in the order a user looks at it"""


def _stage_count(stages: list[str], name: str) -> int | None:
    """The number of a stage entry such as "bc 6000" (None: the stage did not run)."""
    for stage in stages:
        word, _, count = stage.partition(" ")
        if word == name and count.isdigit():
            return int(count)
    return None


def _what_was_trained(result: dict[str, Any], workers: int) -> str:
    stages = list(result.get("stages", []))
    parts = [f"{int(result.get('env_steps', 0)):,} env steps"]
    if (demos := _stage_count(stages, "demos")) is not None:
        parts.append(f"after {demos:,} demonstration transitions")
    if (cloning := _stage_count(stages, "bc")) is not None:
        parts.append(f"{cloning:,} behaviour-cloning steps")
    parts.append(f"{int(result.get('updates', 0)):,} SAC updates")
    graph = f"{workers} worker" + ("s" if workers != 1 else "")
    return f"Trained SAC through the ROS 2 graph ({graph}): " + ", ".join(parts) + "."


def _which_policy(result: dict[str, Any]) -> str:
    if result.get("policy") != "best":
        return "the last policy"
    at = result.get("selected_at_env_steps")
    chosen = f"the best periodic evaluation ({result.get('selection_success_rate', 0.0):.0%} "
    chosen += f"of {result.get('selection_episodes', 0)} episodes at {at:,} env steps"
    if at == 0 and _stage_count(list(result.get("stages", [])), "bc") is not None:
        chosen += ": the cloned policy, before any SAC update"
    return chosen + ")"


def _short(path: str | Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    relative = os.path.relpath(path)
    return relative if not relative.startswith("..") else str(path)


def bin_dir() -> str:
    """How the user can call this package's commands: by name when they are on PATH, else by the
    path of the running one (`.venv/bin/` after scripts/setup.sh)."""
    here = Path(sys.argv[0]).resolve().parent
    on_path = shutil.which("sac-grasp")
    if on_path is not None and Path(on_path).resolve().parent == here:
        return ""
    return _short(here) + os.sep


def training_summary(
    result: dict[str, Any], out: Path, workers: int, wall_s: float, bin_prefix: str = ""
) -> str:
    """Human-readable closing lines of `sac-grasp train` from its result.json; `bin_prefix` goes
    before the commands it suggests (bin_dir())."""
    episodes = int(result.get("episodes", 0))
    rate = float(result.get("success_rate") or 0.0)
    policy = _short(result.get("checkpoint") or out / "checkpoints" / "latest")
    out_dir = _short(out)
    lines = [
        _what_was_trained(result, workers) + f" {wall_s:.0f} s from launch to result.",
        f"Final evaluation: {round(rate * episodes)} of {episodes} fresh episodes grasped ({rate:.0%}), "
        f"{float(result.get('mean_length', 0.0)):.1f} steps on average; policy: {_which_policy(result)}.",
        f"Outputs in {out_dir}/: " + ", ".join(name for name in OUTPUTS if (out / name.rstrip("/")).exists()),
        "Next:",
    ]
    suggestions = [
        (f"{bin_prefix}sac-grasp test --policy {policy} --eval-episodes 100", "through the graph"),
        (f"{bin_prefix}sac-grasp evaluate --policy {policy} --grid 5 5", "over the workspace, no ROS"),
        (f"{bin_prefix}sac-grasp video --policy {policy}", "GIFs of its episodes"),
        (f"{bin_prefix}tensorboard --logdir {out_dir}", "the learning curves"),
    ]
    width = max(len(command) for command, _ in suggestions)
    lines += [f"  {command:<{width}}   # {why}" for command, why in suggestions]
    return "\n".join(lines)
