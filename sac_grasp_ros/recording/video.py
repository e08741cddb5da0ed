"""Episode videos: frames rendered off-screen with `mujoco.Renderer`, written as animated GIF.

GIF with Pillow, not MP4: Pillow is installed already (matplotlib needs it), so videos add no
dependency, while MP4 needs ffmpeg (`imageio-ffmpeg`'s wheel is 68 MB). Each frame carries a one-line
caption (worker, episode, step, return), which also keeps every frame distinct: Pillow folds
identical consecutive GIF frames into one, and a video should have one frame per env step.

Used by the simulator node (`video_dir` parameter: `sac-grasp test --video DIR`) and in-process by
`sac_grasp_ros.video` (`sac-grasp video`).
"""

from __future__ import annotations

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
