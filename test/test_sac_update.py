"""SAC update arithmetic: Bellman target, critic/actor/alpha losses, soft target update, public API."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from sac_grasp_ros.sac import SAC, ReplayBatch, ReplayBuffer, SACConfig, losses

SMALL = {"hidden_size": 32, "q_hidden_layers": 2, "policy_hidden_layers": 2, "device": "cpu"}


def small_sac(obs_dim: int = 4, act_dim: int = 2, **overrides) -> SAC:
    return SAC(obs_dim, act_dim, SACConfig(**{**SMALL, "seed": 0, **overrides}))


def filled_buffer(obs_dim: int = 4, act_dim: int = 2, count: int = 300, seed: int = 0) -> ReplayBuffer:
    rng = np.random.default_rng(seed)
    buffer = ReplayBuffer(1000, obs_dim, act_dim, seed=seed)
    buffer.add_batch(
        rng.standard_normal((count, obs_dim)),
        rng.uniform(-1, 1, (count, act_dim)),
        rng.standard_normal(count),
        rng.standard_normal((count, obs_dim)),
        rng.random(count) < 0.1,
    )
    return buffer


def batch_of(
    rewards: list[float], terminated: list[float], obs_dim: int = 4, act_dim: int = 2
) -> ReplayBatch:
    count = len(rewards)
    generator = torch.Generator().manual_seed(3)
    return ReplayBatch(
        torch.randn(count, obs_dim, generator=generator),
        torch.rand(count, act_dim, generator=generator) * 2 - 1,
        torch.tensor(rewards),
        torch.randn(count, obs_dim, generator=generator),
        torch.tensor(terminated),
    )


def test_bellman_target_bootstraps_unless_terminated() -> None:
    sac = small_sac(gamma=0.9, reward_scale=2.0)
    batch = batch_of([1.0, 1.0, -3.0], [0.0, 1.0, 0.0])
    torch.manual_seed(5)
    target = losses.bellman_target(batch, sac.policy, sac.q_target, sac.alpha, 0.9, 2.0, False)
    torch.manual_seed(5)  # same noise for the independent recomputation
    next_actions, next_log_prob = sac.policy.sample(batch.next_obs)
    soft_value = sac.q_target(batch.next_obs, next_actions).min(dim=0).values - sac.alpha * next_log_prob
    expected = 2.0 * batch.rewards + 0.9 * torch.tensor([1.0, 0.0, 1.0]) * soft_value.detach()
    torch.testing.assert_close(target, expected)
    assert target[1].item() == pytest.approx(2.0)  # terminated: reward only, no bootstrap
    assert not target.requires_grad


def test_reward_normalisation_is_the_original_formula() -> None:
    rewards = torch.tensor([1.0, 2.0, 6.0, -1.0])
    normalised = losses.scale_rewards(rewards, 10.0, normalise=True)
    expected = 10.0 * (rewards - rewards.mean()) / (rewards.std() + 1e-6)
    torch.testing.assert_close(normalised, expected)
    torch.testing.assert_close(losses.scale_rewards(rewards, 0.5, normalise=False), rewards * 0.5)


def test_critic_loss_is_each_critics_mse() -> None:
    sac = small_sac()
    batch = batch_of([0.5, -0.5, 1.0, 2.0], [0, 0, 1, 0])
    target = torch.tensor([0.1, 0.2, 0.3, 0.4])
    result = losses.critic_loss(batch, sac.q, target)
    x = torch.cat([batch.obs, batch.actions], 1)
    q1, q2 = (critic(x).squeeze(-1) for critic in sac.q.critics)
    expected = torch.mean((q1 - target) ** 2) + torch.mean((q2 - target) ** 2)
    torch.testing.assert_close(result["q_loss"], expected)


def test_actor_loss_value_and_gradients_reach_policy_only() -> None:
    sac = small_sac()
    obs = torch.randn(16, 4)
    alpha = torch.tensor(0.3)
    torch.manual_seed(9)
    result = losses.actor_loss(obs, sac.policy, sac.q, alpha)
    torch.manual_seed(9)
    actions, log_prob = sac.policy.sample(obs)
    expected = (0.3 * log_prob - sac.q(obs, actions).min(dim=0).values).mean()
    torch.testing.assert_close(result["policy_loss"], expected)
    result["policy_loss"].backward()
    assert all(param.grad is None for param in sac.q.parameters())
    assert all(param.grad is not None for param in sac.policy.parameters())


def test_alpha_loss_raises_alpha_when_entropy_is_below_target() -> None:
    log_alpha = torch.zeros((), requires_grad=True)
    low_entropy_log_prob = torch.full((8,), 5.0)  # entropy -5 < target -2
    losses.alpha_loss(log_alpha, low_entropy_log_prob, target_entropy=-2.0).backward()
    assert log_alpha.grad.item() < 0  # gradient descent increases log_alpha
    log_alpha.grad = None
    losses.alpha_loss(log_alpha, torch.full((8,), -5.0), target_entropy=-2.0).backward()
    assert log_alpha.grad.item() > 0


def test_soft_target_update_arithmetic() -> None:
    sac = small_sac(tau=0.25)
    with torch.no_grad():
        for param in sac.q.parameters():
            param.add_(1.0)  # make online and target differ
    before_target = copy.deepcopy(sac.q_target.state_dict())
    online = copy.deepcopy(sac.q.state_dict())
    sac.soft_update_targets()
    for name, value in sac.q_target.state_dict().items():
        torch.testing.assert_close(value, 0.75 * before_target[name] + 0.25 * online[name])


def test_update_changes_all_networks_and_counts() -> None:
    sac = small_sac()
    buffer = filled_buffer()
    policy_before = copy.deepcopy(sac.policy.state_dict())
    target_before = copy.deepcopy(sac.q_target.state_dict())
    alpha_before = sac.alpha.item()
    metrics = sac.update(buffer.sample(sac.config.batch_size))
    assert set(metrics) >= {"q_loss", "policy_loss", "alpha", "alpha_loss", "entropy"}
    assert all(isinstance(value, float) and np.isfinite(value) for value in metrics.values())
    assert sac.num_updates == 1
    metrics = sac.update_from(buffer, 3)
    assert sac.num_updates == 4 and metrics["alpha"] != alpha_before
    assert any(not torch.equal(policy_before[k], v) for k, v in sac.policy.state_dict().items())
    assert any(not torch.equal(target_before[k], v) for k, v in sac.q_target.state_dict().items())
    assert sac.alpha.item() != alpha_before


def test_fixed_alpha_when_autotune_is_off() -> None:
    sac = small_sac(autotune_alpha=False, init_alpha=0.2)
    metrics = sac.update_from(filled_buffer(), 3)
    assert metrics["alpha"] == pytest.approx(0.2) and "alpha_loss" not in metrics


def test_act_shapes_bounds_and_bad_input() -> None:
    sac = small_sac()
    obs = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32) * 100
    for deterministic in (False, True):
        actions = sac.act(obs, deterministic=deterministic)
        assert actions.shape == (5, 2) and actions.dtype == np.float32
        assert np.all(np.abs(actions) <= 1.0)
    assert sac.act(obs[0]).shape == (2,)
    np.testing.assert_array_equal(sac.act(obs, True), sac.act(obs, True))
    with pytest.raises(ValueError, match=r"shape \[B, 4\]"):
        sac.act(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="NaN"):
        sac.act(np.full((1, 4), np.nan))


def test_config_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"SACConfig\.tau"):
        SACConfig(tau=0.0)
    with pytest.raises(ValueError, match=r"SACConfig\.hidden_size"):
        SACConfig(hidden_size=0)
    with pytest.raises(ValueError, match="log_std_min"):
        SACConfig(log_std_min=3.0)
    with pytest.raises(ValueError, match=r"unknown SACConfig field.*hiden_size"):
        SACConfig.from_dict({"hiden_size": 3})
    assert SACConfig.from_dict(SACConfig(batch_size=7).to_dict()).batch_size == 7


def test_original_defaults() -> None:
    config = SACConfig()
    sac = SAC(17, 7, SACConfig(device="cpu"))
    assert (config.hidden_size, config.q_hidden_layers, config.policy_hidden_layers) == (512, 3, 4)
    assert (config.q_lr, config.policy_lr, config.alpha_lr) == (3e-4, 3e-4, 3e-4)
    assert (config.gamma, config.tau, config.batch_size) == (0.99, 0.01, 128)
    assert (config.log_std_min, config.log_std_max) == (-20.0, 2.0)
    assert sac.target_entropy == -7.0
    linears = [m for m in sac.policy.net if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 5 and linears[0].in_features == 17 and linears[-1].out_features == 14
    q_linears = [m for m in sac.q.critics[0] if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in q_linears] == [512, 512, 512, 1] and q_linears[0].in_features == 24
