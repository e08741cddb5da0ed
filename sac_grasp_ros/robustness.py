"""`sac-grasp robustness`: a policy's success under what differs between the simulator and a real arm.

Each condition of the matrix is a `DomainRandomization`: one perturbation at each end of its range
(the block's mass, edge and friction, the servos' gain and damping, command latency, a biased and
noisy block pose, the start posture, joint sensor noise) and all of them drawn together. Under each,
the policy (a checkpoint directory or an exported `policy.pt`, acting deterministically in this
process, no ROS) and the scripted Jacobian grasper beside it run the same seeded episodes: a grid of
placements spanning the workspace box (its corners and edges included) at yaws from -range to +range
(both ends included), then random placements as in training. Every episode of a condition resets
with the same seed for both controllers, so their figures compare like with like.

Writes `robustness.json` (per condition and controller: success, steps to grasp, success on the box's
corners and edges) and `robustness.png`, atomically, and prints one JSON line per condition. A
condition file (`--conditions`, YAML: a mapping of names to randomization ranges) replaces the
built-in matrix: the way to add a condition.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import tyro
import yaml

from sac_grasp_ros.atomic import atomic_path, atomic_write
from sac_grasp_ros.command_line import IfGiven, parse
from sac_grasp_ros.envs.config import GraspEnvConfig
from sac_grasp_ros.envs.randomization import DomainRandomization

JSON_FILE = "robustness.json"
PNG_FILE = "robustness.png"
SEED_OFFSET = 4_000_000
"""Episodes reset with seeds seed + this + i: apart from training, evaluation and demo streams."""
POSE_NOISE = {"pose_noise_position": 0.001, "pose_noise_yaw": 1.0}
"""Per-step noise that goes with a pose bias: 1 mm and 1 degree (standard deviations)."""
ALL_TOGETHER = {
    "block_mass_scale": [0.4, 4.0],
    "block_edge": [0.03, 0.05],
    "block_friction": [0.3, 1.5],
    "servo_gain_scale": [0.75, 1.5],
    "servo_damping_scale": [0.3, 3.0],
    "latency_steps": [0, 20],
    "pose_bias_position": [-0.005, 0.005],
    "pose_bias_yaw": [-5.0, 5.0],
    **POSE_NOISE,
    "start_posture": [-0.1, 0.1],
    "joint_position_noise": 0.005,
    "joint_velocity_noise": 0.05,
}
"""Every range of the matrix at once, drawn per episode (config/train_randomized.yaml trains on it)."""
CONDITIONS: dict[str, dict[str, Any]] = {
    "nominal": {},
    "mass x0.4 (20 g)": {"block_mass_scale": [0.4, 0.4]},
    "mass x4 (200 g)": {"block_mass_scale": [4.0, 4.0]},
    "friction 0.3": {"block_friction": [0.3, 0.3]},
    "friction 1.5": {"block_friction": [1.5, 1.5]},
    "edge 3 cm": {"block_edge": [0.03, 0.03]},
    "edge 5 cm": {"block_edge": [0.05, 0.05]},
    "servo gain x0.75": {"servo_gain_scale": [0.75, 0.75]},
    "servo gain x1.5": {"servo_gain_scale": [1.5, 1.5]},
    "damping x0.3": {"servo_damping_scale": [0.3, 0.3]},
    "damping x3": {"servo_damping_scale": [3.0, 3.0]},
    "latency 20 ms": {"latency_steps": [10, 10]},
    "latency 40 ms": {"latency_steps": [20, 20]},
    "pose bias +5 mm +5 deg, noise": {
        "pose_bias_position": [0.005, 0.005],
        "pose_bias_yaw": [5.0, 5.0],
        **POSE_NOISE,
    },
    "pose bias -5 mm -5 deg, noise": {
        "pose_bias_position": [-0.005, -0.005],
        "pose_bias_yaw": [-5.0, -5.0],
        **POSE_NOISE,
    },
    "start posture +0.1 rad": {"start_posture": [0.1, 0.1]},
    "start posture -0.1 rad": {"start_posture": [-0.1, -0.1]},
    "joint noise 0.005 rad, 0.05 rad/s": {"joint_position_noise": 0.005, "joint_velocity_noise": 0.05},
    "all together": ALL_TOGETHER,
}
"""The built-in matrix: name -> DomainRandomization ranges (README "Robustness")."""


@dataclass
class Placements:
    """`nx` x `ny` points spanning the workspace box (edges included) at `yaws` yaws from -range to
    +range (ends included; one yaw, 0, when the range is 0), then `random` placements as in training."""

    nx: int = 5
    ny: int = 5
    yaws: int = 5
    random: int = 25
    seed: int = 0

    def validate(self) -> None:
        for name in ("nx", "ny", "yaws"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.random < 0:
            raise ValueError(f"random placements must be >= 0, got {self.random}")

    def grid(self, low: np.ndarray, high: np.ndarray, yaw_range_deg: float) -> list[dict[str, Any]]:
        """The grid's cells: x, y (m), yaw (degrees) and whether the point is on the box's boundary."""
        yaw_count = self.yaws if yaw_range_deg > 0 else 1
        yaws = np.linspace(-yaw_range_deg, yaw_range_deg, yaw_count) if yaw_count > 1 else [0.0]
        xs, ys = np.linspace(low[0], high[0], self.nx), np.linspace(low[1], high[1], self.ny)
        return [
            {
                "x": float(x),
                "y": float(y),
                "yaw_deg": float(yaw),
                "boundary": i in (0, self.nx - 1) or j in (0, self.ny - 1),
            }
            for yaw in yaws
            for j, y in enumerate(ys)
            for i, x in enumerate(xs)
        ]


def read_conditions(path: Path) -> dict[str, dict[str, Any]]:
    """A condition file: a mapping of condition names to DomainRandomization ranges; each is
    validated, ValueError naming the condition otherwise."""
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML ({error})") from error
    if not isinstance(values, dict) or not values:
        raise ValueError(f"{path}: expected a mapping of condition names to randomization ranges")
    for name, ranges in values.items():
        try:
            DomainRandomization.from_dict(ranges or {})
        except (ValueError, TypeError) as error:
            raise ValueError(f"{path}: condition {name!r}: {error}") from None
    return {str(name): dict(ranges or {}) for name, ranges in values.items()}


def _controller_summary(result: Any, cells: list[dict[str, Any]]) -> dict[str, Any]:
    from sac_grasp_ros.evaluate import mean_steps_to_grasp

    successes = [bool(s) for s in result.successes]
    boundary = [ok for ok, cell in zip(successes, cells, strict=False) if cell["boundary"]]
    return {
        "episodes": len(successes),
        "success_rate": float(np.mean(successes)),
        "mean_steps_to_grasp": mean_steps_to_grasp(result.lengths, successes),
        "boundary_success_rate": float(np.mean(boundary)) if boundary else None,
        "failures": [i for i, ok in enumerate(successes) if not ok],
    }


def robustness_matrix(
    policy: str | Path,
    out_dir: str | Path | None = None,
    placements: Placements | None = None,
    conditions: dict[str, dict[str, Any]] | None = None,
    reference: bool = True,
    on_condition: Any = None,
) -> dict[str, Any]:
    """Run the matrix; returns the summary (and, with `out_dir`, writes robustness.json and .png).
    `on_condition(row)` is called after each condition (progress lines)."""
    import gymnasium as gym

    from sac_grasp_ros.envs import ENV_ID
    from sac_grasp_ros.evaluate import SCRIPTED, ScriptedActor, load_controller
    from sac_grasp_ros.training.gym_loop import evaluate

    placements = placements or Placements()
    placements.validate()
    conditions = CONDITIONS if conditions is None else conditions
    actor, trained = load_controller(policy)
    if actor is None:  # the scripted controller itself: on the task it was written for
        trained = GraspEnvConfig(random_target=True, target_yaw_range=45.0, reward="shaped")
    base = {**trained.to_dict(), "random_target": True, "seed": None}
    seed = placements.seed + SEED_OFFSET
    rows = []
    started = time.perf_counter()
    for name, ranges in conditions.items():
        config = GraspEnvConfig.from_dict({**base, "randomization": dict(ranges)})
        env = gym.make(ENV_ID, config=config)
        try:
            scene = env.unwrapped.scene
            cells = placements.grid(scene.workspace_low, scene.workspace_high, float(config.target_yaw_range))
            z = float(scene.workspace_low[2])
            options = [
                {"target": [c["x"], c["y"], z], "target_yaw": math.radians(c["yaw_deg"])} for c in cells
            ]
            options += [None] * placements.random  # random placements: the env's own draw
            controllers = {"policy": actor or ScriptedActor(env)}
            if reference and str(policy) != SCRIPTED:
                controllers["scripted"] = ScriptedActor(env)
            row: dict[str, Any] = {"condition": name, "randomization": dict(ranges)}
            for role, controller in controllers.items():
                result = evaluate(env, controller, len(options), seed, options=options)
                row[role] = _controller_summary(result, cells)
        finally:
            env.close()
        rows.append(row)
        if on_condition is not None:
            on_condition(row)
    summary = {
        "policy": str(policy),
        "reference": "scripted" if reference and str(policy) != SCRIPTED else None,
        "placements": {**placements.__dict__, "episodes_per_condition": len(cells) + placements.random},
        "seed": seed,
        "env": {k: v for k, v in base.items() if k not in ("seed", "randomization")},
        "wall_s": round(time.perf_counter() - started, 1),
        "conditions": rows,
    }
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / JSON_FILE, json.dumps(summary, indent=1) + "\n")
        plot_matrix(summary, out / PNG_FILE)
    return summary


def plot_matrix(summary: dict[str, Any], path: str | Path) -> None:
    """Success (left) and mean steps to grasp (right) per condition, the policy beside the reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary["conditions"]
    roles = [role for role in ("policy", "scripted") if role in rows[0]]
    colours = {"policy": "tab:blue", "scripted": "tab:gray"}
    labels = {"policy": Path(summary["policy"]).name or summary["policy"], "scripted": "scripted controller"}
    positions = np.arange(len(rows))[::-1]
    height = 0.8 / len(roles)
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(11, 0.34 * len(rows) + 1.6), sharey=True, layout="constrained"
    )
    for k, role in enumerate(roles):
        offset = (k - (len(roles) - 1) / 2) * height
        success = [row[role]["success_rate"] * 100 for row in rows]
        steps = [row[role]["mean_steps_to_grasp"] or 0.0 for row in rows]
        left.barh(positions - offset, success, height, color=colours[role], label=labels[role])
        right.barh(positions - offset, steps, height, color=colours[role])
        for y, value in zip(positions - offset, success, strict=True):
            left.text(
                min(value, 99) - 1, y, f"{value:.0f}", ha="right", va="center", fontsize=7, color="white"
            )
    left.set_yticks(positions, [row["condition"] for row in rows], fontsize=8)
    left.set_xlim(0, 100)
    left.axvline(95, color="tab:red", linewidth=0.8, linestyle="--")
    left.set_xlabel("success (%)")
    right.set_xlabel("mean steps to grasp (successes)")
    figure.legend(loc="outside lower center", ncols=len(roles), fontsize=8)
    episodes = summary["placements"]["episodes_per_condition"]
    figure.suptitle(
        f"Robustness: {episodes} seeded episodes per condition (grid with corners and edges + random)"
    )
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=80)
    plt.close(figure)


