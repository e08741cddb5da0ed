"""SAC losses as pure functions of tensors and modules: no optimiser steps, no host syncs.

Kept free of side effects so they can be compiled (torch.compile) or graph-captured, and tested
on their own.
"""

from __future__ import annotations

import torch

from sac_grasp_ros.sac.networks import CriticEnsemble, TanhGaussianPolicy
from sac_grasp_ros.sac.replay import ReplayBatch


def scale_rewards(rewards: torch.Tensor, scale: float, normalise: bool) -> torch.Tensor:
    """Plain scaling, or the original trainer's per-batch normalisation scale * (r - mean) / (std + 1e-6)."""
    if normalise:
        return scale * (rewards - rewards.mean()) / (rewards.std() + 1e-6)
    return rewards * scale if scale != 1.0 else rewards


def soft_bootstrap(
    batch: ReplayBatch,
    next_q: torch.Tensor,
    next_log_prob: torch.Tensor,
    alpha: torch.Tensor,
    gamma: float,
    reward_scale: float,
    reward_normalisation: bool,
) -> torch.Tensor:
    """y = r + gamma * (1 - terminated) * (min_i next_q_i - alpha * log pi(a'|s')), from the critics'
    values `next_q` (critics x batch) of (s', a'), a' ~ pi(.|s'). Only true terminations stop the
    bootstrap; truncated episodes keep terminated = 0. Called without gradient."""
    soft_next = next_q.min(dim=0).values - alpha * next_log_prob
    rewards = scale_rewards(batch.rewards, reward_scale, reward_normalisation)
    return rewards + gamma * (1.0 - batch.terminated) * soft_next


def bellman_target(
    batch: ReplayBatch,
    policy: TanhGaussianPolicy,
    q_target: CriticEnsemble,
    alpha: torch.Tensor,
    gamma: float,
    reward_scale: float,
    reward_normalisation: bool,
) -> torch.Tensor:
    """The soft Bellman target (`soft_bootstrap`) from the target critics Q'."""
    with torch.no_grad():
        next_actions, next_log_prob = policy.sample(batch.next_obs)
        next_q = q_target(batch.next_obs, next_actions)
        return soft_bootstrap(batch, next_q, next_log_prob, alpha, gamma, reward_scale, reward_normalisation)


def critic_loss(batch: ReplayBatch, q: CriticEnsemble, target: torch.Tensor) -> dict[str, torch.Tensor]:
    """Sum over critics of the MSE to the shared target (each critic gets exactly its own MSE gradient)."""
    return _critic_mse(q(batch.obs, batch.actions), target)


def _critic_mse(q_values: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    loss = (q_values - target.unsqueeze(0)).pow(2).mean(dim=1).sum()
    return {"q_loss": loss, "q_mean": q_values.detach().mean()}


def crossq_critic_loss(
    batch: ReplayBatch,
    policy: TanhGaussianPolicy,
    q: CriticEnsemble,
    alpha: torch.Tensor,
    gamma: float,
    reward_scale: float,
    reward_normalisation: bool,
) -> dict[str, torch.Tensor]:
    """CrossQ's critic loss: no target network; Q(s, a) and Q(s', a') in one forward pass in training
    mode, so the BatchRenorm statistics are those of the mixture of both (Bhatt et al. 2024), and the
    soft bootstrap (`soft_bootstrap`) is taken from the same pass without gradient. The critics are
    left in evaluation mode (the actor loss reads them with their running statistics)."""
    with torch.no_grad():
        next_actions, next_log_prob = policy.sample(batch.next_obs)
    q.train()
    try:
        both = q(torch.cat([batch.obs, batch.next_obs]), torch.cat([batch.actions, next_actions]))
    finally:
        q.eval()
    q_values, next_q = both.split(batch.obs.shape[0], dim=1)
    with torch.no_grad():
        target = soft_bootstrap(
            batch, next_q, next_log_prob, alpha, gamma, reward_scale, reward_normalisation
        )
    return _critic_mse(q_values, target)


def actor_loss(
    obs: torch.Tensor, policy: TanhGaussianPolicy, q: CriticEnsemble, alpha: torch.Tensor
) -> dict[str, torch.Tensor]:
    """E[alpha * log pi(a|s) - min_i Q_i(s, a)], a reparameterised; also returns log pi for the alpha loss.

    The critics run on detached weights, so backward reaches the policy through the actions only.
    """
    actions, log_prob = policy.sample(obs)
    min_q = q.frozen(obs, actions).min(dim=0).values
    loss = (alpha * log_prob - min_q).mean()
    return {"policy_loss": loss, "log_prob": log_prob, "entropy": -log_prob.detach().mean()}


def alpha_loss(log_alpha: torch.Tensor, log_prob: torch.Tensor, target_entropy: float) -> torch.Tensor:
    """Temperature loss -log_alpha * (log pi + target_entropy): raises alpha when entropy is below target."""
    return -(log_alpha * (log_prob.detach() + target_entropy)).mean()
