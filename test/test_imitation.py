"""Learning from demonstrations (sac/imitation.py) and demo recording on the real learner and env.

Shared by the in-process recipe and the ROS agent node, so checked here once, on real torch updates
and real scripted MuJoCo episodes; every random source is seeded.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from sac_grasp_ros import cli, paths
from sac_grasp_ros.envs.demos import DEMO_SEED_OFFSET, record_scripted_demos
from sac_grasp_ros.graph.prepare import record_config_demos, write_env_file
from sac_grasp_ros.graph.spec import build_node_specs, load_config, node_parameters
from sac_grasp_ros.sac import SAC, ReplayBuffer, SACConfig, load_demos
from sac_grasp_ros.sac.imitation import DemoAnchor, clone_demos, pretrain_critic

OBS, ACT = 6, 3


def linear_demos(count: int = 512, seed: int = 0) -> ReplayBuffer:
    """Demos whose action is a fixed function of the observation (learnable, not random)."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(count, OBS)).astype(np.float32)
    actions = np.tanh(obs[:, :ACT] - 0.5 * obs[:, ACT:]).astype(np.float32)
    buffer = ReplayBuffer(count, OBS, ACT, seed=seed)
    buffer.add_batch(
        obs, actions, rng.normal(size=count), rng.normal(size=(count, OBS)), np.zeros(count, bool)
    )
    return buffer


def small_config(**overrides) -> SACConfig:
    values = dict(hidden_size=32, q_hidden_layers=1, policy_hidden_layers=1, batch_size=64, seed=0)
    values.update(overrides)
    return SACConfig(torch_threads=1, device="cpu", **values)


def action_error(sac: SAC, demos: ReplayBuffer) -> float:
    data = demos.transitions()
    return float(np.mean((sac.act(data["obs"], deterministic=True) - data["actions"]) ** 2))


def policy_vector(sac: SAC) -> torch.Tensor:
    return torch.nn.utils.parameters_to_vector(sac.policy.parameters()).detach().clone()


def test_clone_demos_fits_the_demo_actions():
    demos, sac = linear_demos(), SAC(OBS, ACT, small_config())
    before = action_error(sac, demos)
    clone_demos(sac, demos, steps=400, batch_size=64, lr=3e-3)
    assert action_error(sac, demos) < 0.3 * before


def test_clone_demos_refuses_an_empty_source():
    with pytest.raises(ValueError, match="empty"):
        clone_demos(SAC(OBS, ACT, small_config()), ReplayBuffer(10, OBS, ACT), steps=1, batch_size=4)


def test_pretrain_critic_moves_only_the_critic():
    demos, sac = linear_demos(), SAC(OBS, ACT, small_config())
    policy_before = policy_vector(sac)
    q_before = torch.nn.utils.parameters_to_vector(sac.q.parameters()).detach().clone()
    pretrain_critic(sac, demos, demos, steps=20)
    assert torch.equal(policy_vector(sac), policy_before)
    assert not torch.equal(torch.nn.utils.parameters_to_vector(sac.q.parameters()), q_before)


def test_pretrain_critic_says_what_is_missing_on_a_small_buffer():
    sac = SAC(OBS, ACT, small_config())
    with pytest.raises(ValueError, match=r"at least one batch \(64\).*holds 10"):
        pretrain_critic(sac, linear_demos(count=10), None, steps=1)


def test_demo_anchor_clones_after_updates_and_only_with_demos():
    demos, sac = linear_demos(), SAC(OBS, ACT, small_config())
    anchor = DemoAnchor(sac, bc_per_update=2, bc_lr=3e-3)
    assert anchor.after_updates(None, 5) is None and anchor.after_updates(demos, 0) is None
    before = policy_vector(sac)
    assert anchor.after_updates(demos, 3) is not None
    assert not torch.equal(policy_vector(sac), before)
    with pytest.raises(ValueError, match="bc_per_update"):
        DemoAnchor(sac, bc_per_update=-1, bc_lr=1e-3)


