"""Demonstrations: recorded transitions in a plain .npz (no pickle), mixed into batches at `demo_ratio`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sac_grasp_ros.sac.replay import (
    TRANSITION_FIELDS,
    ReplayBuffer,
    as_transition_arrays,
    read_npz,
    transition_shapes,
    validate_transition_arrays,
)

DEMO_FORMAT = "sac_grasp_ros.demos/1"


def save_demos(
    path: str | os.PathLike,
    obs: np.ndarray,
    actions: np.ndarray,
    rewards: np.ndarray,
    next_obs: np.ndarray,
    terminated: np.ndarray,
) -> Path:
    """Write transitions to a compressed .npz after the same validation `load_demos` applies."""
    arrays = as_transition_arrays(obs, actions, rewards, next_obs, terminated)
    count, _, _ = validate_transition_arrays(arrays, None, None, source=f"demos for {path}")
    if count == 0:
        raise ValueError(f"refusing to write an empty demonstration file {path}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(temporary, "wb") as file:
        np.savez_compressed(file, format=np.array(DEMO_FORMAT), **arrays)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)
    return path


def load_demos(
    path: str | os.PathLike, obs_dim: int | None = None, act_dim: int | None = None, seed: int | None = None
) -> ReplayBuffer:
    """Load a demo file into a buffer of exactly its size (sampled uniformly, like the replay buffer).

    Checks the format tag, array names, shapes, dtypes and the expected obs/act dimensions, so a
    demonstration recorded in the wrong action space (the original's 4-dim vs 7-dim bug) is refused.
    """
    data = read_npz(path, "demonstration")
    if str(data.get("format", "")) != DEMO_FORMAT:
        raise ValueError(
            f"{path}: not a demonstration file (format {data.get('format')!r}, expected {DEMO_FORMAT})"
        )
    count, found_obs_dim, found_act_dim = validate_transition_arrays(data, obs_dim, act_dim, str(path))
    if count == 0:
        raise ValueError(f"{path}: demonstration file holds no transitions")
    buffer = ReplayBuffer(count, found_obs_dim, found_act_dim, seed=seed)
    buffer.add_batch(*(data[name] for name in TRANSITION_FIELDS))
    return buffer


class DemoRecorder:
    """Collects transitions one by one (e.g. from a scripted controller) and writes them with `save`."""

    def __init__(self, obs_dim: int, act_dim: int) -> None:
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self._rows: dict[str, list[np.ndarray]] = {name: [] for name in TRANSITION_FIELDS}

    def __len__(self) -> int:
        return len(self._rows["obs"])

    def add(
        self, obs: np.ndarray, action: np.ndarray, reward: float, next_obs: np.ndarray, terminated: bool
    ) -> None:
        row = {
            "obs": np.asarray(obs, dtype=np.float32),
            "actions": np.asarray(action, dtype=np.float32),
            "rewards": np.asarray(reward, dtype=np.float32),
            "next_obs": np.asarray(next_obs, dtype=np.float32),
            "terminated": np.asarray(bool(terminated)),
        }
        for name, shape in transition_shapes(self.obs_dim, self.act_dim).items():
            if row[name].shape != shape:
                raise ValueError(f"DemoRecorder.add: '{name}' has shape {row[name].shape}, expected {shape}")
        for name, value in row.items():
            self._rows[name].append(value)

    def save(self, path: str | os.PathLike) -> Path:
        if not len(self):
            raise ValueError(f"DemoRecorder.save: nothing recorded for {path}")
        return save_demos(path, *(np.stack(self._rows[name]) for name in TRANSITION_FIELDS))
