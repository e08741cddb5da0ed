"""Settings of one training run, shared by every entry point (agent node, in-process trainer).

The agent node declares these fields as ROS parameters of the same names; the in-process trainer
reads them from the same `agent_node` block of a config file. Imports no rclpy.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

OnFinish = Literal["idle", "exit", "evaluate_and_exit"]
"""TrainingConfig.on_finish values"""
ON_FINISH: tuple[str, ...] = typing.get_args(OnFinish)


@dataclass
class TrainingConfig:
    """What the trainer does and when: budget, evaluations, checkpoints, demonstration stages, outputs."""

    learning: bool = True
    """store transitions and update; off = deployment (deterministic policy, nothing stored)"""
    total_steps: int = 0
    """stop learning after this many stored env steps (0: never)"""
    on_finish: OnFinish = "idle"
    """after total_steps: idle (keep acting), exit, or evaluate_and_exit"""
    result_file: str = ""
    """evaluate_and_exit also writes the evaluation JSON here"""
    eval_episodes: int = 10
    """episodes per /evaluate call and of the final evaluation"""
    eval_every: int = 0
    """while learning, a deterministic evaluation every N stored env steps, the first at 0 (right
    after learning from demonstrations); learning pauses meanwhile and nothing is stored (0: none)"""
    periodic_eval_episodes: int = 50
    """episodes of each periodic evaluation"""
    keep_best: bool = False
    """save the best periodically evaluated policy (success rate, then mean return) to the `best`
    sibling of checkpoint_dir; the final evaluation then measures it on fresh episodes"""
    report_dir: str = ""
    """TensorBoard scalars, rewards.csv, learning_curve.png and eval_curve.csv/png (empty: none)"""
    plot_every: int = 20
    """episodes between redraws of learning_curve.png"""
    checkpoint_dir: str = "checkpoints/latest"
    """directory of periodic, final and requested checkpoints"""
    load_on_start: str = ""
    """checkpoint directory loaded before the first action (deployment policy); empty: none"""
    resume: bool = False
    """load checkpoint_dir at start when it holds a checkpoint (policy, replay buffer, counters and
    learning curve); none there: start fresh"""
    checkpoint_every: int = 0
    """periodic checkpoint every N stored env steps (0: only on request and at the end)"""
    save_buffer: bool = True
    """checkpoints include the replay buffer"""
    demo_file: str = ""
    """demonstration .npz (sac.save_demos format); a sac.demo_ratio share of each batch comes from it"""
    prefill_from_demos: int = 0
    """demo transitions copied into the replay buffer before learning (the first N; -1: all; 0: none);
    not counted as env steps"""
    bc_steps: int = 0
    """behaviour-cloning steps of the policy on demo_file when a fresh learner is built (0: none)"""
    bc_pretrain_lr: float = 1e-3
    """Adam learning rate of those behaviour-cloning steps"""
    critic_pretrain_steps: int = 0
    """critic-only updates after cloning, so the first actor updates follow a critic that values the
    cloned behaviour (needs prefill_from_demos >= sac.batch_size; 0: none)"""
    bc_per_update: int = 0
    """behaviour-cloning steps on a demo batch after every SAC update (0: plain SAC)"""
    bc_lr: float = 3e-4
    """Adam learning rate of the per-update cloning steps (balance against sac.policy_lr)"""
    env_file: str = ""
    """YAML of the env's task settings, copied into every checkpoint as env.yaml (empty: none)"""
    max_updates_per_loop: int = 1
    """gradient updates between two looks at the envs (keeps the workers' latency low)"""
    progress_every: int = 200
    """loss, alpha and throughput scalars every N env steps seen"""
    seed: int = 0
    """seed of the learner, the replay buffer and the random warm-up actions"""

    def validate(self) -> None:
        """Fail with the field's name, before anything is built."""
        if self.on_finish not in ON_FINISH:
            raise ValueError(f"on_finish must be one of {ON_FINISH}, got {self.on_finish!r}")
        for name in ("eval_episodes", "periodic_eval_episodes", "plot_every", "max_updates_per_loop",
                     "progress_every"):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("total_steps", "checkpoint_every", "eval_every", "bc_steps", "critic_pretrain_steps",
                     "bc_per_update"):  # fmt: skip
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.prefill_from_demos < -1:
            raise ValueError(f"prefill_from_demos must be >= -1 (-1: all), got {self.prefill_from_demos!r}")
        for name in ("bc_pretrain_lr", "bc_lr"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        for name in ("env_file", "demo_file"):
            if getattr(self, name) and not Path(getattr(self, name)).is_file():
                raise ValueError(f"{name} {getattr(self, name)!r} does not exist")
        demo_stages = ("bc_steps", "bc_per_update", "prefill_from_demos")
        uses_demos = [name for name in demo_stages if getattr(self, name)]
        if uses_demos and not self.demo_file:
            raise ValueError(f"{', '.join(uses_demos)} need demonstrations: set demo_file")
        if self.critic_pretrain_steps and not self.prefill_from_demos:
            raise ValueError("critic_pretrain_steps needs a prefilled replay buffer: set prefill_from_demos")
        if self.keep_best and not self.eval_every:
            raise ValueError("keep_best selects among periodic evaluations: set eval_every > 0")

    def check_against(self, batch_size: int) -> None:
        """Checks that need the learner's settings too."""
        if self.critic_pretrain_steps and 0 < self.prefill_from_demos < batch_size:
            raise ValueError(
                f"critic_pretrain_steps needs prefill_from_demos >= sac.batch_size ({batch_size}), "
                f"got {self.prefill_from_demos}"
            )

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainingConfig:
        """From a plain mapping (a config file's agent_node block); unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training setting(s) {unknown}")
        return cls(**values)
