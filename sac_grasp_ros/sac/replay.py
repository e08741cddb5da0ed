"""Uniform replay buffer on preallocated numpy arrays, saved to / loaded from .npz without pickle."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from sac_grasp_ros.atomic import atomic_path

BUFFER_FORMAT = "sac_grasp_ros.replay/1"

# name -> (dtype, per-transition shape given obs_dim/act_dim): the one declaration of what a transition holds.
TRANSITION_FIELDS: dict[str, np.dtype] = {
    "obs": np.dtype(np.float32),
    "actions": np.dtype(np.float32),
    "rewards": np.dtype(np.float32),
    "next_obs": np.dtype(np.float32),
    "terminated": np.dtype(np.bool_),
}


def transition_shapes(obs_dim: int, act_dim: int) -> dict[str, tuple[int, ...]]:
    return {"obs": (obs_dim,), "actions": (act_dim,), "rewards": (), "next_obs": (obs_dim,), "terminated": ()}


class ReplayBatch(NamedTuple):
    """A batch of transitions as float32 tensors; `terminated` is 1.0 only for true terminations.

    Time-limit truncations are stored as not terminated, so the Bellman target still bootstraps
    from them (Pardo et al. 2018, "Time Limits in Reinforcement Learning").
    """

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    next_obs: torch.Tensor
    terminated: torch.Tensor

    def to(self, device: torch.device | str) -> ReplayBatch:
        return ReplayBatch(*(t.to(device, non_blocking=True) for t in self))

    @staticmethod
    def concat(first: ReplayBatch, second: ReplayBatch) -> ReplayBatch:
        return ReplayBatch(*(torch.cat([a, b], dim=0) for a, b in zip(first, second, strict=True)))


def as_transition_arrays(
    obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray, terminated: np.ndarray
) -> dict[str, np.ndarray]:
    """The stored dtypes and flat reward/terminated columns: what the buffer and demo files hold."""
    return {
        "obs": np.asarray(obs, dtype=np.float32),
        "actions": np.asarray(actions, dtype=np.float32),
        "rewards": np.asarray(rewards, dtype=np.float32).reshape(-1),
        "next_obs": np.asarray(next_obs, dtype=np.float32),
        "terminated": np.asarray(terminated).astype(np.bool_).reshape(-1),
    }


def validate_transition_arrays(
    arrays: dict[str, np.ndarray], obs_dim: int | None, act_dim: int | None, source: str
) -> tuple[int, int, int]:
    """Check names, shapes and dtypes of stored transitions; returns (count, obs_dim, act_dim).

    `source` names the file in the error so a bad demo/buffer file is easy to find.
    """
    missing = [name for name in TRANSITION_FIELDS if name not in arrays]
    if missing:
        raise ValueError(f"{source}: missing array(s) {missing}; expected {list(TRANSITION_FIELDS)}")
    obs = arrays["obs"]
    if obs.ndim != 2:
        raise ValueError(f"{source}: 'obs' must be 2-D (count, obs_dim), got shape {obs.shape}")
    if arrays["actions"].ndim != 2:
        raise ValueError(
            f"{source}: 'actions' must be 2-D (count, act_dim), got shape {arrays['actions'].shape}"
        )
    count, found_obs_dim = obs.shape
    found_act_dim = arrays["actions"].shape[1]
    if obs_dim is not None and found_obs_dim != obs_dim:
        raise ValueError(f"{source}: obs_dim mismatch: found {found_obs_dim}, expected {obs_dim}")
    if act_dim is not None and found_act_dim != act_dim:
        raise ValueError(f"{source}: act_dim mismatch: found {found_act_dim}, expected {act_dim}")
    for name, shape in transition_shapes(found_obs_dim, found_act_dim).items():
        array = arrays[name]
        if array.shape != (count, *shape):
            raise ValueError(f"{source}: '{name}' has shape {array.shape}, expected {(count, *shape)}")
        if array.dtype != TRANSITION_FIELDS[name]:
            raise ValueError(
                f"{source}: '{name}' has dtype {array.dtype}, expected {TRANSITION_FIELDS[name]}"
            )
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise ValueError(f"{source}: '{name}' contains NaN or inf")
    return count, found_obs_dim, found_act_dim


def read_npz(path: str | os.PathLike, what: str) -> dict[str, np.ndarray]:
    """Load every array of an .npz with pickles refused; turns numpy/zip errors into one clear ValueError."""
    path = Path(path)
    try:
        with open(path, "rb") as file:
            magic = file.read(4)
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} file not found: {path}") from None
    if magic not in (b"PK\x03\x04", b"PK\x05\x06"):  # else np.load tries a pickle and blames pickling
        raise ValueError(f"{path}: not a readable {what} .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} file not found: {path}") from None
    except ValueError as error:  # numpy raises ValueError for object (pickled) arrays
        raise ValueError(
            f"{path}: refused to load {what}: {error} (files with pickled objects are not accepted)"
        ) from error
    except Exception as error:  # zipfile.BadZipFile, EOFError, OSError on truncated files
        raise ValueError(
            f"{path}: not a readable {what} .npz file ({type(error).__name__}: {error})"
        ) from error


def _scalar_int(array: np.ndarray, name: str) -> int:
    if array.ndim != 0 or array.dtype.kind not in "iu":
        raise ValueError(f"'{name}' must be an integer scalar, got dtype {array.dtype} shape {array.shape}")
    return int(array)


class TransitionRing:
    """Ring bookkeeping shared by the host `ReplayBuffer` and the `DeviceReplayBuffer`: validation,
    wrap-around, only the newest `capacity` rows kept. Subclasses store rows in `_write`."""

    def __init__(self, capacity: int, obs_dim: int, act_dim: int) -> None:
        if capacity < 1 or obs_dim < 1 or act_dim < 1:
            raise ValueError(
                f"{type(self).__name__} needs capacity, obs_dim, act_dim >= 1, "
                f"got {capacity}, {obs_dim}, {act_dim}"
            )
        self.capacity, self.obs_dim, self.act_dim = int(capacity), int(obs_dim), int(act_dim)
        self.position = 0
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(
        self, obs: np.ndarray, action: np.ndarray, reward: float, next_obs: np.ndarray, terminated: bool
    ) -> None:
        """Store one transition. `terminated` must be False for time-limit truncations."""
        self.add_batch(
            np.asarray(obs, dtype=np.float32)[None],
            np.asarray(action, dtype=np.float32)[None],
            np.asarray([reward], dtype=np.float32),
            np.asarray(next_obs, dtype=np.float32)[None],
            np.asarray([terminated], dtype=np.bool_),
        )

    def add_batch(
        self,
        obs: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        terminated: np.ndarray,
    ) -> None:
        """Store B transitions at once (e.g. one step of N workers); rejects bad shapes and NaN/inf whole."""
        batch = as_transition_arrays(obs, actions, rewards, next_obs, terminated)
        source = f"{type(self).__name__}.add_batch"
        count, _, _ = validate_transition_arrays(batch, self.obs_dim, self.act_dim, source=source)
        if count > self.capacity:  # only the newest `capacity` transitions can survive anyway
            batch = {name: array[-self.capacity :] for name, array in batch.items()}
            count = self.capacity
        first = min(count, self.capacity - self.position)
        for name, array in batch.items():
            self._write(name, self.position, array[:first])
            self._write(name, 0, array[first:])
        self.position = (self.position + count) % self.capacity
        self.size = min(self.size + count, self.capacity)
        self._stored()

    def _write(self, name: str, start: int, rows: np.ndarray) -> None:
        """Copy `rows` of field `name` into storage rows start.. (start + len(rows))."""
        raise NotImplementedError

    def _stored(self) -> None:
        """Called after each add_batch (the device buffer mirrors its fill level)."""


class ReplayBuffer(TransitionRing):
    """Fixed-capacity ring buffer with uniform sampling from its own seeded generator."""

    def __init__(self, capacity: int, obs_dim: int, act_dim: int, seed: int | None = None) -> None:
        super().__init__(capacity, obs_dim, act_dim)
        self.rng = np.random.default_rng(seed)
        self.arrays = {
            name: np.zeros((self.capacity, *shape), dtype=TRANSITION_FIELDS[name])
            for name, shape in transition_shapes(self.obs_dim, self.act_dim).items()
        }

    @property
    def nbytes(self) -> int:
        return sum(array.nbytes for array in self.arrays.values())

    def _write(self, name: str, start: int, rows: np.ndarray) -> None:
        self.arrays[name][start : start + len(rows)] = rows

    def sample(self, batch_size: int, device: torch.device | str | None = None) -> ReplayBatch:
        """Uniformly sample `batch_size` transitions (with replacement) as float32 tensors."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty ReplayBuffer")
        indices = self.rng.integers(0, self.size, size=batch_size)
        batch = ReplayBatch(
            torch.from_numpy(self.arrays["obs"][indices]),
            torch.from_numpy(self.arrays["actions"][indices]),
            torch.from_numpy(self.arrays["rewards"][indices]),
            torch.from_numpy(self.arrays["next_obs"][indices]),
            torch.from_numpy(self.arrays["terminated"][indices].astype(np.float32)),
        )
        return batch if device is None else batch.to(device)

    def transitions(self) -> dict[str, np.ndarray]:
        """The stored transitions in storage order (views, no copy)."""
        return {name: array[: self.size] for name, array in self.arrays.items()}

    def save(self, path: str | os.PathLike) -> None:
        """Write a compressed .npz (rows, position, size, RNG state), atomically: a resumed run continues
        identically."""
        rng_state = json.dumps(self.rng.bit_generator.state)
        write_buffer_file(path, self.capacity, self.position, self.size, rng_state, self.transitions())

    def load(self, path: str | os.PathLike) -> None:
        """Replace this buffer's contents with a saved one; validates everything before changing anything.

        A file saved by the device-resident buffer carries a torch generator state instead of numpy's:
        sampling then continues from a generator seeded from it (same file, same stream)."""
        saved = read_buffer_file(path, self.capacity, self.obs_dim, self.act_dim)
        if saved.rng_state.get("bit_generator") is not None:
            rng = np.random.default_rng()
            try:
                rng.bit_generator.state = saved.rng_state
            except (ValueError, TypeError, KeyError) as error:
                raise ValueError(f"{path}: bad rng_state: {error}") from error
        else:
            rng = np.random.default_rng(seed_from_state(saved.rng_state))
        for name in TRANSITION_FIELDS:  # rows past `size` are never sampled; left untouched (no page-in)
            self.arrays[name][: saved.size] = saved.arrays[name]
        self.position, self.size, self.rng = saved.position, saved.size, rng


