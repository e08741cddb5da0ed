"""`sac-grasp export`: TorchScript and ONNX files compute the same joint velocities as the torch policy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
import yaml

from sac_grasp_ros.envs.config import ENV_CONFIG_FILE
from sac_grasp_ros.export import export_policy
from sac_grasp_ros.sac import SAC, SACConfig, save_checkpoint

OBS_DIM, ACT_DIM = 17, 7
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def trained_dir(tmp_path: Path) -> tuple[Path, SAC]:
    """A small learner with non-trivial weights (one gradient step), saved as a checkpoint."""
    sac = SAC(OBS_DIM, ACT_DIM, SACConfig(hidden_size=32, seed=3, device="cpu", torch_threads=1))
    with torch.no_grad():
        for parameter in sac.policy.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.1)
    path = save_checkpoint(tmp_path / "policy", sac)
    (path / ENV_CONFIG_FILE).write_text(
        yaml.safe_dump({"max_joint_velocity": 0.75, "observation": "original"})
    )
    return path, sac


def test_exports_match_torch_policy_in_rad_per_s(trained_dir: tuple[Path, SAC], tmp_path: Path) -> None:
    policy_dir, sac = trained_dir
    manifest = export_policy(policy_dir, tmp_path / "out")
    assert manifest["obs_dim"] == OBS_DIM and manifest["max_joint_velocity"] == 0.75

    observations = np.random.default_rng(7).normal(size=(64, OBS_DIM)).astype(np.float32)
    expected = sac.act(observations, deterministic=True) * 0.75
    scripted = torch.jit.load(str(tmp_path / "out" / "policy.pt"))
    from_torchscript = scripted(torch.from_numpy(observations)).detach().numpy()
    session = onnxruntime.InferenceSession(str(tmp_path / "out" / "policy.onnx"))
    from_onnx = session.run(None, {"observation": observations})[0]
    np.testing.assert_allclose(from_torchscript, expected, atol=1e-5)
    np.testing.assert_allclose(from_onnx, expected, atol=1e-5)
    assert np.abs(expected).max() <= 0.75 and np.abs(expected).max() > 0.0
    # One observation at a time, as a controller runs it: the batch dimension stays free in both files.
    single = session.run(None, {"observation": observations[:1]})[0]
    np.testing.assert_allclose(single, expected[:1], atol=1e-5)
    np.testing.assert_allclose(
        scripted(torch.from_numpy(observations[:1])).detach().numpy(), expected[:1], atol=1e-5
    )
    # Written from torch.export's graph by the current ONNX exporter, not the TorchScript-based one: its
    # nodes name the FX nodes they came from.
    graph = onnx.load(str(tmp_path / "out" / "policy.onnx"))
    from_fx = [
        any(p.key == "pkg.torch.onnx.fx_node" for p in node.metadata_props) for node in graph.graph.node
    ]
    assert sum(from_fx) >= len(from_fx) - 2  # the optimiser may add a split of its own
    assert graph.graph.input[0].type.tensor_type.shape.dim[0].dim_param


def test_cli_reports_missing_checkpoint_clearly(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sac_grasp_ros.cli", "export", "--policy", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 1
    assert "nope" in result.stderr and "Traceback" not in result.stderr


def test_cli_writes_manifest(trained_dir: tuple[Path, SAC], tmp_path: Path) -> None:
    policy_dir, _ = trained_dir
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sac_grasp_ros.cli",
            "export",
            "--policy",
            str(policy_dir),
            "--out",
            str(tmp_path / "x"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["act_dim"] == ACT_DIM and summary["max_abs_error"]["onnx"] < 1e-5
    assert (tmp_path / "x" / "export.json").is_file()
