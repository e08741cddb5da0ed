"""`sac-grasp video`: GIFs of a policy's evaluation episodes, rendered in this process (no ROS).

An application of the core: the policy comes from `evaluate.load_controller`, the episodes from the
trainer's evaluation loop, the frames from `recording.video.EpisodeVideo`.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sac_grasp_ros.command_line import IfGiven, parse
from sac_grasp_ros.recording.video import EpisodeVideo


def record_policy_episodes(
    policy: str | Path,
    episodes: int,
    out_dir: str | Path,
    seed: int = 0,
    env_overrides: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Run `episodes` deterministic episodes of a policy in this process, one GIF each.

    The policy and its env (its env.yaml, found as `sac-grasp evaluate` finds it: a checkpoint
    directory, an exported policy.pt or `scripted`) come from `evaluate.load_controller`, with
    `env_overrides` on top. Returns one summary per episode: file, steps, frames, return, success.
    """
    from sac_grasp_ros.envs.config import GraspEnvConfig
    from sac_grasp_ros.envs.grasp_env import GraspEnv
    from sac_grasp_ros.evaluate import ScriptedActor, load_controller
    from sac_grasp_ros.training.gym_loop import evaluate

    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    actor, trained = load_controller(policy)
    config = GraspEnvConfig.from_dict({**trained.to_dict(), **(env_overrides or {})})
    env = GraspEnv(config)
    if actor is None:
        actor = ScriptedActor(env)
    video = EpisodeVideo(env.scene.model)
    fps = 1.0 / config.control_period
    results: list[dict[str, Any]] = []

    def capture(episode: int, step: int, total: float, done: bool, info: dict[str, Any]) -> None:
        success = " SUCCESS" if info.get("success") else ""
        video.capture(env.scene.data, f"episode {episode} step {step} return {total:.2f}{success}")
        if done:
            frames = len(video.frames)
            path = video.save(Path(out_dir) / f"episode_{episode:04d}.gif", fps)
            results.append({"file": str(path), "steps": step, "frames": frames, "return": total,
                            "success": bool(info.get("success", False))})  # fmt: skip

    try:
        evaluate(env, actor, episodes, seed, on_step=capture)  # the trainer's evaluation loop
    finally:
        video.close()
        env.close()
    return results


@dataclass
class VideoOptions:
    """GIFs of a policy's evaluation episodes, rendered in this process (no ROS)."""

    policy: IfGiven[str | None] = None
    """checkpoint directory, exported policy.pt or 'scripted' (default: models/sawyer_grasp_sac)"""
    episodes: int = 3
    """episodes to record, one GIF each"""
    out: str = "videos"
    """directory for episode_NNNN.gif"""
    seed: int = 0
    """seed of the first episode"""
    max_episode_steps: IfGiven[int | None] = None
    """override the policy's episode length"""


def main(argv: list[str]) -> int:
    """`sac-grasp video`: GIFs of a policy's evaluation episodes, rendered in this process (no ROS)."""
    args = parse(VideoOptions, argv, "sac-grasp video")
    os.environ.setdefault("MUJOCO_GL", "egl")  # off-screen; read when mujoco is first imported
    from sac_grasp_ros import paths
    from sac_grasp_ros.paths import SHIPPED_POLICY

    policy = Path(args.policy) if args.policy else paths.models_dir() / SHIPPED_POLICY
    overrides = {"max_episode_steps": args.max_episode_steps} if args.max_episode_steps else {}
    try:
        results = record_policy_episodes(policy, args.episodes, args.out, args.seed, overrides)
    except ValueError as error:  # a PolicyError is one
        print(f"sac-grasp video: {error}", file=sys.stderr)
        return 2
    for result in results:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
