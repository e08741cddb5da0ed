"""Episode bookkeeping shared by the in-process trainer and the ROS agent node.

`EpisodeTracker` turns a stream of per-env steps (rewards, end flags, success flags) into finished
episode records; `LearningCurve` keeps those records as columns that checkpoints store and plots draw.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

CURVE_COLUMNS: dict[str, type] = {
    "episode": int,
    "env_steps": int,
    "episode_return": float,
    "episode_length": int,
    "success": float,  # 1.0 / 0.0, NaN when the env does not report success
    "wall_s": float,
}


@dataclass(frozen=True)
class EpisodeRecord:
    """One finished episode; `success` is None when the env reports no success flag."""

    episode: int
    env_steps: int
    episode_return: float
    episode_length: int
    success: bool | None
    wall_s: float


class LearningCurve:
    """Append-only table of finished episodes with helpers for rolling statistics."""

    def __init__(self) -> None:
        self.records: list[EpisodeRecord] = []

    def __len__(self) -> int:
        return len(self.records)

    def append(self, record: EpisodeRecord) -> None:
        self.records.append(record)

    def recent_returns(self, window: int = 100) -> np.ndarray:
        return np.array([record.episode_return for record in self.records[-window:]], dtype=np.float64)

    def mean_return(self, window: int = 100) -> float | None:
        returns = self.recent_returns(window)
        return float(returns.mean()) if returns.size else None

    def success_rate(self, window: int = 100) -> float | None:
        """Share of successes over the last `window` episodes that reported success; None if none did."""
        flags = [record.success for record in self.records[-window:] if record.success is not None]
        return float(np.mean(flags)) if flags else None

    def to_arrays(self) -> dict[str, np.ndarray]:
        columns: dict[str, list[float | int]] = {name: [] for name in CURVE_COLUMNS}
        for record in self.records:
            for name in CURVE_COLUMNS:
                value = getattr(record, name)
                columns[name].append(
                    math.nan if value is None else float(value) if name == "success" else value
                )
        return {
            name: np.asarray(values, dtype=np.float64 if kind is float else np.int64)
            for (name, kind), values in zip(CURVE_COLUMNS.items(), columns.values(), strict=True)
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> LearningCurve:
        """Rebuild from `to_arrays()` output (e.g. a checkpoint's curve); missing columns are an error.

        Also reads the agent node's older layout (`length`, episodes from 0, no wall time), which the
        shipped policy's checkpoint has."""
        curve = cls()
        if not arrays:
            return curve
        if "length" in arrays and "episode_length" not in arrays:
            count = len(arrays["episode_return"])
            arrays = {
                **arrays,
                "episode_length": arrays["length"],
                "episode": np.asarray(arrays.get("episode", np.arange(count))) + 1,
                "env_steps": np.maximum(arrays.get("env_steps", np.zeros(count, np.int64)), 0),
                "wall_s": np.zeros(count),
            }
        missing = [name for name in CURVE_COLUMNS if name not in arrays]
        if missing:
            raise ValueError(f"learning curve lacks column(s) {missing}")
        for row in zip(*(np.asarray(arrays[name]).tolist() for name in CURVE_COLUMNS), strict=True):
            values = dict(zip(CURVE_COLUMNS, row, strict=True))
            success = None if math.isnan(values["success"]) else bool(values["success"])
            curve.append(
                EpisodeRecord(
                    episode=int(values["episode"]),
                    env_steps=int(values["env_steps"]),
                    episode_return=float(values["episode_return"]),
                    episode_length=int(values["episode_length"]),
                    success=success,
                    wall_s=float(values["wall_s"]),
                )
            )
        return curve


class EpisodeTracker:
    """Running return/length per env (worker) index; emits an EpisodeRecord when an episode ends.

    An episode counts as a success if any of its steps reported success (the grasp env reports it
    on the step the block is held; gymnasium-robotics envs on the last step).
    """

    def __init__(self, num_envs: int = 1, curve: LearningCurve | None = None) -> None:
        self.curve = curve if curve is not None else LearningCurve()
        self.episodes = len(self.curve)
        self._returns = [0.0] * num_envs
        self._lengths = [0] * num_envs
        self._success: list[bool | None] = [None] * num_envs

    def step(
        self, env_index: int, reward: float, done: bool, success: bool | None, env_steps: int, wall_s: float
    ) -> EpisodeRecord | None:
        """Account one env step (`done`: terminated or truncated); returns the record if the episode ended."""
        self._returns[env_index] += float(reward)
        self._lengths[env_index] += 1
        if success is not None:
            self._success[env_index] = bool(self._success[env_index]) or bool(success)
        if not done:
            return None
        self.episodes += 1
        record = EpisodeRecord(
            episode=self.episodes,
            env_steps=env_steps,
            episode_return=self._returns[env_index],
            episode_length=self._lengths[env_index],
            success=self._success[env_index],
            wall_s=wall_s,
        )
        self.curve.append(record)
        self._returns[env_index], self._lengths[env_index], self._success[env_index] = 0.0, 0, None
        return record


def success_from_info(info: Mapping[str, object]) -> bool | None:
    """The env's success flag under either common key ("success" here, "is_success" in gymnasium-robotics)."""
    for key in ("success", "is_success"):
        if key in info:
            return bool(info[key])
    return None


def evaluation_summary(
    returns: Sequence[float], lengths: Sequence[int], successes: Sequence[bool | None]
) -> dict[str, Any]:
    """What every evaluation reports (/evaluate, periodic and final, ROS or in-process): episodes,
    success_rate (None when the env reports no success), mean_return and mean_length."""
    flags = [flag for flag in successes if flag is not None]
    return {
        "episodes": len(returns),
        "success_rate": float(np.mean(flags)) if flags else None,
        "mean_return": float(np.mean(returns)) if len(returns) else 0.0,
        "mean_length": float(np.mean(lengths)) if len(lengths) else 0.0,
    }
