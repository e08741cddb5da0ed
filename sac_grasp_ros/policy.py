"""Trained policies, loaded one way: `load_policy(path)` reads a checkpoint directory or a TorchScript
file written by `sac-grasp export` and returns a `Policy`, whose `act` gives the deterministic action
in [-1, 1] and which carries the env settings it was trained with (`Policy.env`: observation mode,
control mode, `max_joint_velocity`, reward, episode length). ROS-free; torch is imported when a
policy is loaded.

A policy gives actions, not joint velocities: whoever turns an action into a command scales it once,
where the command is made (`GraspEnv.step` in-process; the policy node, `action *
max_joint_velocity` in rad/s, for a velocity controller).

An exported `policy.pt` outputs joint velocities in rad/s, its documented contract for libtorch
controllers; its `action` submodule computes the action that output scales, and `load_policy` runs
that, with `max_joint_velocity` from the export manifest (`export.json`) beside it, which must agree
with the file's own `velocity_scale`. A TorchScript module without a manifest is taken as it is: its
output is the action at a scale of 1 (rad/s = action), its observation size found by trying the known
ones.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sac_grasp_ros.envs.config import ENV_CONFIG_FILE, GraspEnvConfig, read_env_config
from sac_grasp_ros.envs.observation import OBSERVATION_SIZES

TORCHSCRIPT_FILE = "policy.pt"
"""the TorchScript file `sac-grasp export` writes"""
MANIFEST_FILE = "export.json"
"""beside an exported policy: its sizes, observation mode, control mode and velocity scale"""
ACTION_SIZES = {"joint_velocity": 7, "end_position": 4}
"""action values per control mode (GraspEnv's action spaces)"""


class PolicyError(ValueError):
    """A policy cannot be loaded, or its settings do not fit it or its use (missing file, wrong
    control mode, size mismatch)."""


@dataclass(frozen=True)
class Policy:
    """A trained policy: raw observation -> deterministic action in [-1, 1]."""

    source: Path
    """checkpoint directory or TorchScript file it was loaded from"""
    env: GraspEnvConfig
    """the env settings it was trained with"""
    obs_dim: int
    act_dim: int
    run: Callable[[np.ndarray], np.ndarray]
    """float32 [batch, obs_dim] -> actions [batch, act_dim]"""

    @property
    def observation(self) -> str:
        """observation mode it was trained with ("original" | "extended" | "symmetric")"""
        return self.env.observation

    @property
    def max_joint_velocity(self) -> float:
        """rad/s at action 1.0 in training: a velocity command is `act(obs) * max_joint_velocity`"""
        return float(self.env.max_joint_velocity)

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """The action (float64, in [-1, 1]) for one observation [obs_dim], or one per row of a batch
        [n, obs_dim]. Always deterministic (`deterministic` is the evaluation loop's keyword, as
        `SAC.act` takes it). ValueError for a wrong size or a non-finite input or output."""
        if not deterministic:
            raise ValueError("a loaded policy acts deterministically only")
        obs = np.asarray(obs, dtype=np.float32)
        single = obs.ndim <= 1
        batch = obs.reshape(1, -1) if single else obs
        if batch.ndim != 2 or batch.shape[1] != self.obs_dim:
            raise ValueError(f"policy expects {self.obs_dim} observation values, got {obs.shape[-1:]}")
        if not np.isfinite(batch).all():
            raise ValueError(f"observation contains NaN or inf: {obs.tolist()}")
        actions = np.asarray(self.run(batch), dtype=np.float64).reshape(len(batch), self.act_dim)
        if not np.isfinite(actions).all():  # damaged weights: never command NaN to an arm
            raise ValueError(f"policy output contains NaN or inf: {actions.tolist()}")
        return actions[0] if single else actions


def load_policy(
    path: str | Path, torch_threads: int | None = None, velocity_controller: bool = False
) -> Policy:
    """Load a checkpoint directory or an exported TorchScript file (.pt) on CPU.

    Env settings: `env.yaml` beside a checkpoint (envs.config.read_env_config); for a TorchScript file,
    the env.yaml beside it or in the checkpoint it was exported from (the manifest's `source`), with
    the manifest's observation mode, control mode and velocity scale. `torch_threads` sets torch's
    CPU threads (None: leave them). `velocity_controller` refuses a policy that does not give the 7
    joint velocities a velocity controller takes. Raises PolicyError saying what is wrong.
    """
    import torch

    if torch_threads is not None:
        torch.set_num_threads(max(1, int(torch_threads)))
    path = Path(path)
    if path.is_dir():
        policy = _load_checkpoint(path)
    elif path.is_file():
        policy = _load_torchscript(path, torch)
    else:
        raise PolicyError(
            f"policy {path} does not exist "
            f"(expected a checkpoint directory or an exported {TORCHSCRIPT_FILE})"
        )
    _check(policy, velocity_controller)
    return policy


def _load_checkpoint(path: Path) -> Policy:
    from sac_grasp_ros.sac import CheckpointError, load_checkpoint

    try:
        env = read_env_config(None, path)
        loaded = load_checkpoint(path, device="cpu")
    except (CheckpointError, FileNotFoundError, ValueError) as error:
        raise PolicyError(f"cannot load policy checkpoint {path}: {error}") from error
    sac = loaded.sac

    def run(obs: np.ndarray) -> np.ndarray:
        return sac.act(obs, deterministic=True)

    return Policy(path, env, loaded.obs_dim, loaded.act_dim, run)


def _load_torchscript(path: Path, torch: Any) -> Policy:
    manifest_path = path.parent / MANIFEST_FILE
    manifest: dict[str, Any] | None = None
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text())
        except json.JSONDecodeError as error:
            raise PolicyError(f"{manifest_path}: not valid JSON ({error})") from error
        if not isinstance(manifest, dict):
            raise PolicyError(f"{manifest_path}: expected a JSON object")
    try:
        with warnings.catch_warnings():  # torch marks TorchScript deprecated; it is what export writes
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as error:  # RuntimeError for anything that is not a TorchScript archive
        raise PolicyError(f"{path}: not a TorchScript policy ({type(error).__name__}: {error})") from error
    known = manifest or {}
    obs_dim = int(known.get("obs_dim", 0))
    observation = known.get("observation")
    if not obs_dim:
        obs_dim = OBSERVATION_SIZES.get(str(observation), 0) or _probe_obs_dim(module, torch, path)
    if observation is None:
        inverse = {size: name for name, size in OBSERVATION_SIZES.items()}
        observation = inverse.get(obs_dim)
    if observation not in OBSERVATION_SIZES:
        raise PolicyError(f"{path}: observation size {obs_dim} matches no observation mode")
    try:
        trained = read_env_config(None, _trained_dir(path, known))
    except ValueError as error:
        raise PolicyError(f"cannot load the env settings of policy {path}: {error}") from error
    try:  # a GraspEnvConfig checks its fields as it is made
        env = dataclasses.replace(
            trained,
            observation=str(observation),
            control_mode=str(known.get("control_mode", "joint_velocity")),
            max_joint_velocity=float(known.get("max_joint_velocity", 1.0)),
        )
    except (TypeError, ValueError) as error:
        raise PolicyError(f"{manifest_path}: {error}") from error
    act_dim = int(known.get("act_dim", ACTION_SIZES[env.control_mode]))
    if manifest is None:  # the module as it is: its output is the action, at a scale of 1

        def run(obs: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return np.clip(module(torch.from_numpy(obs)).numpy(), -1.0, 1.0)

    else:
        action = _action_module(module, path, env.max_joint_velocity, known)

        def run(obs: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return action(torch.from_numpy(obs)).numpy()

    return Policy(path, env, obs_dim, act_dim, run)


def _action_module(module: Any, path: Path, scale: float, manifest: dict[str, Any]) -> Any:
    """The exported file's `action` submodule (the action its rad/s output scales), checked against
    the manifest's velocity scale."""
    action = getattr(module, "action", None)
    if action is None:
        source = manifest.get("source", "its checkpoint")
        raise PolicyError(
            f"{path}: has no `action` module (written by an earlier `sac-grasp export`); export it "
            f"again: sac-grasp export --policy {source}"
        )
    file_scale = getattr(module, "velocity_scale", None)
    if file_scale is not None and not math.isclose(float(file_scale), scale, rel_tol=1e-6):
        raise PolicyError(
            f"{path}: scales its output by {float(file_scale):g} rad/s but {MANIFEST_FILE} says "
            f"max_joint_velocity {scale:g}"
        )
    return action


def _trained_dir(policy_file: Path, manifest: dict[str, Any]) -> Path:
    """Where an exported policy's env.yaml is: beside it, else in the checkpoint it was exported from
    (the manifest's `source`), so reward and episode length match the training too."""
    if (policy_file.parent / ENV_CONFIG_FILE).is_file():
        return policy_file.parent
    source = manifest.get("source")
    return Path(source) if isinstance(source, str) and Path(source).is_dir() else policy_file.parent


def _probe_obs_dim(module: Any, torch: Any, path: Path) -> int:
    """Without a manifest: try the known observation sizes (a traced module accepts only its own)."""
    for size in sorted(OBSERVATION_SIZES.values()):
        try:
            with torch.no_grad():
                module(torch.zeros(1, size))
        except Exception:  # a wrong size raises inside the traced graph: try the next
            continue
        return size
    raise PolicyError(f"{path}: accepts none of the observation sizes {sorted(OBSERVATION_SIZES.values())}")


def _check(policy: Policy, velocity_controller: bool) -> None:
    env, path = policy.env, policy.source
    if velocity_controller and (env.control_mode != "joint_velocity" or policy.act_dim != 7):
        raise PolicyError(
            f"{path}: a velocity controller needs a joint_velocity policy with 7 outputs, "
            f"got control_mode={env.control_mode!r} with {policy.act_dim}"
        )
    expected = OBSERVATION_SIZES[env.observation]
    if policy.obs_dim != expected:
        raise PolicyError(
            f"{path}: the policy takes {policy.obs_dim} observation values but its env settings say "
            f"observation={env.observation!r} ({expected}); fix env.yaml beside it"
        )
    actions = ACTION_SIZES[env.control_mode]
    if policy.act_dim != actions:
        raise PolicyError(
            f"{path}: the policy gives {policy.act_dim} action values but its env settings say "
            f"control_mode={env.control_mode!r} ({actions}); fix env.yaml beside it"
        )
