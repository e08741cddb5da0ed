"""`sac-grasp rollout`: run the grasp env with the scripted or a random policy and print a JSON summary.

Also saves one rendered frame of the scene (`--render out.png`), which is how docs/scene.png is made.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from sac_grasp_ros.command_line import IfGiven, parse, usage_error
from sac_grasp_ros.envs.config import ObservationMode, RewardMode
from sac_grasp_ros.scene import Backend


@dataclass
class RolloutOptions:
    """Run the grasp env with the scripted or a random policy and print a JSON summary."""

    policy: Literal["scripted", "random"] = "scripted"
    """the Jacobian grasper, or uniformly random actions"""
    episodes: int = 5
    """episodes to run"""
    seed: int = 0
    """seed of the first episode (one more for each next one)"""
    random_target: bool = False
    """place the block at random"""
    yaw_range: float = 0.0
    """degrees: with --random-target, the block's yaw is drawn in [-range, range] (0: yaw 0)"""
    max_episode_steps: IfGiven[int | None] = None
    """steps before truncation (default: GraspEnvConfig's)"""
    observation: ObservationMode = "original"
    """observation layout (GraspEnvConfig.observation)"""
    reward: RewardMode = "original"
    """reward terms (GraspEnvConfig.reward)"""
    backend: Backend = "mujoco"
    """simulator (GraspEnvConfig.backend)"""
    render: IfGiven[Path | None] = None
    """save a PNG of the scene after the first reset to this file (mujoco backend)"""


def _parse(argv: list[str]) -> RolloutOptions:
    args = parse(RolloutOptions, argv, "sac-grasp rollout")
    if args.episodes < 0:
        usage_error("sac-grasp rollout", "--episodes must be >= 0")
    return args


def save_frame(frame: np.ndarray, path: Path) -> None:
    """Write an RGB frame as PNG (matplotlib is a project dependency; no extra imaging library)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    plt.imsave(path, frame)


def main(argv: list[str]) -> int:
    args = _parse(argv)
    if args.render is not None:
        os.environ.setdefault("MUJOCO_GL", "egl")
    from sac_grasp_ros.envs.config import GraspEnvConfig
    from sac_grasp_ros.envs.grasp_env import GraspEnv
    from sac_grasp_ros.envs.scripted import ScriptedGrasper

    overrides = {
        "random_target": args.random_target,
        "target_yaw_range": args.yaw_range,
        "observation": args.observation,
        "reward": args.reward,
        "backend": args.backend,
    }
    if args.max_episode_steps is not None:
        overrides["max_episode_steps"] = args.max_episode_steps
    try:
        config = GraspEnvConfig.from_dict(overrides)
    except ValueError as error:
        print(f"sac-grasp rollout: {error}", file=sys.stderr)
        return 2
    try:
        env = GraspEnv(config, render_mode="rgb_array" if args.render else None)
    except (RuntimeError, ValueError) as error:  # e.g. the pyrep backend without PyRep installed
        print(f"sac-grasp rollout: {error}", file=sys.stderr)
        return 2
    try:
        controller = ScriptedGrasper(env)
        env.action_space.seed(args.seed)
        if args.render is not None:
            env.reset(seed=args.seed)
            save_frame(env.render(), args.render)
        returns, successes, steps = [], 0, 0
        start = time.perf_counter()
        for episode in range(args.episodes):
            obs, _ = env.reset(seed=args.seed + episode)
            episode_return, done, info = 0.0, False, {}
            while not done:
                action = controller.act(obs) if args.policy == "scripted" else env.action_space.sample()
                obs, reward, terminated, truncated, info = env.step(action)
                episode_return += reward
                steps += 1
                done = terminated or truncated
            returns.append(episode_return)
            successes += bool(info.get("success", False))
        elapsed = time.perf_counter() - start
    finally:
        env.close()
    summary = {
        "episodes": args.episodes,
        "success_rate": successes / args.episodes if args.episodes else 0.0,
        "mean_return": float(np.mean(returns)) if returns else 0.0,
        "env_steps": steps,
        "steps_per_s": steps / elapsed if elapsed > 0 else 0.0,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
