"""Policy and critic networks: the squashed-Gaussian log-density, exploration noise, clamps, critic paths."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sac_grasp_ros.sac.networks import CriticEnsemble, TanhGaussianPolicy, squashed_gaussian_sample


def reference_log_density(action: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """log p(a) by change of variables, computed independently in float64.

    u = atanh(a) ~ N(mean, std); p_a(a) = p_u(u) / |d tanh(u)/du|, with the derivative taken by autograd
    instead of the closed form the implementation uses.
    """
    u = torch.atanh(action.double()).requires_grad_(True)
    (jacobian,) = torch.autograd.grad(torch.tanh(u).sum(), u)
    normal = torch.distributions.Normal(mean.double(), std.double())
    return (normal.log_prob(u) - torch.log(jacobian)).sum(-1).detach()


def test_log_prob_matches_change_of_variables_density() -> None:
    generator = torch.Generator().manual_seed(0)
    mean = torch.randn(64, 3, generator=generator)
    log_std = torch.empty(64, 3).uniform_(-2.0, 0.5, generator=generator)
    noise = torch.randn(64, 3, generator=generator)
    action, log_prob = squashed_gaussian_sample(mean.double(), log_std.double(), noise.double())
    keep = action.abs().max(dim=1).values < 0.999  # atanh loses precision right at the bounds
    expected = reference_log_density(action[keep], mean[keep], log_std[keep].exp())
    assert keep.sum() > 40
    torch.testing.assert_close(log_prob[keep], expected, rtol=1e-6, atol=1e-6)


def test_log_density_integrates_to_one_and_matches_the_cdf_slope() -> None:
    """1-D check by numerical integration and against the derivative of the analytic CDF."""
    mean, log_std = torch.tensor([[0.3]], dtype=torch.float64), torch.tensor([[-0.4]], dtype=torch.float64)
    std = math.exp(-0.4)
    grid = torch.linspace(-1 + 1e-7, 1 - 1e-7, 400_001, dtype=torch.float64)
    noise = (torch.atanh(grid) - 0.3) / std
    _, log_prob = squashed_gaussian_sample(
        mean.expand(grid.numel(), 1), log_std.expand(grid.numel(), 1), noise[:, None]
    )
    density = log_prob.exp()
    assert torch.trapezoid(density, grid).item() == pytest.approx(1.0, abs=1e-4)

    def cdf(a: float) -> float:  # P(tanh(U) <= a) = Phi((atanh(a) - mean) / std)
        return 0.5 * (1 + math.erf((math.atanh(a) - 0.3) / (std * math.sqrt(2))))

    for a in (-0.9, -0.2, 0.0, 0.5, 0.95):
        h = 1e-6
        slope = (cdf(a + h) - cdf(a - h)) / (2 * h)
        index = int(torch.argmin((grid - a).abs()))
        assert density[index].item() == pytest.approx(slope, rel=1e-4)


def test_log_prob_stays_finite_far_in_the_tails() -> None:
    """The naive log(1 - tanh(u)^2) is -inf once tanh(u) rounds to 1; the softplus form is not."""
    mean = torch.tensor([[30.0, -30.0]])
    action, log_prob = squashed_gaussian_sample(mean, torch.zeros(1, 2), torch.zeros(1, 2))
    naive = (-math.log(math.sqrt(2 * math.pi)) - torch.log(1 - action.pow(2))).sum()
    assert torch.isinf(naive)
    assert torch.isfinite(log_prob).all()
    # log(1 - tanh(u)^2) ~ log 4 - 2|u| for large |u|: log pi = 2 * (N log-density at mean + 2*30 - log 4)
    expected = 2 * (-0.5 * math.log(2 * math.pi) + 60 - math.log(4))
    assert log_prob.item() == pytest.approx(expected, rel=1e-5)


def test_exploration_noise_differs_per_sample_and_per_dimension() -> None:
    torch.manual_seed(0)
    policy = TanhGaussianPolicy(4, 3, 16, 2)
    obs = torch.zeros(8, 4)  # identical observations: any difference comes from the noise
    actions, log_prob = policy.sample(obs)
    assert actions.shape == (8, 3) and log_prob.shape == (8,)
    assert torch.unique(actions[:, 0]).numel() == 8  # per sample
    assert torch.unique(actions[0]).numel() == 3  # per dimension (means are equal: head init ~ 0)


def test_log_std_is_clamped_and_actions_stay_in_bounds() -> None:
    torch.manual_seed(0)
    policy = TanhGaussianPolicy(4, 2, 16, 2, log_std_min=-20.0, log_std_max=2.0)
    with torch.no_grad():
        policy.net[-1].bias[2:] = 50.0  # log-std head
        policy.net[-1].bias[:2] = 100.0  # mean head
    _, log_std = policy(torch.randn(5, 4))
    assert torch.all(log_std == 2.0)
    with torch.no_grad():
        policy.net[-1].bias[2:] = -50.0
    assert torch.all(policy(torch.randn(5, 4))[1] == -20.0)
    actions, log_prob = policy.sample(torch.randn(100, 4))
    assert torch.all(actions.abs() <= 1.0) and torch.isfinite(log_prob).all()
    assert torch.allclose(policy.deterministic_action(torch.randn(3, 4)), torch.ones(3, 2))


def test_critic_paths_agree_and_last_layer_init() -> None:
    """The CUDA (stacked baddbmm) and CPU (per-critic) forward paths compute the same values and gradients."""
    torch.manual_seed(0)
    critics = CriticEnsemble(5, 2, 32, 3, num_critics=2, last_layer_init=3e-3)
    for critic in critics.critics:
        assert critic[-1].weight.abs().max() <= 3e-3 and critic[-1].bias.abs().max() <= 3e-3
    assert not torch.equal(critics.critics[0][0].weight, critics.critics[1][0].weight)  # independent init
    x = torch.randn(7, 7)
    per_critic = critics.forward_per_critic(x)
    (grad_a,) = torch.autograd.grad(per_critic.sum(), critics.critics[1][2].weight)
    stacked = critics.forward_stacked(x)
    (grad_b,) = torch.autograd.grad(stacked.sum(), critics.critics[1][2].weight)
    assert per_critic.shape == (2, 7)
    torch.testing.assert_close(per_critic, stacked)
    torch.testing.assert_close(grad_a, grad_b)


def test_frozen_critics_pass_gradients_to_actions_only() -> None:
    torch.manual_seed(0)
    critics = CriticEnsemble(3, 2, 16, 2)
    actions = torch.randn(4, 2, requires_grad=True)
    values = critics.frozen(torch.randn(4, 3), actions)
    values.sum().backward()
    assert actions.grad is not None and actions.grad.abs().sum() > 0
    assert all(param.grad is None for param in critics.parameters())


def test_frozen_values_equal_live_values() -> None:
    torch.manual_seed(1)
    critics = CriticEnsemble(3, 2, 16, 2)
    obs, actions = torch.randn(6, 3), torch.randn(6, 2)
    np.testing.assert_allclose(
        critics.frozen(obs, actions).detach().numpy(), critics(obs, actions).detach().numpy()
    )


def test_layer_norm_critics_normalise_each_hidden_layer() -> None:
    """q_layer_norm: every hidden pre-activation of every critic has zero mean and unit variance."""
    torch.manual_seed(0)
    critics = CriticEnsemble(5, 2, 32, 3, num_critics=2, norm="layer")
    for critic in critics.critics:
        features = torch.randn(64, 7) * 50.0  # badly scaled inputs still give normalised features
        normalised = 0
        for layer in critic:
            features = layer(features)
            if isinstance(layer, torch.nn.LayerNorm):
                normalised += 1
                torch.testing.assert_close(features.mean(dim=-1), torch.zeros(64), atol=1e-4, rtol=0)
                std = features.std(dim=-1, unbiased=False)
                torch.testing.assert_close(std, torch.ones(64), atol=1e-3, rtol=0)
        assert normalised == 3
    assert critics(torch.randn(4, 5), torch.randn(4, 2)).shape == (2, 4)
