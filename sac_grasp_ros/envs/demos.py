"""Scripted grasp demonstrations, recorded in the learner's demo format (`sac_grasp_ros.sac.load_demos`).

Used by learners that start from demos: the graph's run preparation (`graph.demos` of a training
config, `sac-grasp record-demos`) and the in-process recipe. Records with the same env settings as
the simulator workers when given their sim_node parameter block. Imports no rclpy.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sac_grasp_ros.envs.config import GraspEnvConfig
from sac_grasp_ros.envs.grasp_env import GraspEnv
from sac_grasp_ros.envs.scripted import ScriptedGrasper
from sac_grasp_ros.sac import save_demos
from sac_grasp_ros.sac.replay import TRANSITION_FIELDS

DEMO_SEED_OFFSET = 2_000_000
"""Recorded demos reset with seeds from here on (+ the graph seed): targets apart from the training
workers' (graph seed + i) and the evaluation streams."""


@dataclass
class DemoStats:
    """What a recording produced: the agent's demo stages need successes, not just transitions."""

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


def record_scripted_demos(
    env_config: GraspEnvConfig | dict[str, Any] | None, episodes: int, seed: int, path: str | Path
) -> DemoStats:
    """Record `episodes` scripted episodes (reset seeds seed, seed + 1, ...) of the env `env_config`.

    `env_config` may be the sim_node parameter block of a training config: the demos then have the
    workers' observation and action layout, so the agent accepts them.
    """
    if not isinstance(env_config, GraspEnvConfig):
        env_config = GraspEnvConfig.from_node_parameters(env_config)
    env = GraspEnv(dataclasses.replace(env_config, seed=seed))
    try:
        stats = record_demos(env, episodes, seed, path)
    finally:
        env.close()
    if stats.successes == 0:
        raise ValueError(f"no scripted episode of {episodes} succeeded: these demos would teach nothing")
    return stats
