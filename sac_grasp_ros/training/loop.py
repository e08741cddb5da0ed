"""The off-policy training loop on one gymnasium env: act, store, update, account, checkpoint, evaluate.

Kept apart from the command line so tests and the ROS comparison can drive it directly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from sac_grasp_ros.sac import SAC, ReplayBuffer
from sac_grasp_ros.sac.agent import BatchSource
from sac_grasp_ros.training.curve import EpisodeRecord, EpisodeTracker, LearningCurve, success_from_info
from sac_grasp_ros.training.reporting import RunReporter


class ActionScaler:
    """Maps the policy's [-1, 1] actions affinely onto the env's Box bounds."""

    def __init__(self, space: gym.Space) -> None:
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise ValueError(f"SAC needs a 1-D Box action space, the env has {space}")
        if not (np.isfinite(space.low).all() and np.isfinite(space.high).all()):
            raise ValueError(
                f"SAC needs finite action bounds, the env has low={space.low}, high={space.high}"
            )
        self.low = space.low.astype(np.float64)
        self.half_range = (space.high.astype(np.float64) - self.low) / 2.0
        self.dtype = space.dtype

    def to_env(self, action: np.ndarray) -> np.ndarray:
        return (self.low + (np.clip(action, -1.0, 1.0) + 1.0) * self.half_range).astype(self.dtype)


def env_dims(env: gym.Env) -> tuple[int, int]:
    obs_space = env.observation_space
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        raise ValueError(f"SAC needs a flat Box observation space, the env has {obs_space}")
    return int(obs_space.shape[0]), int(ActionScaler(env.action_space).low.shape[0])


@dataclass
class EvalResult:
    returns: list[float]
    successes: list[bool | None]

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.returns)) if self.returns else math.nan

    @property
    def success_rate(self) -> float | None:
        flags = [flag for flag in self.successes if flag is not None]
        return float(np.mean(flags)) if flags else None


def evaluate(env: gym.Env, sac: SAC, episodes: int, seed: int | None = None) -> EvalResult:
    """Deterministic policy (tanh of the mean) for `episodes` full episodes, each reset with its own seed."""
    scaler = ActionScaler(env.action_space)
    result = EvalResult([], [])
    for episode in range(episodes):
        obs, _ = env.reset(seed=None if seed is None else seed + episode)
        total, success, done = 0.0, None, False
        while not done:
            action = sac.act(np.asarray(obs, dtype=np.float32)[None], deterministic=True)[0]
            obs, reward, terminated, truncated, info = env.step(scaler.to_env(action))
            total += float(reward)
            flag = success_from_info(info)
            success = success if flag is None else bool(success) or flag
            done = terminated or truncated
        result.returns.append(total)
        result.successes.append(success)
    return result


@dataclass
class TrainerCounters:
    """What a resumed run continues from (stored in the checkpoint's counters)."""

    env_steps: int = 0
    wall_s: float = 0.0
    update_debt: float = 0.0

    def as_dict(self) -> dict[str, int | float]:
        return {"env_steps": self.env_steps, "wall_s": self.wall_s, "update_debt": self.update_debt}

    @classmethod
    def from_dict(cls, values: dict[str, int | float]) -> TrainerCounters:
        return cls(
            int(values.get("env_steps", 0)),
            float(values.get("wall_s", 0.0)),
            float(values.get("update_debt", 0.0)),
        )


@dataclass
class OffPolicyTrainer:
    """Collects experience from one env with `sac`, learns at `utd_ratio` updates per env step.

    Only true terminations are stored as terminal; time-limit truncations keep bootstrapping. The
    first `learning_starts` env steps use uniform random actions.
    """

    env: gym.Env
    sac: SAC
    buffer: ReplayBuffer
    curve: LearningCurve = field(default_factory=LearningCurve)
    counters: TrainerCounters = field(default_factory=TrainerCounters)
    demo: BatchSource | None = None
    reporter: RunReporter | None = None
    seed: int | None = None
    log_every: int = 1000
    plot_every: int = 20
    checkpoint_every: int = 0
    save_checkpoint: Callable[[], object] | None = None
    last_metrics: dict[str, float] = field(default_factory=dict)

    def run(self, total_steps: int, progress: bool = True) -> LearningCurve:
        """Train until `counters.env_steps` reaches `total_steps` (an absolute count: resumes continue).

        Each call starts from a fresh `env.reset(seed=self.seed)`; an episode cut off by the end of a
        call is not recorded in the curve.
        """
        from tqdm import tqdm

        config = self.sac.config
        scaler = ActionScaler(self.env.action_space)
        tracker = EpisodeTracker(1, self.curve)
        random_actions = np.random.default_rng(self.seed)
        obs, _ = self.env.reset(seed=self.seed)
        counters = self.counters
        started = time.perf_counter() - counters.wall_s
        interval_start, interval_steps = time.perf_counter(), 0
        metrics: dict[str, torch.Tensor] = {}
        bar = tqdm(
            total=total_steps,
            initial=counters.env_steps,
            disable=not progress,
            unit="step",
            dynamic_ncols=True,
            mininterval=0.5,
        )
        try:
            while counters.env_steps < total_steps:
                if counters.env_steps < config.learning_starts:
                    action = random_actions.uniform(-1.0, 1.0, size=self.sac.act_dim).astype(np.float32)
                else:
                    action = self.sac.act(np.asarray(obs, dtype=np.float32)[None])[0]
                next_obs, reward, terminated, truncated, info = self.env.step(scaler.to_env(action))
                # next_obs is the true last observation even on truncation (gymnasium resets separately).
                self.buffer.add(obs, action, float(reward), next_obs, bool(terminated))
                counters.env_steps += 1
                interval_steps += 1
                record = tracker.step(
                    0,
                    float(reward),
                    terminated or truncated,
                    success_from_info(info),
                    counters.env_steps,
                    time.perf_counter() - started,
                )
                obs = next_obs
                if terminated or truncated:
                    obs, _ = self.env.reset()
                    self._on_episode(record, bar)

                if counters.env_steps >= config.learning_starts and len(self.buffer) >= config.batch_size:
                    counters.update_debt += config.utd_ratio
                    due = int(counters.update_debt)
                    if due:
                        counters.update_debt -= due
                        metrics = self.sac.update_from_tensors(self.buffer, due, self.demo)

                if self.log_every and counters.env_steps % self.log_every == 0:
                    now = time.perf_counter()
                    self._log(metrics, interval_steps / max(now - interval_start, 1e-9))
                    interval_start, interval_steps = now, 0
                if self.checkpoint_every and counters.env_steps % self.checkpoint_every == 0:
                    counters.wall_s = time.perf_counter() - started
                    self._checkpoint()
                bar.update(1)
        finally:
            bar.close()
            counters.wall_s = time.perf_counter() - started
        if metrics:
            self.last_metrics = {name: float(value) for name, value in metrics.items()}
        return self.curve

    def _on_episode(self, record: EpisodeRecord, bar: Any) -> None:
        if self.reporter is not None:
            self.reporter.episode(record, self.curve)
            if self.plot_every and record.episode % self.plot_every == 0:
                self.reporter.plot(self.curve)
        recent = self.curve.mean_return(20)
        bar.set_postfix(episode=record.episode, ret20=f"{recent:.1f}", refresh=False)

    def _log(self, metrics: dict[str, torch.Tensor], steps_per_s: float) -> None:
        values = {name: float(value) for name, value in metrics.items()}  # the only host sync: at log time
        self.last_metrics = values or self.last_metrics
        if self.reporter is not None:
            self.reporter.scalars(
                self.counters.env_steps,
                {**values, "steps_per_s": steps_per_s, "num_updates": float(self.sac.num_updates)},
            )

    def _checkpoint(self) -> None:
        if self.save_checkpoint is not None:
            self.save_checkpoint()
