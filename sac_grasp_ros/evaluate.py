"""`sac-grasp evaluate`: a policy's success and steps-to-grasp over the whole workspace and yaw range.

A policy (a checkpoint directory, an exported `policy.pt`, or `scripted`, the Jacobian grasper) acts
deterministically in this process on the grasp env (no ROS), with the task settings it was trained
with (its env.yaml, without its training's domain randomization; `--yaw-range` overrides the block
yaw range, e.g. to try a yaw-0 policy on rotated blocks; `--env-config` can randomize the scene).
It runs one episode per cell of a grid of block placements, x by y over the random_target box and
yaw bin centres over [-range, range], then `random` episodes placed as in training (seeded).
Both go through `training.gym_loop.evaluate`, the loop of every other evaluation, and are summarised
with `training.curve.evaluation_summary` plus the mean steps-to-grasp over the successes (an episode
ends on the grasp, so its length is the steps it took).

Writes `evaluation.json` (overall, grid, per yaw bin, per cell and per random episode) and
`evaluation.png` (success and steps over x-y, one column per yaw bin), both atomically, and prints
the overall summary as one JSON line. `grid_evaluation()` is the same for scripts (bench/learning.py).
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

from sac_grasp_ros.atomic import atomic_path, atomic_write
from sac_grasp_ros.command_line import IfGiven, parse
from sac_grasp_ros.envs.config import POLICY_TASK_FIELDS, GraspEnvConfig, read_env_config
from sac_grasp_ros.policy import Policy, load_policy

SCRIPTED = "scripted"
JSON_FILE = "evaluation.json"
PNG_FILE = "evaluation.png"
RANDOM_SEED_OFFSET = 3_000_000
"""Random placements reset with seeds seed + this + i: apart from training, demo and periodic
evaluation streams (gym_loop's offsets, demos.DEMO_SEED_OFFSET)."""


@dataclass
class GridSpec:
    """Where the grid puts the block: `nx` x `ny` points spanning the random_target box (its edges
    included) and `yaw_bins` equal bins over [-range, range] (one episode at each bin's centre; a
    single bin at 0 when the yaw range is 0). Plus `random` placements drawn as in training."""

    nx: int = 5
    ny: int = 5
    yaw_bins: int = 3
    random: int = 25
    seed: int = 0

    def validate(self) -> None:
        for name in ("nx", "ny", "yaw_bins"):
            if getattr(self, name) < 1:
                raise ValueError(f"grid {name} must be >= 1, got {getattr(self, name)}")
        if self.random < 0:
            raise ValueError(f"random placements must be >= 0, got {self.random}")


class ScriptedActor:
    """The Jacobian grasper as an actor of `env` (it reads the env state, not the observation):
    `act(obs_batch, deterministic=True)` -> its action in [-1, 1], what gym_loop.evaluate calls."""

    def __init__(self, env: Any) -> None:
        from sac_grasp_ros.envs.scripted import ScriptedGrasper

        self.grasper = ScriptedGrasper(env)

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        return np.asarray(self.grasper.act(np.asarray(obs)[0]), dtype=np.float64)[None]


def load_controller(policy: str | Path) -> tuple[Policy | None, GraspEnvConfig]:
    """(the loaded policy, the env settings it was trained with) for a checkpoint directory or an
    exported TorchScript file (`policy.load_policy`); for `scripted`, (None, defaults): its actor
    needs the env (`ScriptedActor`). Raises ValueError saying what is wrong."""
    if str(policy) == SCRIPTED:
        return None, GraspEnvConfig()
    loaded = load_policy(policy)
    return loaded, loaded.env


def grid_placements(config: GraspEnvConfig, grid: GridSpec, low: np.ndarray, high: np.ndarray) -> dict:
    """The grid's axes: x and y (m) spanning the workspace box, yaw bin centres (degrees)."""
    yaw_range = float(config.target_yaw_range)
    bins = grid.yaw_bins if yaw_range > 0 else 1
    edges = np.linspace(-yaw_range, yaw_range, bins + 1)
    return {
        "x": np.linspace(low[0], high[0], grid.nx).tolist(),
        "y": np.linspace(low[1], high[1], grid.ny).tolist(),
        "yaw_deg": ((edges[:-1] + edges[1:]) / 2).tolist(),
        "yaw_bin_edges_deg": edges.tolist(),
        "z": float(low[2]),
    }


def mean_steps_to_grasp(lengths: list[int], successes: list[Any]) -> float | None:
    """Mean length of the successful episodes (an episode ends on the grasp); None without one."""
    grasped = [length for length, ok in zip(lengths, successes, strict=True) if ok]
    return float(np.mean(grasped)) if grasped else None


def _summary(result: Any) -> dict[str, Any]:
    """evaluation_summary's keys plus the mean steps-to-grasp over the successful episodes."""
    return {**result.summary(), "mean_steps_to_grasp": mean_steps_to_grasp(result.lengths, result.successes)}


def _episodes(result: Any) -> list[dict[str, Any]]:
    return [
        {"success": bool(ok), "steps": int(length), "return": round(float(ret), 4)}
        for ret, length, ok in zip(result.returns, result.lengths, result.successes, strict=True)
    ]


def grid_evaluation(
    policy: str | Path,
    out_dir: str | Path | None = None,
    grid: GridSpec | None = None,
    yaw_range: float | None = None,
    env_overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate `policy` on the grid and the random placements; returns the summary (and, with
    `out_dir`, writes evaluation.json and evaluation.png there). `yaw_range` (degrees) and
    `env_overrides` (GraspEnvConfig fields) replace the policy's own env settings."""
    import gymnasium as gym

    from sac_grasp_ros.envs import ENV_ID
    from sac_grasp_ros.training.gym_loop import evaluate

    grid = grid or GridSpec()
    grid.validate()
    actor, trained = load_controller(policy)
    overrides = {**(env_overrides or {}), "random_target": True}  # the random placements
    if yaw_range is not None:
        overrides["target_yaw_range"] = float(yaw_range)
    # A policy trained under domain randomization is evaluated on the nominal scene unless the
    # overrides randomize it (`--env-config`): every policy is then measured on the same episodes.
    nominal = {**trained.to_dict(), "randomization": {}}
    config = GraspEnvConfig.from_dict({**nominal, **overrides, "seed": None})
    env = gym.make(ENV_ID, config=config)
    started = time.perf_counter()
    try:
        if actor is None:
            actor = ScriptedActor(env)
        scene = env.unwrapped.scene
        axes = grid_placements(config, grid, scene.workspace_low, scene.workspace_high)
        cells = [
            {"x": x, "y": y, "yaw_deg": yaw} for yaw in axes["yaw_deg"] for y in axes["y"] for x in axes["x"]
        ]
        options = [
            {"target": [c["x"], c["y"], axes["z"]], "target_yaw": math.radians(c["yaw_deg"])} for c in cells
        ]
        on_grid = evaluate(env, actor, len(cells), grid.seed, options=options)
        random_seed = grid.seed + RANDOM_SEED_OFFSET
        placed = evaluate(env, actor, grid.random, random_seed) if grid.random else None
    finally:
        env.close()
    wall_s = time.perf_counter() - started
    for cell, episode in zip(cells, _episodes(on_grid), strict=True):
        cell.update(episode)
    grid_summary = _summary(on_grid)
    per_bin = []
    for yaw in axes["yaw_deg"]:
        in_bin = [c for c in cells if c["yaw_deg"] == yaw]
        in_bin_successes = [c["success"] for c in in_bin]
        per_bin.append(
            {
                "yaw_deg": yaw,
                "episodes": len(in_bin),
                "success_rate": sum(in_bin_successes) / len(in_bin),
                "mean_steps_to_grasp": mean_steps_to_grasp([c["steps"] for c in in_bin], in_bin_successes),
            }
        )
    lengths = on_grid.lengths + (placed.lengths if placed else [])
    successes = on_grid.successes + (placed.successes if placed else [])
    summary: dict[str, Any] = {
        "policy": str(policy),
        "episodes": len(lengths),
        "success_rate": float(np.mean([bool(s) for s in successes])),
        "mean_steps_to_grasp": mean_steps_to_grasp(lengths, successes),
        "grid": {**grid_summary, "shape": [grid.nx, grid.ny, len(axes["yaw_deg"])]},
        "random": {**_summary(placed), "seed": random_seed} if placed else None,
        "wall_s": round(wall_s, 2),
        "env": {k: v for k, v in config.to_dict().items() if k != "seed"},
        "axes": axes,
        "per_yaw_bin": per_bin,
        "cells": cells,
        "random_episodes": _episodes(placed) if placed else [],
    }
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / JSON_FILE, json.dumps(summary, indent=1) + "\n")
        plot_heatmap(summary, out / PNG_FILE)
    return summary


def plot_heatmap(summary: dict[str, Any], path: str | Path) -> None:
    """Success (top row) and steps-to-grasp (bottom row) over x-y, one column per yaw bin."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes_info = summary["axes"]
    xs, ys, yaws = axes_info["x"], axes_info["y"], axes_info["yaw_deg"]
    max_steps = int(summary["env"]["max_episode_steps"])
    figure, axes = plt.subplots(
        2, len(yaws), figsize=(3.0 * len(yaws) + 1.6, 6.2), squeeze=False, layout="constrained"
    )
    extent = (xs[0], xs[-1], ys[0], ys[-1])
    if len(xs) > 1 and len(ys) > 1:  # cells centred on the grid points
        dx, dy = (xs[-1] - xs[0]) / (len(xs) - 1) / 2, (ys[-1] - ys[0]) / (len(ys) - 1) / 2
        extent = (xs[0] - dx, xs[-1] + dx, ys[0] - dy, ys[-1] + dy)
    for column, yaw in enumerate(yaws):
        success = np.full((len(ys), len(xs)), np.nan)
        steps = np.full((len(ys), len(xs)), np.nan)
        for cell in summary["cells"]:
            if cell["yaw_deg"] != yaw:
                continue
            i, j = ys.index(cell["y"]), xs.index(cell["x"])
            success[i, j] = float(cell["success"])
            steps[i, j] = cell["steps"] if cell["success"] else np.nan
        top, bottom = axes[0, column], axes[1, column]
        image = top.imshow(
            success, origin="lower", extent=extent, vmin=0, vmax=1, cmap="RdYlGn", aspect="auto"
        )
        top.set_title(f"yaw {yaw:+.1f} deg: success {np.nanmean(success):.0%}", fontsize=9)
        image_steps = bottom.imshow(
            steps, origin="lower", extent=extent, vmin=0, vmax=max_steps, cmap="viridis_r", aspect="auto"
        )
        finite = steps[np.isfinite(steps)]
        bottom.set_title(
            f"steps to grasp: mean {finite.mean():.1f}" if finite.size else "no grasp", fontsize=9
        )
        if len(xs) * len(ys) <= 64:  # small grids: the numbers themselves
            for (i, j), value in np.ndenumerate(steps):
                bottom.text(
                    xs[j],
                    ys[i],
                    "x" if np.isnan(value) else f"{value:.0f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="tab:red" if np.isnan(value) else "white" if value > max_steps / 2 else "black",
                )
        bottom.set_xlabel("block x (m)")
        if column == 0:
            top.set_ylabel("block y (m)")
            bottom.set_ylabel("block y (m)")
    figure.colorbar(image, ax=axes[0, :].tolist(), label="success")
    figure.colorbar(image_steps, ax=axes[1, :].tolist(), label="steps (x: no grasp)")
    mean_steps = summary["mean_steps_to_grasp"]
    name = Path(str(summary["policy"])).name
    rate, episodes = summary["success_rate"], summary["episodes"]
    steps_text = f"mean steps to grasp {mean_steps:.1f}" if mean_steps is not None else "no grasp"
    figure.suptitle(f"{name}: success {rate:.0%} over {episodes} episodes (grid + random), {steps_text}")
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=80)
    plt.close(figure)


@dataclass
class EvaluateOptions:
    """A policy's success and steps-to-grasp over a grid of block placements and yaws (JSON + heatmap)."""

    policy: str
    """checkpoint directory, exported policy.pt, or 'scripted' (the Jacobian grasper)"""
    out: Path = Path("runs/evaluate")
    """directory for JSON and PNG"""
    grid: Annotated[tuple[int, int], tyro.conf.arg(metavar="NX NY")] = (5, 5)
    """placements along x and y over the random_target box"""
    yaw_bins: int = 3
    """yaw bins over [-range, range]"""
    random: int = 25
    """random placements (seeded), as in training"""
    seed: int = 0
    """seed of the episodes (their resets and the random placements)"""
    yaw_range: IfGiven[float | None] = None
    """block yaw range in degrees (default: the policy's env.yaml; 0 = yaw 0; 45 = every yaw)"""
    env_config: IfGiven[Path | None] = None
    """env settings (GraspEnvConfig YAML or graph config); a trained policy keeps its task fields"""


def main(argv: list[str] | None = None) -> int:
    args = parse(EvaluateOptions, sys.argv[1:] if argv is None else argv, "sac-grasp evaluate")
    try:
        overrides = None
        if args.env_config is not None:
            overrides = read_env_config(args.env_config, args.env_config.parent).to_dict()
            if args.policy != SCRIPTED:  # a trained policy keeps what it sees and commands
                overrides = {k: v for k, v in overrides.items() if k not in POLICY_TASK_FIELDS}
        grid = GridSpec(args.grid[0], args.grid[1], args.yaw_bins, args.random, args.seed)
        summary = grid_evaluation(args.policy, args.out, grid, args.yaw_range, overrides)
    except (ValueError, OSError) as error:
        print(f"sac-grasp evaluate: {error}", file=sys.stderr)
        return 2
    keys = ("policy", "episodes", "success_rate", "mean_steps_to_grasp", "grid", "random", "wall_s")
    print(json.dumps({**{key: summary[key] for key in keys}, "out": str(args.out)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