def _progress_line(row: dict[str, Any]) -> str:
    parts = {"condition": row["condition"]}
    for role in ("policy", "scripted"):
        if role in row:
            stats = row[role]
            parts[role] = {
                "success_rate": stats["success_rate"],
                "boundary_success_rate": stats["boundary_success_rate"],
                "mean_steps_to_grasp": stats["mean_steps_to_grasp"],
            }
    return json.dumps(parts)


@dataclass
class RobustnessOptions:
    """A policy's success under what differs between the simulator and a real arm (JSON + plot)."""

    policy: str
    """checkpoint directory, exported policy.pt, or 'scripted'"""
    out: Path = Path("runs/robustness")
    """directory for JSON and PNG"""
    grid: Annotated[tuple[int, int], tyro.conf.arg(metavar="NX NY")] = (5, 5)
    """placements along x and y, spanning the workspace box (edges included)"""
    yaws: int = 5
    """yaws from -range to +range, ends included"""
    random: int = 25
    """random placements (seeded), as in training"""
    seed: int = 0
    """seed of the episodes (their resets and the random placements)"""
    conditions: IfGiven[Path | None] = None
    """YAML mapping of condition names to randomization ranges (default: the built-in matrix)"""
    reference: bool = True
    """run the scripted controller beside the policy (--no-reference: skip its row)"""


def main(argv: list[str] | None = None) -> int:
    args = parse(RobustnessOptions, sys.argv[1:] if argv is None else argv, "sac-grasp robustness")
    try:
        conditions = read_conditions(args.conditions) if args.conditions is not None else None
        placements = Placements(args.grid[0], args.grid[1], args.yaws, args.random, args.seed)
        robustness_matrix(
            args.policy,
            args.out,
            placements,
            conditions,
            reference=args.reference,
            on_condition=lambda row: print(_progress_line(row), flush=True),
        )
    except (ValueError, OSError) as error:
        print(f"sac-grasp robustness: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"out": str(args.out / JSON_FILE), "picture": str(args.out / PNG_FILE)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
