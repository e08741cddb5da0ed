"""`sac-grasp rollout`: run the grasp env with the scripted or a random policy and print a JSON summary.

Also saves one rendered frame of the scene (`--render out.png`), which is how docs/scene.png is made.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from sac_grasp_ros.envs.config import OBSERVATIONS


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sac-grasp rollout", description=__doc__)
    parser.add_argument("--policy", choices=("scripted", "random"), default="scripted")
    parser.add_argument("--episodes", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--random-target", action="store_true", help="place the block at random")
    parser.add_argument(
        "--yaw-range",
        type=float,
        default=0.0,
        help="degrees: with --random-target, the block's yaw is drawn in [-range, range] (0: yaw 0)",
    )
    parser.add_argument("--max-episode-steps", type=int, default=None)
    parser.add_argument("--observation", choices=OBSERVATIONS, default="original")
    parser.add_argument("--reward", choices=("original", "shaped"), default="original")
    parser.add_argument("--backend", choices=("mujoco", "pyrep"), default="mujoco")
    parser.add_argument(
        "--render",
        type=Path,
        default=None,
        help="save a PNG of the scene after the first reset (mujoco backend)",
    )
    args = parser.parse_args(argv)
    if args.episodes < 0:
        parser.error("--episodes must be >= 0")
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