class SavedBuffer(NamedTuple):
    """A validated replay buffer file: its rows, ring bookkeeping and sampler state (parsed JSON)."""

    arrays: dict[str, np.ndarray]
    position: int
    size: int
    rng_state: dict[str, Any]


def write_buffer_file(
    path: str | os.PathLike,
    capacity: int,
    position: int,
    size: int,
    rng_state: str,
    transitions: dict[str, np.ndarray],
) -> None:
    """The one writer of the buffer format, for the host and the device-resident buffer alike."""
    with atomic_path(path) as temporary, open(temporary, "wb") as file:
        np.savez_compressed(
            file,
            format=np.array(BUFFER_FORMAT),
            capacity=np.array(capacity, dtype=np.int64),
            position=np.array(position, dtype=np.int64),
            size=np.array(size, dtype=np.int64),
            rng_state=np.array(rng_state),
            **transitions,
        )


def read_buffer_file(path: str | os.PathLike, capacity: int, obs_dim: int, act_dim: int) -> SavedBuffer:
    """Read and check a buffer file against the buffer about to hold it; ValueError names the problem."""
    data = read_npz(path, "replay buffer")
    source = str(path)
    if str(data.get("format", "")) != BUFFER_FORMAT:
        raise ValueError(
            f"{source}: not a replay buffer file (format {data.get('format')!r}, expected {BUFFER_FORMAT})"
        )
    count, _, _ = validate_transition_arrays(data, obs_dim, act_dim, source)
    try:  # scalars of an integer kind; anything else is a damaged file, reported by name
        found_capacity, position, size = (
            _scalar_int(data[name], name) for name in ("capacity", "position", "size")
        )
    except (KeyError, ValueError) as error:
        raise ValueError(f"{source}: bad or missing bookkeeping array: {error}") from error
    if found_capacity != capacity:
        raise ValueError(f"{source}: capacity mismatch: file has {found_capacity}, this buffer {capacity}")
    if size != count or not 0 <= position < capacity or size > capacity:
        raise ValueError(f"{source}: inconsistent size/position ({size}/{position}) for {count} stored rows")
    try:
        rng_state = json.loads(str(data["rng_state"]))
    except (ValueError, TypeError, KeyError) as error:
        raise ValueError(f"{source}: bad rng_state: {error}") from error
    if not isinstance(rng_state, dict):
        raise ValueError(f"{source}: bad rng_state: expected a JSON object, got {type(rng_state).__name__}")
    arrays = {name: data[name] for name in TRANSITION_FIELDS}
    return SavedBuffer(arrays, position, size, rng_state)


def seed_from_state(rng_state: dict[str, Any]) -> int:
    """A seed derived from a saved sampler state of the other buffer kind: deterministic per file."""
    digest = hashlib.sha256(json.dumps(rng_state, sort_keys=True).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1
