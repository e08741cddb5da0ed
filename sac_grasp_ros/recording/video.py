"""Episode videos: frames rendered off-screen with `mujoco.Renderer`, written as animated GIF.

GIF with Pillow, not MP4: Pillow is installed already (matplotlib needs it), so videos add no
dependency, while MP4 needs ffmpeg (`imageio-ffmpeg`'s wheel is 68 MB). Each frame carries a one-line
caption (worker, episode, step, return), which also keeps every frame distinct: Pillow folds
identical consecutive GIF frames into one, and a video should have one frame per env step.

Used by the simulator node (`video_dir` parameter: `sac-grasp test --video DIR`) and in-process by
`record_policy_episodes` (`sac-grasp video`, and any evaluate command).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from sac_grasp_ros.atomic import atomic_path

VIDEO_SIZE = (240, 320)
"""height, width of a frame in pixels (the env's render size)"""
CAMERA = "overview"


class EpisodeVideo:
    """Collects one episode's frames from a MuJoCo model/data pair and writes them as a GIF."""

    def __init__(self, model: Any, size: tuple[int, int] = VIDEO_SIZE, shadows: bool = False) -> None:
        """`shadows` off by default: about 3x faster to render (platform notes), little lost at this size."""
        import mujoco

        self._renderer = mujoco.Renderer(model, *size)
        self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = shadows
        self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
        self.frames: list[np.ndarray] = []

    def capture(self, data: Any, caption: str = "") -> None:
        """Render the current state of `data` and keep it as the next frame."""
        self._renderer.update_scene(data, camera=CAMERA)
        frame = self._renderer.render()
        self.frames.append(draw_caption(frame, caption) if caption else frame.copy())

    def save(self, path: str | Path, fps: float) -> Path:
        """Write the frames collected so far (atomically) and start a new episode."""
        path = write_gif(self.frames, path, fps)
        self.frames = []
        return path

    def discard(self) -> None:
        """Drop an unfinished episode's frames."""
        self.frames = []

    def close(self) -> None:
        self._renderer.close()


def draw_caption(frame: np.ndarray, caption: str) -> np.ndarray:
    """The frame with `caption` in a dark band along its top edge."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, image.width, 13), fill=(0, 0, 0))
    draw.text((3, 1), caption, fill=(255, 255, 255))
    return np.asarray(image)


def write_gif(frames: list[np.ndarray], path: str | Path, fps: float) -> Path:
    """An animated GIF (looping) of RGB uint8 frames, one per env step, at `fps` frames per second."""
    from PIL import Image

    if not frames:
        raise ValueError(f"no frames to write to {path}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(np.asarray(f, dtype=np.uint8)) for f in frames]
    duration = max(20, round(1000.0 / fps))  # ms; browsers treat < 20 ms as 100 ms
    with atomic_path(path) as temporary:
        images[0].save(
            temporary, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0
        )
    return path


def record_policy_episodes(
    policy: str | Path,
    episodes: int,
    out_dir: str | Path,
    seed: int = 0,
    env_overrides: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Run `episodes` deterministic episodes of a policy in this process, one GIF each.

    The policy and its env (its env.yaml, found as `sac-grasp evaluate` finds it: a checkpoint
    directory, an exported policy.pt or `scripted`) come from `evaluate.load_policy`, with
    `env_overrides` on top. Returns one summary per episode: file, steps, frames, return, success.
    """
    from sac_grasp_ros.envs.config import GraspEnvConfig
    from sac_grasp_ros.envs.grasp_env import GraspEnv
    from sac_grasp_ros.evaluate import load_policy, scripted_actor
    from sac_grasp_ros.training.gym_loop import evaluate

    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    actor, trained = load_policy(policy)
    config = GraspEnvConfig.from_dict({**trained.to_dict(), **(env_overrides or {})})
    env = GraspEnv(config)
    if actor is None:
        actor = scripted_actor(env)
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


def main(argv: list[str]) -> int:
    """`sac-grasp video`: GIFs of a policy's evaluation episodes, rendered in this process (no ROS)."""
    parser = argparse.ArgumentParser(prog="sac-grasp video", description=main.__doc__)
    parser.add_argument(
        "--policy", help="checkpoint directory, exported policy.pt or 'scripted' (default: shipped policy)"
    )
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--out", default="videos", help="directory for episode_NNNN.gif")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-episode-steps", type=int, help="override the policy's episode length")
    args = parser.parse_args(argv)
    os.environ.setdefault("MUJOCO_GL", "egl")  # off-screen; read when mujoco is first imported
    from sac_grasp_ros import paths
    from sac_grasp_ros.deploy import DeploymentError
    from sac_grasp_ros.graph.arguments import SHIPPED_POLICY

    policy = Path(args.policy) if args.policy else paths.models_dir() / SHIPPED_POLICY
    overrides = {"max_episode_steps": args.max_episode_steps} if args.max_episode_steps else {}
    try:
        results = record_policy_episodes(policy, args.episodes, args.out, args.seed, overrides)
    except (DeploymentError, ValueError) as error:
        print(f"sac-grasp video: {error}", file=sys.stderr)
        return 2
    for result in results:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
