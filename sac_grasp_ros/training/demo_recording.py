"""Scripted grasp demonstrations for learners that load demos (the recipe, the ROS agent node).

Kept apart from the recipe's CLI so the launcher (`sac-grasp train` with `graph.demos`) and
`sac-grasp record-demos` record with the same env settings the simulator workers use. Imports no rclpy.

    sac-grasp record-demos demos.npz --episodes 100 --config config/train.yaml
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sac_grasp_ros.envs.config import GraspEnvConfig
from sac_grasp_ros.envs.grasp_env import GraspEnv
from sac_grasp_ros.envs.scripted import ScriptedGrasper
from sac_grasp_ros.sac import save_demos
from sac_grasp_ros.sac.replay import TRANSITION_FIELDS

DEFAULT_DEMO_SEED = 2_000_000
"""Demo targets come from a seed range disjoint from training (seed + i) and evaluation streams."""


@dataclass
class DemoStats:
    episodes: int
    transitions: int
    successes: int
    mean_length: float = 0.0


def scripted_transitions(env: GraspEnv, episodes: int, seed: int) -> tuple[dict[str, np.ndarray], DemoStats]:
    """Run the scripted controller for `episodes` episodes; transitions in the learner's demo layout.

    Episodes reset with seeds seed, seed + 1, ...; time-limit truncations are stored as non-terminal
    (the learner bootstraps through them), real terminations (grasp, fall) as terminal.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    obs_dim = int(env.observation_space.shape[0])
    act_dim = int(env.action_space.shape[0])
    rows: dict[str, list[np.ndarray]] = {name: [] for name in TRANSITION_FIELDS}
    controller = ScriptedGrasper(env)
    successes, lengths = 0, []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        done, length, success = False, 0, False
        while not done:
            action = controller.act(obs)
            next_obs, reward, terminated, truncated, info = env.step(action)
            for name, value in zip(
                TRANSITION_FIELDS, (obs, action, reward, next_obs, terminated), strict=True
            ):
                rows[name].append(np.asarray(value))
            success = success or bool(info["success"])
            obs, length, done = next_obs, length + 1, terminated or truncated
        successes += int(success)
        lengths.append(length)
    arrays = {name: np.stack(values) for name, values in rows.items()}
    arrays["rewards"] = arrays["rewards"].astype(np.float32)
    if (arrays["obs"].shape[1], arrays["actions"].shape[1]) != (obs_dim, act_dim):
        raise ValueError(f"scripted transitions have shapes {arrays['obs'].shape}, {arrays['actions'].shape}")
    stats = DemoStats(episodes, len(rows["obs"]), successes, float(np.mean(lengths)))
    return arrays, stats


def record_demos(env: GraspEnv, episodes: int, seed: int, path: str | Path) -> DemoStats:
    """Record scripted episodes to a demonstration .npz that `sac_grasp_ros.sac.load_demos` accepts."""
    arrays, stats = scripted_transitions(env, episodes, seed)
    save_demos(
        path, arrays["obs"], arrays["actions"], arrays["rewards"], arrays["next_obs"], arrays["terminated"]
    )
    return stats


ENV_KEYS = {f.name for f in dataclasses.fields(GraspEnvConfig)}


def env_config_from(settings: GraspEnvConfig | dict[str, Any] | None) -> GraspEnvConfig:
    """A GraspEnvConfig from a config object or a node parameter block (non-env keys are ignored)."""
    if isinstance(settings, GraspEnvConfig):
        return settings
    values = {k: v for k, v in (settings or {}).items() if k in ENV_KEYS}
    return GraspEnvConfig.from_dict(values)


def record_scripted_demos(
    env_config: GraspEnvConfig | dict[str, Any] | None, episodes: int, seed: int, path: str | Path
) -> DemoStats:
    """Record `episodes` scripted episodes (reset seeds seed, seed + 1, ...) of the env `env_config`.

    `env_config` may be the sim_node parameter block of a training config: the demos then have the
    workers' observation and action layout, so the agent accepts them.
    """
    config = dataclasses.replace(env_config_from(env_config), seed=seed)
    env = GraspEnv(config)
    try:
        stats = record_demos(env, episodes, seed, path)
    finally:
        env.close()
    if stats.successes == 0:
        raise ValueError(f"no scripted episode of {episodes} succeeded: these demos would teach nothing")
    return stats


def main(argv: list[str] | None = None) -> int:
    """`sac-grasp record-demos`: scripted demonstrations with the sim_node settings of a config."""
    from sac_grasp_ros import graph
    from sac_grasp_ros.paths import config_file

    parser = argparse.ArgumentParser(
        prog="sac-grasp record-demos",
        description="record scripted grasp demonstrations to a .npz (sac_grasp_ros.demos/1 format) "
        "with the simulator settings (sim_node block) of a training config",
    )
    parser.add_argument("out", help="demonstration file to write")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=DEFAULT_DEMO_SEED)
    parser.add_argument("--config", default="train.yaml", help="config file (name in config/ or a path)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        path = Path(args.config) if Path(args.config).is_file() else config_file(args.config)
        settings = graph.node_parameters(graph.load_config(path), "sim_node")
        stats = record_scripted_demos(settings, args.episodes, args.seed, args.out)
    except (ValueError, OSError) as error:
        print(f"sac-grasp record-demos: error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"out": args.out, **dataclasses.asdict(stats)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
