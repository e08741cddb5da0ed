"""Demonstrations: recorded transitions in a plain .npz (no pickle), mixed into batches at `demo_ratio`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sac_grasp_ros.atomic import atomic_path
from sac_grasp_ros.sac.nstep import fold_transitions
from sac_grasp_ros.sac.replay import (
    TRANSITION_FIELDS,
    ReplayBuffer,
    as_transition_arrays,
    read_npz,
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
    with atomic_path(path) as temporary, open(temporary, "wb") as file:
        np.savez_compressed(file, format=np.array(DEMO_FORMAT), **arrays)
    return path


def load_demos(
    path: str | os.PathLike,
    obs_dim: int | None = None,
    act_dim: int | None = None,
    seed: int | None = None,
    n_step: int = 1,
    gamma: float = 0.99,
) -> ReplayBuffer:
    """Load a demo file into a buffer of exactly its size (sampled uniformly, like the replay buffer).

    Checks the format tag, array names, shapes, dtypes and the expected obs/act dimensions, so a
    demonstration recorded in the wrong action space (the original's 4-dim vs 7-dim bug) is refused.
    With n_step > 1 the recorded episodes are folded into n-step rows (sac.nstep), as the learner
    stores its own transitions.
    """
    data = read_npz(path, "demonstration")
    if str(data.get("format", "")) != DEMO_FORMAT:
        raise ValueError(
            f"{path}: not a demonstration file (format {data.get('format')!r}, expected {DEMO_FORMAT})"
        )
    count, found_obs_dim, found_act_dim = validate_transition_arrays(data, obs_dim, act_dim, str(path))
    if count == 0:
        raise ValueError(f"{path}: demonstration file holds no transitions")
    rows = fold_transitions({name: data[name] for name in TRANSITION_FIELDS}, n_step, gamma)
    buffer = ReplayBuffer(len(rows["obs"]), found_obs_dim, found_act_dim, seed=seed)
    buffer.add_batch(*(rows[name] for name in TRANSITION_FIELDS))
    return buffer
