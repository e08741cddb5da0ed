"""One training run of SAC, whatever brings the transitions: the ROS agent node or a gymnasium env.

`TrainingSession` coordinates the run: it builds the learner, acts (random warm-up, then the policy),
stores transitions (n-step folded per stream), runs the updates the update-to-data schedule owes,
and says when to evaluate, checkpoint and finish. Its parts each keep one job: `DemoStages` (the
demonstrations), `Checkpointer` (the checkpoint layout), `EvaluationTracker` (schedule, best policy,
result) and, when given one, a `TrainingReporter` (TensorBoard, CSVs, PNGs). The callers only move
data: the agent node between topics and the session, the gymnasium collector (`training/gym_loop.py`)
between an env and the session. Imports no rclpy.

The order a caller follows, as in CleanRL's loop:

    session.start(); session.build(obs_dim, act_dim)   # resumed learner, or a fresh one + demo stages
    while not done:
        if session.evaluation_due(): session.record_evaluation(summary of deterministic episodes)
        action = session.act(obs)
        ... step ...
        session.store(obs, action, reward, next_obs, terminated)
        session.record_episode(...) when an episode ends
        session.learn()
        if session.checkpoint_due(): session.checkpoint()
        if session.finish_due(): session.finish() -> evaluate / exit / idle

A caller with state of its own to resume (the agent node's transport counters) hands it to
`checkpoint`, `finish` and `save` as `extra_counters` and restores it from `checkpoint_counters`
after `start` or `load`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sac_grasp_ros.sac import SAC, ReplayBuffer, SACConfig
from sac_grasp_ros.sac.device_buffer import DeviceReplayBuffer
from sac_grasp_ros.sac.nstep import NStepFolder
from sac_grasp_ros.training.checkpointer import Checkpointer, Counters
from sac_grasp_ros.training.config import TrainingConfig
from sac_grasp_ros.training.curve import EpisodeRecord, LearningCurve
from sac_grasp_ros.training.demo_stages import DemoStages
from sac_grasp_ros.training.evaluations import EvaluationTracker
from sac_grasp_ros.training.reporting import SUCCESS_WINDOW, TrainingReporter
from sac_grasp_ros.training.schedule import UpdateScheduler

LOG = logging.getLogger("sac_grasp_ros.training")


class TrainingSession:
    """The trainer of one run (see the module docstring)."""

    def __init__(
        self,
        config: TrainingConfig,
        sac_config: SACConfig,
        log: logging.Logger = LOG,
        reporter: TrainingReporter | None = None,
    ) -> None:
        """A learner without a seed of its own gets the run's; `reporter` None: no reports."""
        config.validate()
        config.check_against(sac_config.batch_size)
        if sac_config.seed is None:
            sac_config = dataclasses.replace(sac_config, seed=config.seed)
        self.config, self.sac_config, self.log, self.reporter = config, sac_config, log, reporter
        self.learning = config.learning
        self.sac: SAC | None = None
        self.buffer: ReplayBuffer | DeviceReplayBuffer | None = None
        self.demos = DemoStages(config, log)
        self.checkpoints = Checkpointer(config.checkpoint_dir, config.env_file)
        self.evaluations = EvaluationTracker(config.eval_every)
        self.folders: dict[str, NStepFolder] = {}
        """per simulator stream: the n-step folding of its transitions"""
        self.dims: tuple[int, int] | None = None  # (obs_dim, act_dim)
        self.env_steps = 0
        """transitions stored for learning"""
        self.scheduler = UpdateScheduler(
            sac_config.utd_ratio, sac_config.learning_starts, sac_config.batch_size
        )
        self.curve = LearningCurve()
        self.last_metrics: dict[str, torch.Tensor] = {}
        self.stages: list[str] = []
        """what the run went through, in order (demo stages, evaluations, finish): the result says it"""
        self.checkpoint_counters: Counters = {}
        """counters of the checkpoint the run was last loaded from (empty: none loaded)"""
        self.finished = False
        self.last_checkpoint_step = 0
        self.started = time.monotonic()
        self.rng = np.random.default_rng(config.seed)
        self.rate_mark = (self.started, 0, 0)  # (time, env steps, updates) of the last progress report

    # -- the learner -----------------------------------------------------------------------------
    @property
    def updates_done(self) -> int:
        return self.scheduler.updates_done

    def build(self, obs_dim: int, act_dim: int) -> None:
        """Build the learner for these dims (idempotent); a fresh one goes through the demo stages.

        Raises ValueError when the dims differ from the learner's or the demonstrations'.
        """
        demos = self.demos
        if self.dims is not None:
            if self.dims != (obs_dim, act_dim):
                raise ValueError(
                    f"env dims (obs {obs_dim}, act {act_dim}) differ from the learner's {self.dims}"
                )
            if demos.source is None and self.config.demo_file:  # the learner came from a checkpoint
                demos.load(obs_dim, act_dim, self.sac.config)
                demos.attach(self.sac)
            return
        if self.config.demo_file:  # checked against the env's dims: demos of another layout are refused
            demos.load(obs_dim, act_dim, self.sac_config)
            self.stages.append(f"demos {len(demos.source)}")
            self.log.info(f"{len(demos.source)} demonstration transitions from {self.config.demo_file}")
        self.sac = SAC(obs_dim, act_dim, self.sac_config)
        # On CUDA the buffer lives on the device (the captured update samples it there).
        self.buffer = self.sac.make_buffer(self.sac_config.buffer_capacity, seed=self.config.seed)
        if demos.source is not None:
            demos.attach(self.sac)
            self._learn_from_demos()
        self.dims = (obs_dim, act_dim)  # last: a failed stage leaves the session unbuilt

    def _learn_from_demos(self) -> None:
        started = time.monotonic()
        self.stages.extend(self.demos.learn_from(self.sac, self.buffer))
        if self.config.keep_best and self.demos.shape_the_policy:
            ok, where = self._snapshot(self.checkpoints.pretrained_dir)
            self.log.info(f"policy before RL {'saved to' if ok else 'not saved:'} {where}")
        self.log.info(f"learning from demonstrations took {time.monotonic() - started:.1f} s")

    # -- acting and storing ----------------------------------------------------------------------
    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        """Actions in [-1, 1] for a batch of observations: uniform random during the warm-up of a
        learning run (env_steps < learning_starts), the policy (a sample, or its mean) after."""
        if not deterministic and self.learning and self.env_steps < self.sac_config.learning_starts:
            return self.rng.uniform(-1.0, 1.0, size=(len(obs), self.sac.act_dim))
        return self.sac.act(obs, deterministic=deterministic)

    def store(
        self,
        obs: np.ndarray,
        action: np.ndarray,
        reward: float,
        next_obs: np.ndarray,
        terminated: bool,
        stream: str = "",
    ) -> None:
        """One transition for learning, from simulator `stream` (a worker: its transitions are
        consecutive). Time-limit truncations stay bootstrappable: only `terminated` ends the return.
        With sac.n_step > 1 the rows stored are n-step returns (sac.nstep); env_steps counts
        transitions either way."""
        folder = self.folders.get(stream)
        if folder is None:
            folder = self.folders[stream] = NStepFolder(self.sac.config.n_step, self.sac.config.gamma)
        for row in folder.push(obs, action, reward, next_obs, terminated):
            self.buffer.add(*row)
        self.env_steps += 1

    def record_episode(self, episode_return: float, length: int, success: bool | None) -> EpisodeRecord:
        """A finished episode of the behaviour policy: appended to the curve, then reported."""
        record = EpisodeRecord(
            episode=len(self.curve) + 1,
            env_steps=self.env_steps,
            episode_return=float(episode_return),
            episode_length=int(length),
            success=None if success is None else bool(success),
            wall_s=self.wall_s(),
        )
        self.curve.append(record)
        self.report_episode(record)
        return record

    def wall_s(self) -> float:
        """Seconds since the session started."""
        return time.monotonic() - self.started

    def report_episode(self, record: EpisodeRecord) -> None:
        """An episode already in the curve (an `EpisodeTracker` on `self.curve` appended it) to the
        reports."""
        if self.reporter is not None:
            self.reporter.episode(record, self.curve, self.config.plot_every)

    def success_rate(self) -> float:
        """Training success rate over the last SUCCESS_WINDOW episodes (0 before any)."""
        return self.curve.success_rate(SUCCESS_WINDOW) or 0.0

    # -- learning --------------------------------------------------------------------------------
    def updates_due(self) -> int:
        if not self.learning or self.buffer is None:
            return 0
        return self.scheduler.due(self.env_steps, len(self.buffer))

    def hold(self, max_update_debt: int) -> bool:
        """Whether the envs should wait instead of stepping: more than `max_update_debt` updates are
        owed (keeps the UTD ratio honest), or the step budget is spent and the finish is pending."""
        if not self.learning:
            return False
        budget_spent = bool(self.config.total_steps) and self.env_steps >= self.config.total_steps
        return budget_spent or self.scheduler.due(self.env_steps, self.env_steps) > max_update_debt

    def learn(self) -> int:
        """Run the updates due, at most `max_updates_per_loop`; returns how many ran.

        Metrics stay tensors (no host sync per update) until `progress()` reads them.
        """
        due = min(self.updates_due(), self.config.max_updates_per_loop)
        if due <= 0:
            return 0
        self.last_metrics = self.sac.update_from_tensors(self.buffer, due, demo=self.demos.source)
        bc_loss = self.demos.after_updates(self.sac, due)
        if bc_loss is not None:
            self.last_metrics["bc_loss"] = bc_loss
        self.scheduler.updates_done += due
        return due

    def progress(self) -> dict[str, float]:
        """Latest losses and alpha as floats (the host sync), also reported with the env-step and
        update rates since the previous call."""
        metrics = {name: float(value) for name, value in self.last_metrics.items()}
        now, updates = time.monotonic(), self.updates_done
        then, steps_then, updates_then = self.rate_mark
        self.rate_mark = (now, self.env_steps, updates)
        if self.reporter is not None:
            elapsed = max(now - then, 1e-9)
            rates = {
                "env_steps_per_s": (self.env_steps - steps_then) / elapsed,
                "updates_per_s": (updates - updates_then) / elapsed,
            }
            self.reporter.scalars(self.env_steps, {**metrics, **rates})
        return metrics

    def reconfigure(self, config: TrainingConfig) -> None:
        """Settings changed while the run goes on, already validated: every part reads the new ones."""
        self.config, self.demos.config = config, config
        self.evaluations.schedule.every = config.eval_every
        self.checkpoints = Checkpointer(config.checkpoint_dir, config.env_file)

    # -- evaluation ------------------------------------------------------------------------------
    def evaluation_due(self) -> bool:
        """A periodic evaluation is due (only while learning, before the finish)."""
        return (
            self.sac is not None
            and self.learning
            and not self.finished
            and self.evaluations.due(self.env_steps)
        )

    def record_evaluation(self, summary: dict[str, Any]) -> None:
        """Account a periodic evaluation (JSON summary with success_rate, mean_return, episodes):
        eval curve, reports, and with keep_best the policy when it is the best so far."""
        steps = self.env_steps
        evaluation = self.evaluations.record(steps, summary)
        self.stages.append(f"eval@{steps}")
        note = ""
        if evaluation.best_so_far and self.config.keep_best:
            ok, where = self._snapshot(self.checkpoints.best_dir)
            note = f"; best so far, saved to {where}" if ok else f"; best so far, but saving failed: {where}"
        self.log.info(
            f"periodic evaluation at {steps} env steps: success {evaluation.success_rate:.2f} "
            f"({summary['episodes']} episodes), mean return {evaluation.mean_return:.2f}{note}"
        )
        self._report_evaluation(evaluation.success_rate, evaluation.mean_return)

    def evaluation_failed(self, message: str) -> None:
        """A periodic evaluation could not run: retried at the next multiple of eval_every."""
        self.evaluations.failed(self.env_steps)
        self.log.warning(f"periodic evaluation at {self.env_steps} env steps failed: {message}")

    def _report_evaluation(self, rate: float, mean_return: float) -> None:
        if self.reporter is not None:
            self.reporter.evaluation(
                self.env_steps, rate, mean_return, self.updates_done, self.wall_s(), self.success_rate()
            )

    # -- finishing -------------------------------------------------------------------------------
    def finish_due(self) -> bool:
        """total_steps reached and every update owed for them done. A session configured not to learn
        (testing a policy) has no training to wait for: its on_finish is due at once, so a test run
        with on_finish evaluate_and_exit evaluates and exits."""
        if self.finished:
            return False
        if not self.config.learning:
            return self.config.on_finish != "idle"
        total = self.config.total_steps
        return bool(total) and self.env_steps >= total and self.updates_due() == 0

    def finish(self, extra_counters: Counters | None = None) -> str:
        """Stop learning, checkpoint, and say what comes next: "evaluate" (the final evaluation, of the
        best policy with keep_best), "exit" or "idle" (keep acting with the policy)."""
        self.finished, self.learning = True, False
        self.stages.append(f"finish@{self.env_steps}")
        if self.config.learning:  # a policy under test is already on disk: nothing new to save
            ok, message = self.save(extra_counters=extra_counters)
            outcome = f"saved to {message}" if ok else f"failed: {message}"
            self.log.info(f"reached total_steps={self.config.total_steps}: checkpoint {outcome}")
        if self.config.on_finish != "evaluate_and_exit":
            return self.config.on_finish
        self._select_best_policy()
        self.stages.append(f"final_eval {self.evaluations.final_policy['policy']}")
        return "evaluate"

    def _select_best_policy(self) -> None:
        """Before the final evaluation: act with the best periodically evaluated policy (keep_best)."""
        if not self.config.keep_best or not self.evaluations.has_best:
            return
        best_dir = self.checkpoints.best_dir
        try:
            self.sac = self.checkpoints.load_policy(
                best_dir, self.sac_config.device, self.sac_config.cuda_graph
            )
        except (OSError, ValueError) as error:
            self.log.error(f"keep_best: {error}; the final policy is evaluated instead")
            return
        self.evaluations.select_best(best_dir, self.config.periodic_eval_episodes)

    def result(self, ok: bool, outcome: str | dict[str, Any], **extra: Any) -> tuple[int, dict[str, Any]]:
        """The final evaluation's result (exit code, JSON object): which policy was measured and every
        step the run took; also written atomically to result_file. A measured last policy is also a
        point of the evaluation curve."""
        run = {
            "env_steps": self.env_steps,
            **extra,
            "updates": self.updates_done,
            "wall_s": round(time.monotonic() - self.started, 1),
            "stages": self.stages,
        }
        code, result = self.evaluations.result(ok, outcome, run, self.config.result_file)
        if ok and self.evaluations.final_policy["policy"] == "last":
            self._report_evaluation(float(result["success_rate"] or 0.0), float(result["mean_return"]))
        return code, result

    # -- checkpoints -----------------------------------------------------------------------------
    def counters(self) -> Counters:
        """The run's counters a checkpoint holds (a resumed run goes on from them)."""
        return {"env_steps": self.env_steps, "episodes": len(self.curve), **self.evaluations.counters()}

    def checkpoint_due(self) -> bool:
        """The periodic checkpoint: checkpoint_every stored env steps since the last one."""
        every = self.config.checkpoint_every
        return bool(every) and self.env_steps - self.last_checkpoint_step >= every

    def checkpoint(self, extra_counters: Counters | None = None) -> None:
        """Save to checkpoint_dir; a failure is logged and the run goes on."""
        ok, message = self.save(extra_counters=extra_counters)
        if not ok:
            self.log.error(message)

    def save(
        self,
        directory: str | None = None,
        with_buffer: bool | None = None,
        extra_counters: Counters | None = None,
    ) -> tuple[bool, str]:
        """Checkpoint to `directory`; the default (checkpoint_dir) restarts the checkpoint_every count.
        `extra_counters`: the caller's, saved beside the run's."""
        if self.sac is None:
            return False, "nothing to save yet: no env step has arrived (the network is not built)"
        target = directory or self.checkpoints.checkpoint_dir
        with_buffer = self.config.save_buffer if with_buffer is None else with_buffer
        counters = {**self.counters(), **(extra_counters or {})}
        buffer = self.buffer if with_buffer else None
        ok, message = self.checkpoints.save(target, self.sac, buffer, counters, self.curve)
        if ok and directory is None:
            self.last_checkpoint_step = self.env_steps
        return ok, message

    def _snapshot(self, directory: str) -> tuple[bool, str]:
        """The policy as it is now, without the replay buffer (best/, pretrained/)."""
        return self.save(directory, with_buffer=False)

    def load(self, directory: str) -> tuple[bool, str]:
        """Learner, replay buffer, counters and learning curve of a checkpoint; the running ones stay
        when it cannot be loaded (the reason comes back)."""
        try:
            restored = self.checkpoints.load(directory, self.sac_config, self.config.seed, self.dims)
        except (OSError, ValueError) as error:  # CheckpointError is a ValueError
            return False, f"load from {directory} failed: {error}"
        self.sac, self.buffer, self.dims = restored.sac, restored.buffer, restored.dims
        self.sac_config = restored.config
        self.folders.clear()  # pending rows belong to the old buffer; n_step may differ too
        self.demos.attach(self.sac)
        counters = restored.counters
        self.env_steps = int(counters.get("env_steps", self.env_steps))
        self.scheduler = UpdateScheduler(
            restored.config.utd_ratio, restored.config.learning_starts, restored.config.batch_size,
            int(counters.get("num_updates", 0)),
        )  # fmt: skip
        self.evaluations.restore(counters)
        self.curve = restored.curve
        self.checkpoint_counters = counters
        self.last_checkpoint_step = self.env_steps
        self.rng = np.random.default_rng(self.config.seed + self.env_steps)  # a fresh stream for the rest
        note = f"{restored.buffer_note}, {self.env_steps} env steps"
        return True, f"loaded {Path(directory).resolve()} ({note})"

    def start(self) -> None:
        """Before the first step: load the deployment policy or resume, then open the reports.

        Raises ValueError when a requested load or resume fails (starting fresh would overwrite what
        was learned)."""
        if self.config.load_on_start:
            ok, message = self.load(self.config.load_on_start)
            if not ok:
                raise ValueError(message)
        elif self.config.resume:
            if self.checkpoints.has_checkpoint():
                ok, message = self.load(self.checkpoints.checkpoint_dir)
                if not ok:
                    raise ValueError(f"resume: {message}")
                self.log.info(f"resumed: {message}")
            else:
                directory = self.checkpoints.checkpoint_dir
                self.log.info(f"resume: no checkpoint in {directory} yet, starting fresh")
        if self.reporter is not None:
            self.reporter.open(resumed=self.env_steps > 0)

    def close(self) -> None:
        if self.reporter is not None:
            self.reporter.close(self.curve)
