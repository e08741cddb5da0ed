"""Learning from demonstrations on top of SAC: behaviour cloning, critic pretraining, demo anchoring.

Used by `training.demo_stages.DemoStages`, within the one trainer of every entry point: the stages that
make SAC learn the grasp from a few thousand env steps (see docs/learning.md). Imports no rclpy.
"""

from __future__ import annotations

import torch

from sac_grasp_ros.sac.agent import SAC, BatchSource, sample_mixed

BC_CLIP = 0.995
"""Demo actions are clipped to +/- this before atanh (the scripted controller saturates at 1.0)."""


def clone_demos(
    sac: SAC,
    demo: BatchSource,
    steps: int,
    batch_size: int,
    lr: float = 1e-3,
    optimiser: torch.optim.Optimizer | None = None,
) -> float:
    """Fit the policy's Gaussian (before the tanh) to the demo actions by maximum likelihood.

    Returns the last loss. A separate Adam keeps the learner's own optimiser state untouched.
    """
    return float(clone_demos_tensor(sac, demo, steps, batch_size, lr, optimiser))


def clone_demos_tensor(
    sac: SAC,
    demo: BatchSource,
    steps: int,
    batch_size: int,
    lr: float = 1e-3,
    optimiser: torch.optim.Optimizer | None = None,
) -> torch.Tensor:
    """As `clone_demos`, but the last loss stays a tensor: the per-update anchor runs inside the
    learning loop, where a host sync per step would stall a CUDA learner."""
    if steps < 0 or batch_size < 1:
        raise ValueError(f"clone_demos needs steps >= 0 and batch_size >= 1, got {steps}, {batch_size}")
    if steps and len(demo) == 0:
        raise ValueError("clone_demos: the demonstration source is empty")
    policy = sac.policy
    optimiser = optimiser or torch.optim.Adam(policy.parameters(), lr=lr)
    loss = torch.zeros(())
    for _ in range(steps):
        batch = demo.sample(batch_size, device=sac.device)
        target = torch.atanh(batch.actions.clamp(-BC_CLIP, BC_CLIP))
        mean, log_std = policy(batch.obs)
        loss = (0.5 * ((target - mean) / log_std.exp()) ** 2 + log_std).sum(dim=-1).mean()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    return loss.detach()


def pretrain_critic(sac: SAC, buffer: BatchSource, demo: BatchSource | None, steps: int) -> float:
    """Critic-only SAC updates (targets from the current policy), keeping the policy as cloned.

    So the first actor updates follow a critic that already values the cloned behaviour.
    """
    config = sac.config
    if steps and len(buffer) < config.batch_size:
        raise ValueError(
            f"critic pretraining needs at least one batch ({config.batch_size}) in the replay buffer, "
            f"it holds {len(buffer)}: prefill it with scripted or demo transitions first"
        )
    loss = torch.zeros(())
    for _ in range(steps):
        batch = sample_mixed(buffer, demo, config.batch_size, config.demo_ratio, sac.device)
        loss = sac.critic_step(batch, sac.alpha)["q_loss"]
    return float(loss)


class DemoAnchor:
    """`bc_per_update` behaviour-cloning steps on demo batches after each SAC update (own Adam).

    Plain SAC fine-tuning of a cloned policy collapsed (92 % -> 4 % success in 5k steps, see
    docs/learning.md): the actor follows the critic's action gradients where the critic has no data.
    The RL and cloning steps use separate Adam optimisers, whose step sizes do not depend on the
    gradient scale, so the balance is set by policy_lr / bc_lr (1e-5 / 3e-4 works; equal rates let
    the RL step win and the policy collapse). Kept apart from the SAC object so a learner loaded
    from a checkpoint (a plain SAC) can be anchored too.
    """

    def __init__(self, sac: SAC, bc_per_update: int, bc_lr: float) -> None:
        if bc_per_update < 0 or not bc_lr > 0:
            raise ValueError(f"bc_per_update must be >= 0 and bc_lr > 0, got {bc_per_update}, {bc_lr}")
        self.sac = sac
        self.bc_per_update = bc_per_update
        self.optimiser = torch.optim.Adam(sac.policy.parameters(), lr=bc_lr)

    def after_updates(self, demo: BatchSource | None, num_updates: int) -> torch.Tensor | None:
        """Clone for `bc_per_update * num_updates` steps; the last loss, or None when nothing ran."""
        if not self.bc_per_update or demo is None or num_updates <= 0 or len(demo) == 0:
            return None
        steps = self.bc_per_update * num_updates
        return clone_demos_tensor(self.sac, demo, steps, self.sac.config.batch_size, optimiser=self.optimiser)
