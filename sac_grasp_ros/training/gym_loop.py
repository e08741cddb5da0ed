"""A gymnasium env feeding a `TrainingSession`: the in-process twin of the ROS worker pool.

The session makes every training decision; this loop only steps the env, in the order the agent
node follows too: store the transition, evaluate when due, learn, checkpoint when due, finish.
Imports no rclpy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from sac_grasp_ros.training.curve import EpisodeTracker, evaluation_summary, success_from_info
from sac_grasp_ros.training.session import TrainingSession

EVAL_SEED_OFFSET = 1_000_000
"""Evaluation episodes reset with seeds seed + this + i: the same targets at every evaluation, never
the training stream's."""
FINAL_EVAL_SEED_OFFSET = 1_500_000
"""The final evaluation's episodes: apart from those that selected the best policy (keep_best)."""


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
    """(obs_dim, act_dim) of an env SAC can learn on; ValueError naming the space otherwise."""
    obs_space = env.observation_space
    if not isinstance(obs_space, gym.spaces.Box) or len(obs_space.shape) != 1:
        raise ValueError(f"SAC needs a flat Box observation space, the env has {obs_space}")
    return int(obs_space.shape[0]), int(ActionScaler(env.action_space).low.shape[0])


@dataclass
class EvalResult:
    returns: list[float]
    lengths: list[int]
    successes: list[bool | None]

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.returns)) if self.returns else math.nan

    @property
    def success_rate(self) -> float | None:
        return self.summary()["success_rate"]

    def summary(self) -> dict[str, Any]:
        """The same JSON keys as an evaluation on the ROS workers (/evaluate)."""
        return evaluation_summary(self.returns, self.lengths, self.successes)


def evaluate(
    env: gym.Env,
    policy: Any,
    episodes: int,
    seed: int | None = None,
    options: Sequence[dict[str, Any]] | None = None,
    on_step: Callable[[int, int, float, bool, dict[str, Any]], None] | None = None,
) -> EvalResult:
    """`policy.act(obs_batch, deterministic=True)` for `episodes` full episodes, each reset with its
    own seed (seed + i) and, if given, its own reset options (`options[i]`: e.g. the block pose of a
    placement grid). `policy` is a SAC learner or a TrainingSession. `on_step(episode, step,
    return so far, done, info)` is called after each reset (step 0) and each step: e.g. a video frame."""
    if options is not None and len(options) != episodes:
        raise ValueError(f"{episodes} episodes need as many reset options, got {len(options)}")
    scaler = ActionScaler(env.action_space)
    tracker = EpisodeTracker()
    for episode in range(episodes):
        obs, _ = env.reset(
            seed=None if seed is None else seed + episode,
            options=None if options is None else options[episode],
        )
        record, steps, total = None, 0, 0.0
        if on_step is not None:
            on_step(episode, 0, 0.0, False, {})
        while record is None:
            action = policy.act(np.asarray(obs, dtype=np.float32)[None], deterministic=True)[0]
            obs, reward, terminated, truncated, info = env.step(scaler.to_env(action))
            record = tracker.step(0, reward, terminated or truncated, success_from_info(info), 0, 0.0)
            if on_step is not None:
                steps, total = steps + 1, total + float(reward)
                on_step(episode, steps, total, record is not None, info)
    records = tracker.curve.records
    return EvalResult(
        [r.episode_return for r in records], [r.episode_length for r in records], [r.success for r in records]
    )


def train(
    session: TrainingSession, env: gym.Env, eval_env: gym.Env | None, seed: int, progress: bool = False
) -> dict[str, Any] | None:
    """Collect from `env` until the session finishes (total_steps); returns the final evaluation's
    result when on_finish is evaluate_and_exit, else None. An episode cut off by the end of the run
    is not recorded."""
    from tqdm import tqdm

    config = session.config
    if config.total_steps < 1:
        raise ValueError("an in-process run needs total_steps >= 1")
    if eval_env is None and (config.eval_every or config.on_finish == "evaluate_and_exit"):
        raise ValueError("evaluations need an evaluation env")
    session.build(*env_dims(env))
    scaler = ActionScaler(env.action_space)
    eval_seed = seed + EVAL_SEED_OFFSET

    def evaluate_if_due() -> None:
        if session.evaluation_due():
            session.record_evaluation(
                evaluate(eval_env, session, config.periodic_eval_episodes, eval_seed).summary()
            )

    obs, _ = env.reset(seed=seed + session.env_steps)  # a resumed run draws a new target stream
    tracker = EpisodeTracker(1, session.curve)
    bar = tqdm(total=config.total_steps, initial=session.env_steps, disable=not progress, unit="step")
    evaluate_if_due()
    try:
        while not session.finish_due():
            action = session.act(np.asarray(obs, dtype=np.float32)[None])[0]
            next_obs, reward, terminated, truncated, info = env.step(scaler.to_env(action))
            # next_obs is the true last observation even on truncation (gymnasium resets separately).
            session.store(obs, action, float(reward), next_obs, bool(terminated))
            done, success = terminated or truncated, success_from_info(info)
            record = tracker.step(0, reward, done, success, session.env_steps, session.wall_s())
            obs = next_obs
            if record is not None:
                session.report_episode(record)
                bar.set_postfix(episode=record.episode, ret=f"{record.episode_return:.1f}", refresh=False)
                obs, _ = env.reset()
            evaluate_if_due()
            while session.learn():
                pass
            if session.checkpoint_due():
                session.checkpoint()
            if session.env_steps % config.progress_every == 0:
                session.progress()
            bar.update(1)
    finally:
        bar.close()
    if session.finish() != "evaluate":
        return None
    summary = evaluate(eval_env, session, config.eval_episodes, seed + FINAL_EVAL_SEED_OFFSET).summary()
    return session.result(True, summary)[1]
