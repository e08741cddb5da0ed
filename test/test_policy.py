"""One loader for trained policies (sac_grasp_ros.policy.load_policy): a checkpoint and its exported
TorchScript file give the same action in [-1, 1] and the same env settings; the exported file's rad/s
output is that action times the manifest's scale, never divided back. Real torch, seeded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from sac_grasp_ros.export import export_policy
from sac_grasp_ros.policy import Policy, PolicyError, load_policy
from sac_grasp_ros.sac import SAC, SACConfig, save_checkpoint

SCALE = 0.6


def _checkpoint(path: Path) -> SAC:
    """A small symmetric-observation policy with non-trivial weights, saved with its env.yaml."""
    sac = SAC(30, 7, SACConfig(hidden_size=32, seed=11, device="cpu", torch_threads=1))
    generator = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for parameter in sac.policy.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.3)
    save_checkpoint(path, sac)
    env = {
        "observation": "symmetric",
        "max_joint_velocity": SCALE,
        "reward": "shaped",
        "max_episode_steps": 80,
    }
    (path / "env.yaml").write_text(yaml.safe_dump(env))
    return sac


def test_a_checkpoint_and_its_torchscript_export_give_the_same_normalized_action(tmp_path: Path) -> None:
    sac = _checkpoint(tmp_path / "ckpt")
    export_policy(tmp_path / "ckpt", tmp_path / "export")
    from_checkpoint = load_policy(tmp_path / "ckpt")
    from_export = load_policy(tmp_path / "export" / "policy.pt")
    assert isinstance(from_checkpoint, Policy) and type(from_export) is type(from_checkpoint)
    for policy in (from_checkpoint, from_export):
        assert (policy.obs_dim, policy.act_dim, policy.observation) == (30, 7, "symmetric")
        assert policy.max_joint_velocity == SCALE
        # The task settings come along: the export's from the checkpoint it names as its source.
        assert (policy.env.reward, policy.env.max_episode_steps) == ("shaped", 80)
    observations = np.random.default_rng(5).normal(size=(64, 30)).astype(np.float32)
    expected = sac.act(observations, deterministic=True)
    assert np.abs(expected).max() <= 1.0 and (np.abs(expected) > 0.9).any()  # some saturated
    for policy in (from_checkpoint, from_export):
        np.testing.assert_allclose(policy.act(observations), expected, atol=1e-5)  # a batch
        np.testing.assert_allclose(policy.act(observations[3]), expected[3], atol=1e-5)  # one
    # The file's own output stays rad/s (libtorch's contract): the action times the manifest's scale.
    module = torch.jit.load(str(tmp_path / "export" / "policy.pt"))
    manifest = json.loads((tmp_path / "export" / "export.json").read_text())
    rad_per_s = module(torch.from_numpy(observations)).detach().numpy()
    np.testing.assert_allclose(rad_per_s, expected * manifest["max_joint_velocity"], atol=1e-5)


def test_an_export_whose_scale_disagrees_with_its_manifest_is_refused(tmp_path: Path) -> None:
    _checkpoint(tmp_path / "ckpt")
    export_policy(tmp_path / "ckpt", tmp_path / "export")
    manifest_path = tmp_path / "export" / "export.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "max_joint_velocity": 1.2}))
    with pytest.raises(PolicyError, match=r"scales its output by 0\.6 rad/s but export\.json says"):
        load_policy(tmp_path / "export" / "policy.pt")


def test_a_policy_acts_deterministically_and_checks_its_input(tmp_path: Path) -> None:
    _checkpoint(tmp_path / "ckpt")
    policy = load_policy(tmp_path / "ckpt")
    with pytest.raises(ValueError, match="deterministically"):
        policy.act(np.zeros(30, dtype=np.float32), deterministic=False)
    with pytest.raises(ValueError, match="expects 30 observation values"):
        policy.act(np.zeros((2, 17), dtype=np.float32))


def test_an_export_without_its_action_module_is_refused_with_the_command_that_fixes_it(
    tmp_path: Path,
) -> None:
    """A file whose only output is rad/s (as `sac-grasp export` wrote before the `action` module) is
    never divided back: load_policy says how to export it again."""
    sac = _checkpoint(tmp_path / "ckpt")
    export_policy(tmp_path / "ckpt", tmp_path / "export")

    class RadPerSecondOnly(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.policy = sac.policy
            self.register_buffer("velocity_scale", torch.tensor(SCALE))

        def forward(self, observation: torch.Tensor) -> torch.Tensor:
            mean, _ = self.policy(observation)
            return torch.tanh(mean) * self.velocity_scale

    traced = torch.jit.trace(RadPerSecondOnly().eval(), torch.zeros(2, 30))
    torch.jit.save(traced, str(tmp_path / "export" / "policy.pt"))
    with pytest.raises(PolicyError, match=r"has no `action` module.*sac-grasp export --policy .*ckpt"):
        load_policy(tmp_path / "export" / "policy.pt")
