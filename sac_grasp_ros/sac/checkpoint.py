"""Checkpoint directories: written atomically, read without pickle, mismatches reported by file and field.

What a checkpoint holds is declared once, in `CHECKPOINT_FILES`. The directory is first written
beside its final place, fsynced, then swapped in by rename: an interrupted save leaves the previous
checkpoint intact (at its path, or for the instant between the two renames at `.<name>.old`, which
`load_checkpoint` falls back to).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sac_grasp_ros.atomic import fsync_directory, temporary_sibling, write_synced
from sac_grasp_ros.curve_csv import curve_csv
from sac_grasp_ros.sac.agent import SAC
from sac_grasp_ros.sac.config import SACConfig
from sac_grasp_ros.sac.device_buffer import DeviceReplayBuffer
from sac_grasp_ros.sac.replay import ReplayBuffer, read_npz

CHECKPOINT_FORMAT = "sac_grasp_ros.checkpoint/1"
META_FILE = "checkpoint.json"
LEARNER_FILE = "learner.pt"
CURVE_FILE = "curve.npz"
CURVE_CSV_FILE = "curve.csv"
BUFFER_FILE = "buffer.npz"

CHECKPOINT_FILES: dict[str, str] = {
    META_FILE: "format tag, obs_dim, act_dim, SACConfig (JSON), trainer counters (env steps, episodes, ...)",
    LEARNER_FILE: "SAC.state_dict(): policy, twin Q, target Q, log_alpha, three Adam states, num_updates",
    CURVE_FILE: "learning curve: equal-length 1-D arrays per column (e.g. env_steps, episode_return)",
    CURVE_CSV_FILE: "the same learning curve as CSV (rewards.csv's columns), for people and spreadsheets",
    BUFFER_FILE: "optional: the replay buffer (ReplayBuffer.save format)",
}
REQUIRED_FILES = (META_FILE, LEARNER_FILE)


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: missing/truncated/corrupt file or a shape/config mismatch."""


@dataclass
class LoadedCheckpoint:
    """What `load_checkpoint` restored; `sac` is the given learner or one built from the stored config."""

    path: Path
    sac: SAC
    obs_dim: int
    act_dim: int
    config: SACConfig
    counters: dict[str, int | float] = field(default_factory=dict)
    curve: dict[str, np.ndarray] = field(default_factory=dict)
    buffer_loaded: bool = False


def save_checkpoint(
    path: str | os.PathLike,
    sac: SAC,
    buffer: ReplayBuffer | DeviceReplayBuffer | None = None,
    counters: Mapping[str, int | float] | None = None,
    curve: Mapping[str, np.ndarray] | None = None,
    extra_files: Mapping[str, bytes] | None = None,
) -> Path:
    """Write a checkpoint directory at `path` atomically (replacing any previous one) and return its path.

    `extra_files` (plain name -> content) travel inside the same atomic write, e.g. the env.yaml that
    tells deployment which observations the policy expects.
    """
    path = Path(path)
    extra_files = dict(extra_files or {})
    for name in extra_files:
        if Path(name).name != name or name in CHECKPOINT_FILES or name in (META_FILE, LEARNER_FILE):
            raise ValueError(
                f"extra checkpoint file name {name!r} must be a plain name of no checkpoint file"
            )
    counters = dict(counters or {})
    for name, value in counters.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise TypeError(f"checkpoint counter {name!r} must be int or float, got {type(value).__name__}")
    curve_arrays = _validated_curve(dict(curve or {}), source="save_checkpoint(curve=...)")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_sibling(path)
    temporary.mkdir()
    try:
        # The directory is swapped in whole: its files need only be complete and fsynced first.
        meta = {
            "format": CHECKPOINT_FORMAT,
            "obs_dim": sac.obs_dim,
            "act_dim": sac.act_dim,
            "config": sac.config.to_dict(),
            "counters": {"num_updates": sac.num_updates, **counters},
            "files": {
                name: text
                for name, text in CHECKPOINT_FILES.items()
                if name != BUFFER_FILE or buffer is not None
            },
        }
        write_synced(temporary / META_FILE, lambda file: file.write(json.dumps(meta, indent=2).encode()))
        write_synced(temporary / LEARNER_FILE, lambda file: torch.save(sac.state_dict(), file))
        write_synced(temporary / CURVE_FILE, lambda file: np.savez(file, **curve_arrays))
        write_synced(temporary / CURVE_CSV_FILE, lambda file: file.write(curve_csv(curve_arrays).encode()))
        if buffer is not None:
            buffer.save(temporary / BUFFER_FILE)
        for name, content in extra_files.items():
            write_synced(temporary / name, lambda file, content=content: file.write(content))
        fsync_directory(temporary)
        _swap_in(temporary, path)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return path


