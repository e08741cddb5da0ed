"""A simulator worker's episodes as GIF files, one per episode, rendered as the episode runs.

Recording starts with the first reset request (an evaluation begins with one: the episodes a
controller runs, not the warm-up before it); the episode a reset cuts short is dropped. Each frame is
captioned with the worker, episode, step and return. A file that cannot be written costs that video,
not the worker: the error is logged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sac_grasp_ros.recording.video import EpisodeVideo


class EpisodeGifs:
    """Writes `<directory>/<worker>_episode_NNNN.gif` for every episode after `start()`."""

    def __init__(self, model: Any, directory: str | Path, fps: float, worker: str, log: Any) -> None:
        """`model`: the scene's MjModel; `worker`: its name in captions and file names ('/' allowed);
        `log`: anything with `error` (a logging.Logger, an rclpy logger)."""
        self.video = EpisodeVideo(model)
        self.directory, self.fps, self.worker, self.log = Path(directory), fps, worker, log
        self.on = False

    def start(self) -> None:
        """A reset was requested: drop the episode it cuts short, record from here on."""
        self.video.discard()
        self.on = True

    def capture(self, data: Any, episode: int, step: int, episode_return: float, success: bool) -> None:
        """A frame of `data` (the scene's MjData) for the running episode."""
        if not self.on:
            return
        caption = f"{self.worker} ep {episode} step {step} return {episode_return:.2f}"
        self.video.capture(data, caption + (" SUCCESS" if success else ""))

    def save(self, episode: int) -> Path | None:
        """The episode ended: write its frames; the path, or None (nothing recorded, or not written)."""
        if not self.video.frames:
            return None
        path = self.directory / f"{self.worker.replace('/', '_')}_episode_{episode:04d}.gif"
        try:
            return self.video.save(path, self.fps)
        except OSError as error:  # a full disk or a bad directory costs the video, not the worker
            self.video.discard()
            self.log.error(f"could not write {path}: {error}")
            return None

    def close(self) -> None:
        self.video.close()
