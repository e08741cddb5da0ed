"""`sac-grasp export`: the deterministic policy as ONNX and TorchScript, ready for a robot-side runtime.

The exported graph takes the raw observation (float32 [batch, obs_dim], exactly what `GraspEnv`
returns for the trained observation mode) and returns joint velocities in rad/s (tanh(mean) times the
env's `max_joint_velocity`), so a deployment needs neither this package nor the action convention.
The TorchScript file also keeps that action, before the scale, as its `action` submodule (float32
[batch, act_dim] in [-1, 1]): what `sac_grasp_ros.policy.load_policy` runs, taking the scale from the
manifest (`export.json`), so nothing in this package divides the file's output back.
The ONNX file comes from `torch.export` through torch's current (dynamo) ONNX exporter, the graph
ONNX Runtime, TensorRT and OpenVINO run. The TorchScript file is kept for its consumers: libtorch
(C++ controllers) and `policy_node`'s `policy:=.../policy.pt`, which loads it without this package's
checkpoint format. Both files are checked against the torch policy on random inputs before the
command succeeds.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from sac_grasp_ros.atomic import atomic_path, atomic_write
from sac_grasp_ros.command_line import IfGiven, parse
from sac_grasp_ros.envs.config import GraspEnvConfig, read_env_config
from sac_grasp_ros.policy import MANIFEST_FILE, TORCHSCRIPT_FILE
from sac_grasp_ros.sac import CheckpointError, load_checkpoint
from sac_grasp_ros.sac.networks import TanhGaussianPolicy

ONNX_FILE = "policy.onnx"
VERIFY_SAMPLES = 256
VERIFY_TOLERANCE = 1e-5


class DeterministicAction(nn.Module):
    """Raw observation -> the policy's deterministic action in [-1, 1] (its mean squashed by tanh)."""

    def __init__(self, policy: TanhGaussianPolicy) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        mean, _ = self.policy(observation.to(torch.float32))
        return torch.tanh(mean)


class PolicyExportModule(nn.Module):
    """The graph `sac-grasp export` writes: raw observation -> joint velocities (rad/s), the `action`
    submodule's output times the `velocity_scale` buffer (the env's max_joint_velocity)."""

    def __init__(self, policy: TanhGaussianPolicy, max_joint_velocity: float) -> None:
        super().__init__()
        self.action = DeterministicAction(policy)
        self.register_buffer("velocity_scale", torch.tensor(float(max_joint_velocity), dtype=torch.float32))

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        return self.action(observation) * self.velocity_scale


def build_export_module(policy_dir: Path, env_config: GraspEnvConfig) -> tuple[PolicyExportModule, int]:
    """Load the checkpoint on CPU and wrap its policy; returns the module and the observation size."""
    loaded = load_checkpoint(policy_dir, device="cpu")
    module = PolicyExportModule(loaded.sac.policy.cpu(), env_config.max_joint_velocity).eval()
    return module, loaded.obs_dim


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Mute what the exporter says about operators this graph never uses (torchvision's, absent here)
    and torch's own deprecation notices: the user only needs the result and its verification."""
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        registration.setLevel(level)


def export_policy(
    policy_dir: Path, out_dir: Path, env_config_file: Path | None = None, seed: int = 0
) -> dict[str, Any]:
    """Write TorchScript and ONNX files plus a manifest into `out_dir`; verify both against torch."""
    env_config = read_env_config(env_config_file, policy_dir)
    module, obs_dim = build_export_module(policy_dir, env_config)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Batch 2: torch.export specialises a dimension seen as 1 to a constant, and the batch must stay free.
    example = torch.zeros(2, obs_dim)

    scripted = torch.jit.trace(module, example)
    torchscript_path = out_dir / TORCHSCRIPT_FILE
    with atomic_path(torchscript_path) as temporary:  # a failed export never leaves half a file
        torch.jit.save(scripted, str(temporary))

    with _quiet_exporter():
        program = torch.export.export(module, (example,), dynamic_shapes=({0: torch.export.Dim("batch")},))
        onnx_program = torch.onnx.export(
            program,
            (example,),
            input_names=["observation"],
            output_names=["joint_velocity"],
            dynamo=True,
            verbose=False,
        )
    onnx_path = out_dir / ONNX_FILE
    with atomic_path(onnx_path) as temporary:
        onnx_program.save(str(temporary))

    errors = verify_exports(module, torchscript_path, onnx_path, obs_dim, seed)
    manifest = {
        "source": str(policy_dir),
        "obs_dim": obs_dim,
        "act_dim": int(module.action.policy.act_dim),
        "observation": env_config.observation,
        "control_mode": env_config.control_mode,
        "max_joint_velocity": env_config.max_joint_velocity,
        "input": "observation float32 [batch, obs_dim], as GraspEnv returns it",
        "output": "joint_velocity float32 [batch, act_dim] in rad/s, right_j0..right_j6",
        "action": "policy.pt's `action` submodule: float32 [batch, act_dim] in [-1, 1]; "
        "joint_velocity = action * max_joint_velocity",
        "files": {"torchscript": TORCHSCRIPT_FILE, "onnx": ONNX_FILE},
        "max_abs_error": errors,
    }
    atomic_write(out_dir / MANIFEST_FILE, json.dumps(manifest, indent=2) + "\n")
    return manifest


def verify_exports(
    module: PolicyExportModule, torchscript_path: Path, onnx_path: Path, obs_dim: int, seed: int
) -> dict[str, float]:
    """Max |difference| of each exported file against the torch module on seeded random observations."""
    generator = torch.Generator().manual_seed(seed)
    observations = torch.randn(VERIFY_SAMPLES, obs_dim, generator=generator) * 2.0
    with torch.no_grad():
        expected = module(observations).numpy()
        from_torchscript = torch.jit.load(str(torchscript_path))(observations).numpy()
    errors = {"torchscript": float(np.abs(from_torchscript - expected).max())}
    try:
        import onnxruntime
    except ImportError:  # the runtime is a dev dependency: without it the ONNX file is written unverified
        errors["onnx"] = float("nan")
    else:
        session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        from_onnx = session.run(None, {"observation": observations.numpy()})[0]
        errors["onnx"] = float(np.abs(from_onnx - expected).max())
    bad = {
        name: error for name, error in errors.items() if not math.isnan(error) and error > VERIFY_TOLERANCE
    }
    if bad:
        raise RuntimeError(f"exported policy differs from the torch policy: max abs error {bad}")
    return errors


@dataclass
class ExportOptions:
    """Export the deterministic policy as ONNX and TorchScript, ready for a robot-side runtime."""

    policy: Path
    """checkpoint directory of a trained policy"""
    out: IfGiven[Path | None] = None
    """output directory (default: <policy>/export)"""
    env_config: IfGiven[Path | None] = None
    """YAML with the env settings (default: env.yaml beside the policy, else defaults)"""


def main(argv: list[str] | None = None) -> int:
    args = parse(ExportOptions, sys.argv[1:] if argv is None else argv, "sac-grasp export")
    out_dir = args.out if args.out is not None else args.policy / "export"
    try:
        manifest = export_policy(args.policy, out_dir, args.env_config)
    except (CheckpointError, FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"sac-grasp export: {error}", file=sys.stderr)
        return 1
    print(
        json.dumps({"out": str(out_dir), **{k: manifest[k] for k in ("obs_dim", "act_dim", "max_abs_error")}})
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