def load_checkpoint(
    path: str | os.PathLike,
    sac: SAC | None = None,
    buffer: ReplayBuffer | DeviceReplayBuffer | None = None,
    device: str | None = None,
    cuda_graph: str | None = None,
) -> LoadedCheckpoint:
    """Restore a checkpoint into `sac` (or a new SAC built from the stored config) and optionally `buffer`.

    Raises CheckpointError naming the file and the mismatch (obs/act dims, network sizes, missing
    or corrupt files). Tensors are read with `torch.load(weights_only=True)`, arrays with
    `allow_pickle=False`. `device` and `cuda_graph` (runtime choices, not the learned state) override
    the stored config's when a learner is built here.
    """
    path = _existing_checkpoint(Path(path))
    meta = _read_meta(path / META_FILE)
    obs_dim, act_dim = meta["obs_dim"], meta["act_dim"]
    try:
        config = SACConfig.from_dict(meta["config"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{path / META_FILE}: bad SACConfig: {error}") from error
    if sac is None:
        # Weights come from the file: do not reseed the global RNGs while building the networks.
        build_config = dataclasses.replace(
            config, seed=None, device=device or config.device, cuda_graph=cuda_graph or config.cuda_graph
        )
        sac = SAC(obs_dim, act_dim, build_config)
    else:
        _check_compatible(path, sac, obs_dim, act_dim, config)
    learner_file = path / LEARNER_FILE
    try:
        state = torch.load(learner_file, map_location=sac.device, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{learner_file}: missing (checkpoint incomplete)") from None
    except Exception as error:  # truncated zip, pickle with non-tensor objects, bad magic number
        raise CheckpointError(
            f"{learner_file}: unreadable or corrupt ({type(error).__name__}: {error})"
        ) from error
    try:
        sac.load_state_dict(state)
    except (ValueError, KeyError, TypeError, RuntimeError) as error:
        raise CheckpointError(f"{learner_file}: {error}") from error
    curve: dict[str, np.ndarray] = {}
    if (path / CURVE_FILE).exists():
        try:
            curve = _validated_curve(read_npz(path / CURVE_FILE, "learning curve"), str(path / CURVE_FILE))
        except ValueError as error:
            raise CheckpointError(str(error)) from error
    buffer_loaded = False
    if buffer is not None and (path / BUFFER_FILE).exists():
        try:
            buffer.load(path / BUFFER_FILE)
        except ValueError as error:
            raise CheckpointError(str(error)) from error
        buffer_loaded = True
    counters = dict(meta.get("counters", {}))
    return LoadedCheckpoint(path, sac, obs_dim, act_dim, config, counters, curve, buffer_loaded)


def _validated_curve(curve: dict[str, Any], source: str) -> dict[str, np.ndarray]:
    arrays = {name: np.asarray(values) for name, values in curve.items()}
    lengths = {name: array.shape for name, array in arrays.items()}
    if any(array.ndim != 1 or array.dtype.kind not in "biuf" for array in arrays.values()):
        raise ValueError(f"{source}: learning curve columns must be 1-D numeric arrays, got {lengths}")
    if len({array.shape[0] for array in arrays.values()}) > 1:
        raise ValueError(f"{source}: learning curve columns differ in length: {lengths}")
    return arrays


def _check_compatible(path: Path, sac: SAC, obs_dim: int, act_dim: int, config: SACConfig) -> None:
    meta_file = path / META_FILE
    if (sac.obs_dim, sac.act_dim) != (obs_dim, act_dim):
        raise CheckpointError(
            f"{meta_file}: checkpoint is for obs_dim={obs_dim}, act_dim={act_dim}; "
            f"the learner has obs_dim={sac.obs_dim}, act_dim={sac.act_dim}"
        )
    stored, current = config.network_shape(), sac.config.network_shape()
    differing = {name: (stored[name], current[name]) for name in stored if stored[name] != current[name]}
    if differing:
        details = ", ".join(f"{name}: checkpoint {a} vs learner {b}" for name, (a, b) in differing.items())
        raise CheckpointError(f"{meta_file}: network sizes differ ({details})")


def _read_meta(meta_file: Path) -> dict[str, Any]:
    try:
        meta = json.loads(meta_file.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{meta_file}: missing (not a checkpoint directory, or incomplete)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{meta_file}: unreadable or corrupt ({error})") from error
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise CheckpointError(f"{meta_file}: format {found!r}, expected {CHECKPOINT_FORMAT!r}")
    for key in ("obs_dim", "act_dim"):
        if not isinstance(meta.get(key), int) or meta[key] < 1:
            raise CheckpointError(f"{meta_file}: bad or missing {key!r}: {meta.get(key)!r}")
    if not isinstance(meta.get("config"), dict):
        raise CheckpointError(f"{meta_file}: missing 'config' object")
    counters = meta.get("counters", {})
    if not isinstance(counters, dict) or not all(
        isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        for value in counters.values()
    ):
        raise CheckpointError(
            f"{meta_file}: 'counters' must be an object of finite numbers, got {counters!r}"
        )
    return meta


def _existing_checkpoint(path: Path) -> Path:
    if path.is_dir():
        return path
    previous = path.parent / f".{path.name}.old"
    if previous.is_dir():  # a save was interrupted between its two renames
        return previous
    raise CheckpointError(f"{path}: no checkpoint directory there")


def _swap_in(temporary: Path, path: Path) -> None:
    """Replace `path` by `temporary`; at every instant one complete checkpoint exists on disk."""
    previous = path.parent / f".{path.name}.old"
    shutil.rmtree(previous, ignore_errors=True)
    if path.exists():
        os.rename(path, previous)
    os.rename(temporary, path)
    fsync_directory(path.parent)
    shutil.rmtree(previous, ignore_errors=True)
