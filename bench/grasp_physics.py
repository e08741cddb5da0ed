"""Grasp physics over block mass x edge x friction: does the scripted grasper's grasp hold?

    .venv/bin/python bench/grasp_physics.py [--episodes 100] [--json bench/results/grasp_physics.json]

For each corner of the ranges (and the default block) the scripted grasper runs `--episodes` episodes
on seeded random placements (position and yaw in [-45, 45] degrees). After each successful grasp
(the env's close-and-lift check), the hand lifts on to 10 cm above the block's resting height and
holds still for 10 s. Measured per corner:
- success: episodes that ended in a grasp;
- blow-ups: episodes ended by the env's NaN reset (MuJoCo met NaN/inf/huge values);
- slip: how far the block moved in the tool frame during the 10 s hold (max and median, mm);
- drops: holds in which the block left the fingers;
- penetration: the deepest contact during the holds (mm);
- friction budget: 2 * friction * grip force / (mass * g), the margin the grip has on the weight.
Prints a Markdown table (README's) and, with --json, writes the rows.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from sac_grasp_ros.envs.grasp_env import GraspEnv
from sac_grasp_ros.envs.scripted import ScriptedGrasper
from sac_grasp_ros.scene.base import HOLD_MARGIN
from sac_grasp_ros.scene.kinematics import damped_pinv, euler_to_matrix

LIFT_TOTAL = 0.10
"""m above the resting height the block is carried to before the hold."""
LIFT_SPEED = 0.1
"""m/s of the extra lift."""
HOLD_SECONDS = 10.0
MASSES = (0.02, 1.0)
EDGES = (0.03, 0.05)
FRICTIONS = (0.3, 1.5)
DEFAULT_BLOCK = (0.05, 0.04, 1.5)


def block_in_tool(env: GraspEnv) -> np.ndarray:
    """The block centre in the tool frame: what stays constant while the grip holds."""
    scene = env.scene
    rotation = euler_to_matrix(scene.gripper_euler())
    return rotation.T @ (scene.target_position() - scene.gripper_position())


def lift_and_hold(env: GraspEnv, rest_z: float) -> tuple[float, bool, float, bool]:
    """Carry the grasped block to LIFT_TOTAL above rest_z, hold HOLD_SECONDS: (slip m, dropped,
    deepest penetration m, blew up)."""
    scene = env.scene
    period = scene.control_period
    while scene.target_position()[2] < rest_z + LIFT_TOTAL and not scene.diverged():
        scene.step(damped_pinv(scene.tool_jacobian()) @ np.array([0.0, 0.0, LIFT_SPEED, 0.0, 0.0, 0.0]))
        if scene.gripper_position()[2] > rest_z + 2 * LIFT_TOTAL:  # the block stayed behind
            break
    still = np.zeros(7)
    scene.step(still)
    start = block_in_tool(env)
    deepest = 0.0
    data = getattr(scene, "data", None)
    for _ in range(round(HOLD_SECONDS / period)):
        scene.step(still)
        if scene.diverged():
            return math.nan, True, deepest, True
        if data is not None and data.ncon:
            deepest = min(deepest, float(data.contact.dist[: data.ncon].min()))
    slip = float(np.linalg.norm(block_in_tool(env) - start))
    dropped = bool(
        scene.target_position()[2] < rest_z + 0.5 * LIFT_TOTAL or not all(scene.pads_touch_target())
    )
    return slip, dropped, -deepest, False


def measure(mass: float, edge: float, friction: float, episodes: int, seed: int) -> dict:
    env = GraspEnv(
        random_target=True,
        target_yaw_range=45.0,
        observation="symmetric",
        block_mass=mass,
        block_edge=edge,
        block_friction=friction,
    )
    grasper = ScriptedGrasper(env)
    rest_z = float(env.scene.workspace_low[2])
    successes, blowups, drops, hold_blowups = 0, 0, 0, 0
    slips: list[float] = []
    penetrations: list[float] = []
    steps_to_grasp: list[int] = []
    env_steps = 0
    start = time.perf_counter()
    env.reset(seed=seed)
    for _ in range(episodes):
        obs, _ = env.reset()
        info: dict = {}
        episode_steps = 0
        while episode_steps < env.config.max_episode_steps:
            obs, _, terminated, truncated, info = env.step(grasper.act(obs))
            episode_steps += 1
            if terminated or truncated:
                break
        env_steps += episode_steps
        blowups += bool(info.get("nan_reset"))
        if not info.get("success"):
            continue
        successes += 1
        steps_to_grasp.append(episode_steps)
        slip, dropped, penetration, blew_up = lift_and_hold(env, rest_z)
        hold_blowups += blew_up
        drops += dropped
        penetrations.append(penetration)
        if not blew_up and not dropped:
            slips.append(slip)
    env.close()
    budget = env.config.block_properties().friction_budget()
    return {
        "mass_kg": mass,
        "edge_m": edge,
        "friction": friction,
        "friction_budget": round(budget, 2),
        "holdable": budget >= HOLD_MARGIN,
        "episodes": episodes,
        "success_rate": successes / episodes,
        "blowups": blowups + hold_blowups,
        "drops": drops,
        "slip_mm_max": round(1000 * max(slips), 3) if slips else None,
        "slip_mm_median": round(1000 * float(np.median(slips)), 3) if slips else None,
        "penetration_mm_max": round(1000 * max(penetrations), 2) if penetrations else None,
        "mean_steps_to_grasp": round(float(np.mean(steps_to_grasp)), 1) if steps_to_grasp else None,
        "env_steps": env_steps,
        "seconds": round(time.perf_counter() - start, 1),
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| mass | edge | friction | budget | grasped | blow-ups | drops | slip max / median | penetration |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        slip = "-" if r["slip_mm_max"] is None else f"{r['slip_mm_max']:.2f} / {r['slip_mm_median']:.2f} mm"
        pen = "-" if r["penetration_mm_max"] is None else f"{r['penetration_mm_max']:.1f} mm"
        budget = f"{r['friction_budget']:.1f}x" + ("" if r["holdable"] else " (under 1.5x)")
        lines.append(
            f"| {r['mass_kg'] * 1000:g} g | {r['edge_m'] * 100:g} cm | {r['friction']:g} | {budget} | "
            f"{r['success_rate'] * 100:.0f} % | {r['blowups']} | {r['drops']} | {slip} | {pen} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--block",
        action="append",
        default=None,
        metavar="MASS,EDGE,FRICTION",
        help="measure this block instead of the corners (repeatable), e.g. 0.15,0.04,1.5",
    )
    args = parser.parse_args(argv)
    if args.block:
        blocks = [tuple(float(v) for v in spec.split(",")) for spec in args.block]
    else:
        blocks = [DEFAULT_BLOCK, *itertools.product(MASSES, EDGES, FRICTIONS)]
    rows = []
    for mass, edge, friction in blocks:
        row = measure(mass, edge, friction, args.episodes, args.seed)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(table(rows))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