def test_demo_anchored_sac_keeps_the_policy_near_the_demos_during_updates():
    """With a fast actor learning rate, plain SAC drifts from the demos; the anchor holds it closer."""
    demos = linear_demos()
    errors = {}
    for bc_per_update in (0, 1):
        config = small_config(policy_lr=3e-3, learning_starts=0)
        sac = SAC(OBS, ACT, config)
        anchor = DemoAnchor(sac, bc_per_update=bc_per_update, bc_lr=3e-3)
        clone_demos(sac, demos, steps=300, batch_size=64, lr=3e-3)
        sac.update_from(demos, 150, demo=demos)
        assert (anchor.after_updates(demos, 150) is not None) == bool(bc_per_update)
        errors[bc_per_update] = action_error(sac, demos)
    assert errors[1] < errors[0]


def test_record_scripted_demos_uses_sim_node_parameters(tmp_path: Path):
    params = node_parameters(load_config(paths.config_file("train")), "sim_node")
    stats = record_scripted_demos(params, episodes=2, seed=4, path=tmp_path / "d.npz")
    assert stats.episodes == 2 and stats.successes == 2
    demos = load_demos(tmp_path / "d.npz", obs_dim=30, act_dim=7)  # symmetric observation of train.yaml
    assert len(demos) == stats.transitions
    with pytest.raises(ValueError, match="episodes"):
        record_scripted_demos(params, episodes=0, seed=4, path=tmp_path / "e.npz")
    with pytest.raises(ValueError, match="observation"):
        record_scripted_demos({"observation": "bogus"}, episodes=1, seed=4, path=tmp_path / "e.npz")


def test_record_demos_subcommand(tmp_path: Path, capsys):
    out = tmp_path / "demos.npz"
    assert cli.main(["record-demos", str(out), "--episodes", "1", "--seed", "3"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # Default config/train.yaml: its symmetric observation (30 values).
    assert printed["episodes"] == 1 and len(load_demos(out, 30, 7)) == printed["transitions"]
    assert cli.main(["record-demos", str(out), "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err


def test_graph_demos_are_recorded_with_the_config_and_validated(tmp_path: Path):
    config = load_config(paths.config_file("train"))
    config["graph"]["demos"] = {"episodes": 2}
    path, stats = record_config_demos(config, tmp_path, {"seed": 3})
    assert stats["seed"] == DEMO_SEED_OFFSET + 3 and stats["episodes"] == 2
    assert len(load_demos(path, 30, 7)) == stats["transitions"]
    config["graph"]["demos"] = None
    assert record_config_demos(config, tmp_path) is None
    for bad, message in (
        ({"episodes": 0}, "episodes"),
        ({"episodes": 2, "bogus": 1}, "bogus"),
        (5, "mapping"),
    ):
        bad_file = tmp_path / "bad.yaml"
        bad_file.write_text(yaml.safe_dump({"graph": {"demos": bad}}))
        with pytest.raises(ValueError, match=message):
            build_node_specs(load_config(bad_file), "train")


def test_trained_policies_carry_the_workers_env_settings(tmp_path: Path):
    """env.yaml written by the launcher and kept in checkpoints: `sac-grasp test` then feeds the policy
    the observation it was trained on (the recipe's 30 values, not the default 17), on rotated blocks."""
    from sac_grasp_ros.envs.config import read_env_config
    from sac_grasp_ros.sac import load_checkpoint, save_checkpoint

    env_file = write_env_file(load_config(paths.config_file("train")), tmp_path)
    sac = SAC(OBS, ACT, small_config())
    checkpoint = save_checkpoint(tmp_path / "ckpt", sac, extra_files={"env.yaml": env_file.read_bytes()})
    settings = read_env_config(None, checkpoint)
    assert (settings.observation, settings.reward, settings.random_target) == ("symmetric", "shaped", True)
    assert settings.target_yaw_range == 45.0
    assert load_checkpoint(checkpoint).obs_dim == OBS
    with pytest.raises(ValueError, match="plain name"):
        save_checkpoint(tmp_path / "bad", sac, extra_files={"../escape.yaml": b""})
