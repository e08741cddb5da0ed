"""Episode bookkeeping shared by the in-process trainer and the ROS agent node.

`EpisodeTracker` turns a stream of per-env steps (rewards, end flags, success flags) into finished
episode records; `LearningCurve` keeps those records as columns that checkpoints store and plots draw.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

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
    """Append-only table of finished episodes with helpers for rolling statistics.

    Held as numpy columns (48 bytes an episode, no Python object per episode): a million-step run
    keeps its whole curve for checkpoints and plots in about a megabyte, and the allocator is not
    left with one small object per episode scattered through its arenas."""

    def __init__(self) -> None:
        self._columns = {name: np.empty(0, dtype=_dtype(kind)) for name, kind in CURVE_COLUMNS.items()}
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @property
    def records(self) -> EpisodeRecords:
        """The episodes as EpisodeRecord values, made on access (indexing and slices are cheap)."""
        return EpisodeRecords(self)

    def record(self, index: int) -> EpisodeRecord:
        """Episode number `index + 1`; negative indices count from the end, like a list's."""
        if not -self._size <= index < self._size:
            raise IndexError(f"episode index {index} out of range for a curve of {self._size}")
        index %= self._size
        values = {name: column[index].item() for name, column in self._columns.items()}
        success = values["success"]
        return EpisodeRecord(
            episode=values["episode"],
            env_steps=values["env_steps"],
            episode_return=values["episode_return"],
            episode_length=values["episode_length"],
            success=None if math.isnan(success) else bool(success),
            wall_s=values["wall_s"],
        )

    def append(self, record: EpisodeRecord) -> None:
        if self._size == len(self._columns["episode"]):
            self._reserve(max(64, 2 * self._size))
        for name, column in self._columns.items():
            value = getattr(record, name)
            column[self._size] = math.nan if value is None else float(value) if name == "success" else value
        self._size += 1

    def _reserve(self, capacity: int) -> None:
        for name, column in self._columns.items():
            grown = np.empty(capacity, dtype=column.dtype)
            grown[: self._size] = column[: self._size]
            self._columns[name] = grown

    def column(self, name: str) -> np.ndarray:
        """One column of the finished episodes (a read-only view, no copy)."""
        view = self._columns[name][: self._size]
        view.flags.writeable = False
        return view

    def recent_returns(self, window: int = 100) -> np.ndarray:
        return self.column("episode_return")[-window:].copy()

    def mean_return(self, window: int = 100) -> float | None:
        returns = self.recent_returns(window)
        return float(returns.mean()) if returns.size else None

    def success_rate(self, window: int = 100) -> float | None:
        """Share of successes over the last `window` episodes that reported success; None if none did."""
        flags = self.column("success")[-window:]
        flags = flags[~np.isnan(flags)]
        return float(flags.mean()) if flags.size else None

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {name: self.column(name).copy() for name in CURVE_COLUMNS}

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
        columns = {name: np.asarray(arrays[name]).reshape(-1) for name in CURVE_COLUMNS}
        sizes = {len(column) for column in columns.values()}
        if len(sizes) != 1:
            raise ValueError(f"learning curve columns differ in length: {sorted(sizes)}")
        success = columns["success"].astype(np.float64)
        columns["success"] = np.where(np.isnan(success), math.nan, (success != 0).astype(np.float64))
        curve._size = sizes.pop()
        curve._columns = {
            name: np.array(columns[name], dtype=_dtype(kind)) for name, kind in CURVE_COLUMNS.items()
        }
        return curve


class EpisodeRecords(Sequence[EpisodeRecord]):
    """A list-like view of a curve's episodes: `records[i]`, `records[a:b]` (a list), iteration, ==."""

    def __init__(self, curve: LearningCurve) -> None:
        self._curve = curve

    def __len__(self) -> int:
        return len(self._curve)

    @overload
    def __getitem__(self, index: int) -> EpisodeRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[EpisodeRecord]: ...

    def __getitem__(self, index: int | slice) -> EpisodeRecord | list[EpisodeRecord]:
        if isinstance(index, slice):
            return [self._curve.record(i) for i in range(*index.indices(len(self._curve)))]
        return self._curve.record(index)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # equal to lists, so unhashable like them

    def __repr__(self) -> str:
        return f"EpisodeRecords({len(self)} episodes)"


def _dtype(kind: type) -> np.dtype:
    return np.dtype(np.float64 if kind is float else np.int64)


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
