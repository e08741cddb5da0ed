"""CrossQ (Bhatt et al. 2024) as a learner option: BatchRenorm arithmetic, the joint (s, a) / (s', a')
critic pass without target networks, the delayed actor, checkpoints with running statistics, and
that it learns Pendulum."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

from sac_grasp_ros.sac import SAC, SACConfig, load_checkpoint, save_checkpoint
from sac_grasp_ros.sac.networks import BatchRenorm, mlp
from sac_grasp_ros.sac.replay import ReplayBatch
from sac_grasp_ros.training.config import TrainingConfig
from sac_grasp_ros.training.gym_loop import evaluate, train
from sac_grasp_ros.training.session import TrainingSession

SMALL = {"hidden_size": 16, "q_hidden_layers": 2, "policy_hidden_layers": 1, "batch_size": 8,
         "device": "cpu", "torch_threads": 1, "seed": 0, "critic": "crossq"}  # fmt: skip


def batch(seed: int = 0, rows: int = 8) -> ReplayBatch:
    generator = torch.Generator().manual_seed(seed)
    return ReplayBatch(
        torch.randn(rows, 3, generator=generator),
        torch.rand(rows, 2, generator=generator) * 2 - 1,
        torch.randn(rows, generator=generator),
        torch.randn(rows, 3, generator=generator),
        torch.zeros(rows),
    )


def test_batch_renorm_trains_on_batch_statistics_and_evaluates_on_running_ones():
    torch.manual_seed(0)
    layer = BatchRenorm(4, momentum=0.5, warmup_steps=10)
    x = torch.randn(64, 4) * 3 + 2
    out = layer(x)  # warm-up: plain batch normalisation
    torch.testing.assert_close(out.mean(dim=0), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std(dim=0, unbiased=False), torch.ones(4), atol=1e-3, rtol=0)
    torch.testing.assert_close(layer.running_mean, 0.5 * x.mean(dim=0))  # lerp from 0 by the momentum
    assert int(layer.steps) == 1
    layer.eval()
    expected = (x - layer.running_mean) / (layer.running_var + layer.eps).sqrt()
    torch.testing.assert_close(layer(x), expected)
    assert int(layer.steps) == 1  # evaluation changes nothing


def test_after_warm_up_renormalised_training_output_equals_the_running_statistics_output():
    """x_hat * r + d = (x - running_mean) / running_std whenever r and d are inside their clamps."""
    torch.manual_seed(0)
    layer = BatchRenorm(4, momentum=0.0, warmup_steps=0)
    layer.running_mean.fill_(0.5)
    layer.running_var.fill_(2.0)
    x = torch.randn(64, 4) + 0.3
    training = layer(x)
    layer.eval()
    torch.testing.assert_close(training, layer(x), atol=1e-5, rtol=1e-5)
    layer.train()
    layer.running_var.fill_(1e-4)  # r = batch_std / running_std would be ~100: clamped to r_max
    clamped = layer(x)
    assert not torch.allclose(clamped, (x - 0.5) / (1e-4 + layer.eps) ** 0.5)


def test_crossq_critics_have_batch_renorm_on_input_and_hidden_layers():
    layers = [type(layer) for layer in mlp(5, 1, 8, 2, norm="batch_renorm")]
    assert layers == [BatchRenorm, torch.nn.Linear, BatchRenorm, torch.nn.ReLU,
                      torch.nn.Linear, BatchRenorm, torch.nn.ReLU, torch.nn.Linear]  # fmt: skip
    with pytest.raises(ValueError, match="norm must be one of"):
        mlp(5, 1, 8, 2, norm="group")


def test_crossq_update_uses_one_joint_pass_no_target_network_and_leaves_critics_in_eval_mode():
    sac = SAC(3, 2, SACConfig(**SMALL))
    target_before = [p.clone() for p in sac.q_target.parameters()]
    q_before = [p.clone() for p in sac.q.parameters()]
    data = batch()
    sac.update(data)
    first_norm = sac.q.critics[0][0]
    assert int(first_norm.steps) == 1  # one training pass per update (the actor reads eval mode)
    joint = torch.cat([torch.cat([data.obs, data.actions], 1), torch.cat([data.next_obs, data.actions], 1)])
    # The input statistics came from all 16 rows: the observations of s and s' (actions of s' differ).
    torch.testing.assert_close(first_norm.running_mean[:3], 0.01 * joint[:, :3].mean(dim=0))
    assert not sac.q.training
    assert all(torch.equal(a, b) for a, b in zip(target_before, sac.q_target.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(q_before, sac.q.parameters(), strict=True))


def test_policy_delay_updates_the_actor_every_nth_critic_update():
    sac = SAC(3, 2, SACConfig(**SMALL, policy_delay=3))
    changed = []
    for index in range(6):
        before = [p.clone() for p in sac.policy.parameters()]
        metrics = sac.update(batch(index))
        changed.append(
            any(not torch.equal(a, b) for a, b in zip(before, sac.policy.parameters(), strict=True))
        )
        assert ("policy_loss" in metrics) == changed[-1]
    assert changed == [True, False, False, True, False, False]


def test_settings_that_the_device_paths_cannot_run_are_refused_or_kept_classic():
    with pytest.raises(ValueError, match="q_layer_norm does not apply"):
        SACConfig(critic="crossq", q_layer_norm=True)
    with pytest.raises(ValueError, match="critic must be one of"):
        SACConfig(critic="redq")
    with pytest.raises(ValueError, match="eager needs critic: sac and policy_delay: 1"):
        SACConfig(critic="crossq", cuda_graph="eager")
    with pytest.raises(ValueError, match="adam_beta1"):
        SACConfig(adam_beta1=1.0)
    sac = SAC(3, 2, SACConfig(**SMALL, adam_beta1=0.5))
    assert sac.update_path == "classic"
    assert sac.q_optimizer.param_groups[0]["betas"] == (0.5, 0.999)


def test_checkpoints_carry_the_running_statistics(tmp_path):
    sac = SAC(3, 2, SACConfig(**SMALL))
    for index in range(3):
        sac.update(batch(index))
    save_checkpoint(tmp_path / "ck", sac)
    loaded = load_checkpoint(tmp_path / "ck").sac
    probe = batch(9)
    assert not loaded.q.training
    torch.testing.assert_close(loaded.q(probe.obs, probe.actions), sac.q(probe.obs, probe.actions))
    assert int(loaded.q.critics[1][0].steps) == 3


@pytest.mark.slow
def test_crossq_solves_pendulum(tmp_path) -> None:
    """Same budget and bar as test_sac_learning's SAC run: CrossQ's defaults of its paper (lr 1e-3,
    Adam beta1 0.5, policy delay 3), 2x256 networks."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        config = SACConfig(hidden_size=256, q_hidden_layers=2, policy_hidden_layers=2, learning_starts=1000,
                           buffer_capacity=10_000, device="cpu", seed=0, critic="crossq", policy_delay=3,
                           adam_beta1=0.5, q_lr=1e-3, policy_lr=1e-3, alpha_lr=1e-3)  # fmt: skip
        env = gym.make("Pendulum-v1")
        env.action_space.seed(0)
        session = TrainingSession(
            TrainingConfig(total_steps=6_000, on_finish="exit", seed=0, checkpoint_dir=str(tmp_path / "ck")),
            config,
        )
        train(session, env, None, 0)
        result = evaluate(gym.make("Pendulum-v1"), session.sac, 10, seed=1000)
    finally:
        torch.set_num_threads(previous)
    print(f"crossq pendulum eval mean return {result.mean_return:.1f}")
    assert result.mean_return > -250.0, f"eval returns {result.returns}"
