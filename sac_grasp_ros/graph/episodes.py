"""Episodes of a simulator told apart from its step messages: how `sac-grasp deploy --episodes N`
measures a deployed policy's success without touching the graph (ROS-free; the monitor feeds it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sac_grasp_ros.graph.protocol import HEADER_FIELDS

_INDEX = {name: i for i, name in enumerate(HEADER_FIELDS)}


class EpisodeTally:
    """Counts the episodes whose whole course it saw (step 0 to the end), from the step headers of one
    simulator: an episode already running when counting starts, or cut by a simulator restart, is not
    counted."""

    def __init__(self) -> None:
        self.successes: list[bool] = []
        self.lengths: list[int] = []
        self._current: tuple[int, int] | None = None
        """(session, episode) seen from its step 0 on"""
        self._last_step = -1

    @property
    def episodes(self) -> int:
        return len(self.successes)

    def observe(self, header: Sequence[float]) -> None:
        """One step message's header (protocol.HEADER_FIELDS order)."""
        key = (int(header[_INDEX["session"]]), int(header[_INDEX["episode"]]))
        step = int(header[_INDEX["step"]])
        if step == 0:
            self._current, self._last_step = key, 0
            return
        if key != self._current or step != self._last_step + 1:  # a gap: this episode is not whole
            self._current = None
            return
        self._last_step = step
        done = any(header[_INDEX[name]] > 0.5 for name in ("terminated", "truncated", "aborted"))
        if done:
            self.successes.append(bool(header[_INDEX["success"]] > 0.5))
            self.lengths.append(step)
            self._current = None

    def summary(self) -> dict[str, Any]:
        """episodes, success_rate, mean_steps_to_grasp (successes), mean_length."""
        grasped = [n for n, ok in zip(self.lengths, self.successes, strict=True) if ok]
        return {
            "episodes": self.episodes,
            "success_rate": float(np.mean(self.successes)) if self.successes else None,
            "mean_steps_to_grasp": float(np.mean(grasped)) if grasped else None,
            "mean_length": float(np.mean(self.lengths)) if self.lengths else None,
        }
