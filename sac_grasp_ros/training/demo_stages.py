"""Learning from demonstrations within a training run (no ROS): the demo file in the learner's n-step
rows, the stages run once on a fresh learner (replay prefill, behaviour cloning, critic pretraining),
and what the demonstrations do during SAC (a demo_ratio share of each batch, the per-update anchor).
"""

from __future__ import annotations

import logging

import torch

from sac_grasp_ros.sac import SAC, ReplayBuffer, SACConfig, load_demos
from sac_grasp_ros.sac.device_buffer import DeviceReplayBuffer
from sac_grasp_ros.sac.imitation import DemoAnchor, clone_demos, pretrain_critic
from sac_grasp_ros.sac.replay import TRANSITION_FIELDS
from sac_grasp_ros.training.config import TrainingConfig

Buffer = ReplayBuffer | DeviceReplayBuffer


class DemoStages:
    """The demonstrations of one run, from demo_file (none when it is empty)."""

    def __init__(self, config: TrainingConfig, log: logging.Logger) -> None:
        self.config, self.log = config, log
        self.source: Buffer | None = None
        """the demonstrations as the learner samples them (None: no demo_file, or not loaded yet)"""
        self._anchor: DemoAnchor | None = None

    def load(self, obs_dim: int, act_dim: int, sac_config: SACConfig) -> None:
        """Read demo_file for these dims, folded into `sac_config`'s n-step rows like live transitions.
        Raises ValueError when the file's dims differ."""
        self.source = load_demos(
            self.config.demo_file,
            obs_dim,
            act_dim,
            seed=self.config.seed,
            n_step=sac_config.n_step,
            gamma=sac_config.gamma,
        )

    def attach(self, sac: SAC) -> None:
        """Hand the demonstrations to `sac`'s update path (a device copy where it samples on the device)."""
        if self.source is not None:
            self.source = sac.device_source(self.source, seed=self.config.seed)

    def learn_from(self, sac: SAC, buffer: Buffer) -> list[str]:
        """Prefill, behaviour cloning and critic pretraining, as configured: once, on a fresh learner
        (never on resume); returns the stages run."""
        config, demos, stages = self.config, self.source, []
        if config.prefill_from_demos:
            data = demos.transitions()
            count = min(
                len(demos) if config.prefill_from_demos < 0 else config.prefill_from_demos, len(demos)
            )
            buffer.add_batch(*(data[name][:count] for name in TRANSITION_FIELDS))
            stages.append(f"prefill {count}")
            self.log.info(f"replay buffer prefilled with {count} demonstration transitions")
        if config.bc_steps:
            loss = clone_demos(sac, demos, config.bc_steps, sac.config.batch_size, lr=config.bc_pretrain_lr)
            stages.append(f"bc {config.bc_steps}")
            self.log.info(f"behaviour cloning: {config.bc_steps} steps, final loss {loss:.3f}")
        if config.critic_pretrain_steps:
            loss = pretrain_critic(sac, buffer, demos, config.critic_pretrain_steps)
            stages.append(f"critic_pretrain {config.critic_pretrain_steps}")
            self.log.info(
                f"critic pretraining: {config.critic_pretrain_steps} updates, final q_loss {loss:.3f}"
            )
        return stages

    @property
    def shape_the_policy(self) -> bool:
        """The stages change the policy (cloning or critic pretraining), not only the buffer."""
        return bool(self.config.bc_steps or self.config.critic_pretrain_steps)

    def after_updates(self, sac: SAC, updates: int) -> torch.Tensor | None:
        """bc_per_update cloning steps per SAC update just run; the last loss, or None when none ran."""
        if not self.config.bc_per_update or self.source is None:
            return None
        if self._anchor is None or self._anchor.sac is not sac:  # a new learner (built or loaded)
            self._anchor = DemoAnchor(sac, self.config.bc_per_update, self.config.bc_lr)
        return self._anchor.after_updates(self.source, updates)
