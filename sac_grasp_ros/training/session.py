"""One training run of SAC, whatever brings the transitions: the ROS agent node or a gymnasium env.

`TrainingSession` holds every training decision: building the learner and running the
demonstration stages, acting (random warm-up, then the policy), storing, how many updates are due
(one update-to-data schedule), when to evaluate and which evaluated policy to keep, checkpoints
(save/load/resume with counters and learning curve), when the run is finished and what its result
is. The callers only move data: the agent node between topics and the session, the gymnasium
collector (`training/gym_loop.py`) between an env and the session. Imports no rclpy.

The order a caller follows, as in CleanRL's loop:

    session.build(obs_dim, act_dim)                 # fresh learner + demo stages, or the resumed one
    while not done:
        if session.evaluation_due(): session.record_evaluation(summary of deterministic episodes)
        action = session.act(obs)
        ... step ...
        session.store(obs, action, reward, next_obs, terminated)
        session.record_episode(...) when an episode ends
        session.learn(); session.maybe_checkpoint()
        if session.finish_due(): session.finish() -> evaluate / exit / idle
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sac_grasp_ros.atomic import atomic_write
from sac_grasp_ros.sac import SAC, ReplayBuffer, SACConfig, load_checkpoint, load_demos, save_checkpoint
from sac_grasp_ros.sac.checkpoint import BUFFER_FILE
from sac_grasp_ros.sac.device_buffer import DeviceReplayBuffer
from sac_grasp_ros.sac.imitation import DemoAnchor, clone_demos, pretrain_critic
from sac_grasp_ros.sac.nstep import NStepFolder
from sac_grasp_ros.sac.replay import TRANSITION_FIELDS
from sac_grasp_ros.training.config import TrainingConfig
from sac_grasp_ros.training.curve import EpisodeRecord, LearningCurve
from sac_grasp_ros.training.reporting import (
    EVAL_CURVE_CSV,
    EVAL_CURVE_PNG,
    EvalCurveWriter,
    RunReporter,
)
from sac_grasp_ros.training.schedule import PeriodicEvaluation, UpdateScheduler

LOG = logging.getLogger("sac_grasp_ros.training")
BEST_CHECKPOINT = "best"
"""keep_best writes the selected policy to this sibling of checkpoint_dir"""
PRETRAINED_CHECKPOINT = "pretrained"
"""keep_best also writes the policy as the demo stages left it (before any SAC update) to this sibling,
so the RL stage can be measured against its starting point (bench/learning.py --grid-eval)"""
PLOT_INTERVAL = 15.0
"""minimum seconds between two redraws of learning_curve.png (the envs wait while it is drawn)"""
SUCCESS_WINDOW = 100
"""episodes in the moving training success rate"""
Counters = dict[str, int | float]


class TrainingSession:
    """The trainer of one run (see the module docstring)."""

    def __init__(
        self,
        config: TrainingConfig,
        sac_config: SACConfig,
        name: str = "training",
        log: logging.Logger = LOG,
        transport_counters: Callable[[], Counters] | None = None,
        restore_transport: Callable[[Counters], None] | None = None,
    ) -> None:
        """`transport_counters`/`restore_transport`: what the caller keeps for a checkpoint beside the
        session's own counters (the agent node: message counts and the newest key per worker).
        A learner without a seed of its own gets the run's."""
        config.validate()
        config.check_against(sac_config.batch_size)
        if sac_config.seed is None:
            sac_config = dataclasses.replace(sac_config, seed=config.seed)
        self.config, self.sac_config, self.name, self.log = config, sac_config, name, log
        self.transport_counters = transport_counters or dict
        self.restore_transport = restore_transport or (lambda counters: None)
        self.learning = config.learning
        self.sac: SAC | None = None
        self.buffer: ReplayBuffer | DeviceReplayBuffer | None = None
        self.demos: ReplayBuffer | DeviceReplayBuffer | None = None
        self.anchor: DemoAnchor | None = None
        self.folders: dict[str, NStepFolder] = {}
        """per simulator stream: the n-step folding of its transitions"""
        self.dims: tuple[int, int] | None = None  # (obs_dim, act_dim)
        self.env_steps = 0
        """transitions stored for learning"""
        self.scheduler = UpdateScheduler(
            sac_config.utd_ratio, sac_config.learning_starts, sac_config.batch_size
        )
        self.periodic = PeriodicEvaluation(config.eval_every)
        self.curve = LearningCurve()
        self.last_metrics: dict[str, torch.Tensor] = {}
        self.stages: list[str] = []
        """what the run went through, in order (demo stages, evaluations, finish): the result says it"""
        self.final_policy: dict[str, Any] = {"policy": "last"}
        self.finished = False
        self.last_checkpoint_step = 0
        self.started = time.monotonic()
        self.rng = np.random.default_rng(config.seed)
        self.rate_mark = (self.started, 0, 0)  # (time, env steps, updates) of the last progress report
        self.reporter: RunReporter | None = None
        self.eval_curve: EvalCurveWriter | None = None
        self.last_plot = 0.0

    # -- the learner -----------------------------------------------------------------------------
    @property
    def updates_done(self) -> int:
        return self.scheduler.updates_done

    def build(self, obs_dim: int, act_dim: int) -> None:
        """Build the learner for these dims (idempotent); a fresh one goes through the demo stages.

        Raises ValueError when the dims differ from the learner's or the demonstrations'.
        """
        if self.dims is not None:
            if self.dims != (obs_dim, act_dim):
                raise ValueError(
                    f"env dims (obs {obs_dim}, act {act_dim}) differ from the learner's {self.dims}"
                )
            if self.demos is None and self.config.demo_file:  # the learner came from a checkpoint
                demos = self._load_demos(obs_dim, act_dim, self.sac.config)
                self.demos = self.sac.device_source(demos, seed=self.config.seed)
            return
        if self.config.demo_file:  # checked against the env's dims: demos of another layout are refused
            self.demos = self._load_demos(obs_dim, act_dim, self.sac_config)
            self._stage(
                f"demos {len(self.demos)}",
                f"{len(self.demos)} demonstration transitions from {self.config.demo_file}",
            )
        self.sac = SAC(obs_dim, act_dim, self.sac_config)
        # On CUDA the buffer lives on the device (the captured update samples it there).
        self.buffer = self.sac.make_buffer(self.sac_config.buffer_capacity, seed=self.config.seed)
        if self.demos is not None:
            self.demos = self.sac.device_source(self.demos, seed=self.config.seed)
            self._learn_from_demos()
        self.dims = (obs_dim, act_dim)  # last: a failed stage leaves the session unbuilt

    def _load_demos(self, obs_dim: int, act_dim: int, sac_config: SACConfig) -> ReplayBuffer:
        """The demo file, folded into the learner's n-step rows like live transitions."""
        return load_demos(
            self.config.demo_file,
            obs_dim,
            act_dim,
            seed=self.config.seed,
            n_step=sac_config.n_step,
            gamma=sac_config.gamma,
        )

    def _learn_from_demos(self) -> None:
        """Prefill, behaviour cloning and critic pretraining: once, on a fresh learner (never on resume)."""
        config, demos, started = self.config, self.demos, time.monotonic()
        if config.prefill_from_demos:
            data = demos.transitions()
            count = min(
                len(demos) if config.prefill_from_demos < 0 else config.prefill_from_demos, len(demos)
            )
            self.buffer.add_batch(*(data[name][:count] for name in TRANSITION_FIELDS))
            self._stage(f"prefill {count}", f"replay buffer prefilled with {count} demonstration transitions")
        if config.bc_steps:
            loss = clone_demos(
                self.sac, demos, config.bc_steps, self.sac_config.batch_size, lr=config.bc_pretrain_lr
            )
            self._stage(
                f"bc {config.bc_steps}", f"behaviour cloning: {config.bc_steps} steps, final loss {loss:.3f}"
            )
        if config.critic_pretrain_steps:
            loss = pretrain_critic(self.sac, self.buffer, demos, config.critic_pretrain_steps)
            self._stage(
                f"critic_pretrain {config.critic_pretrain_steps}",
                f"critic pretraining: {config.critic_pretrain_steps} updates, final q_loss {loss:.3f}",
            )
        if config.keep_best and (config.bc_steps or config.critic_pretrain_steps):
            ok, where = self.save(self.pretrained_dir(), with_buffer=False)
            self.log.info(f"policy before RL {'saved to' if ok else 'not saved:'} {where}")
        self.log.info(f"learning from demonstrations took {time.monotonic() - started:.1f} s")

    def _stage(self, stage: str, message: str) -> None:
        self.stages.append(stage)
        self.log.info(message)

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
        """An episode already in the curve (an `EpisodeTracker` on `self.curve` appended it) to
        rewards.csv, TensorBoard and, every plot_every episodes, learning_curve.png."""
        if self.reporter is not None:
            self.reporter.episode(record, self.curve)
            now = time.monotonic()
            if record.episode % self.config.plot_every == 0 and now - self.last_plot >= PLOT_INTERVAL:
                self.last_plot = now
                self.reporter.plot(self.curve, title=self._title())

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
        self.last_metrics = self.sac.update_from_tensors(self.buffer, due, demo=self.demos)
        if self.config.bc_per_update and self.demos is not None:
            if self.anchor is None or self.anchor.sac is not self.sac:  # a new learner (built or loaded)
                self.anchor = DemoAnchor(self.sac, self.config.bc_per_update, self.config.bc_lr)
            bc_loss = self.anchor.after_updates(self.demos, due)
            if bc_loss is not None:
                self.last_metrics["bc_loss"] = bc_loss
        self.scheduler.updates_done += due
        return due

    def progress(self) -> dict[str, float]:
        """Latest losses and alpha as floats (the host sync), also written to TensorBoard with the
        env-step and update rates since the previous call."""
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
        """Settings changed at run time (`ros2 param set`), already validated."""
        self.config, self.periodic.every = config, config.eval_every

    # -- evaluation ------------------------------------------------------------------------------
    def evaluation_due(self) -> bool:
        """A periodic evaluation is due (only while learning, before the finish)."""
        return (
            self.sac is not None and self.learning and not self.finished and self.periodic.due(self.env_steps)
        )

    def record_evaluation(self, summary: dict[str, Any]) -> None:
        """Account a periodic evaluation (JSON summary with success_rate, mean_return, episodes):
        eval curve, TensorBoard, and with keep_best the policy when it is the best so far."""
        steps = self.env_steps
        # An env that reports no success (e.g. Pendulum) is ranked by its return alone.
        rate, mean_return = float(summary["success_rate"] or 0.0), float(summary["mean_return"])
        self.stages.append(f"eval@{steps}")
        note = ""
        if self.periodic.record(steps, rate, mean_return) and self.config.keep_best:
            ok, where = self.save(self.best_dir(), with_buffer=False)
            note = f"; best so far, saved to {where}" if ok else f"; best so far, but saving failed: {where}"
        self.log.info(
            f"periodic evaluation at {steps} env steps: success {rate:.2f} "
            f"({summary['episodes']} episodes), mean return {mean_return:.2f}{note}"
        )
        self._report_evaluation(rate, mean_return)

    def evaluation_failed(self, message: str) -> None:
        """A periodic evaluation could not run: retried at the next multiple of eval_every."""
        self.periodic.skip(self.env_steps)
        self.log.warning(f"periodic evaluation at {self.env_steps} env steps failed: {message}")

    def _report_evaluation(self, rate: float, mean_return: float) -> None:
        if self.reporter is None:
            return
        self.reporter.scalars(
            self.env_steps, {"success_rate": rate, "mean_return": mean_return}, prefix="eval"
        )
        self.eval_curve.append(
            {
                "env_steps": self.env_steps,
                "wall_s": round(time.monotonic() - self.started, 2),
                "updates": self.updates_done,
                "eval_success_rate": rate,
                "eval_mean_return": round(mean_return, 3),
                "train_success_100": self.success_rate(),
            }
        )
        path = Path(self.config.report_dir) / EVAL_CURVE_PNG
        self.eval_curve.plot(path, f"{self.name} evaluations, seed {self.config.seed}")

    def best_dir(self) -> str:
        return str(Path(self.config.checkpoint_dir).parent / BEST_CHECKPOINT)

    def pretrained_dir(self) -> str:
        return str(Path(self.config.checkpoint_dir).parent / PRETRAINED_CHECKPOINT)

    # -- finishing -------------------------------------------------------------------------------
    def finish_due(self) -> bool:
        """total_steps reached and every update owed for them done. A session configured not to learn
        (testing a policy) has no training to wait for: its on_finish is due at once, so
        `test.launch.py evaluate:=true` (on_finish evaluate_and_exit) evaluates and exits."""
        if self.finished:
            return False
        if not self.config.learning:
            return self.config.on_finish != "idle"
        total = self.config.total_steps
        return bool(total) and self.env_steps >= total and self.updates_due() == 0

    def finish(self) -> str:
        """Stop learning, checkpoint, and say what comes next: "evaluate" (the final evaluation, of the
        best policy with keep_best), "exit" or "idle" (keep acting with the policy)."""
        self.finished, self.learning = True, False
        self.stages.append(f"finish@{self.env_steps}")
        if self.config.learning:  # a policy under test is already on disk: nothing new to save
            ok, message = self.save()
            outcome = f"saved to {message}" if ok else f"failed: {message}"
            self.log.info(f"reached total_steps={self.config.total_steps}: checkpoint {outcome}")
        if self.config.on_finish != "evaluate_and_exit":
            return self.config.on_finish
        self._select_best_policy()
        self.stages.append(f"final_eval {self.final_policy['policy']}")
        return "evaluate"

    def _select_best_policy(self) -> None:
        """Before the final evaluation: act with the best periodically evaluated policy (keep_best)."""
        if not self.config.keep_best or self.periodic.best_env_steps < 0:
            return
        try:
            best = load_checkpoint(
                self.best_dir(), device=self.sac_config.device, cuda_graph=self.sac_config.cuda_graph
            )
            self.sac = best.sac
        except (OSError, ValueError) as error:
            self.log.error(f"keep_best: {error}; the final policy is evaluated instead")
            return
        self.final_policy = {
            "policy": "best",
            "selected_at_env_steps": self.periodic.best_env_steps,
            "selection_success_rate": self.periodic.best_success_rate,
            "selection_episodes": self.config.periodic_eval_episodes,
            "checkpoint": str(Path(self.best_dir()).resolve()),
        }

    def result(self, ok: bool, outcome: str | dict[str, Any], **extra: Any) -> tuple[int, dict[str, Any]]:
        """The final evaluation's result (exit code, JSON object): which policy was measured and every
        step the run took; also written atomically to result_file."""
        if ok:
            summary = json.loads(outcome) if isinstance(outcome, str) else dict(outcome)
            if self.final_policy["policy"] == "last" and self.reporter is not None:  # a point of the curve
                self._report_evaluation(float(summary["success_rate"] or 0.0), float(summary["mean_return"]))
            result = {
                **summary,
                **self.final_policy,
                "env_steps": self.env_steps,
                **extra,
                "updates": self.updates_done,
                "wall_s": round(time.monotonic() - self.started, 1),
                "stages": self.stages,
            }
        else:
            result = {"error": outcome if isinstance(outcome, str) else json.dumps(outcome)}
        if self.config.result_file:  # a run directory no launcher made (ros2 launch) is made here
            Path(self.config.result_file).parent.mkdir(parents=True, exist_ok=True)
            atomic_write(self.config.result_file, json.dumps(result))
        return (0 if ok else 1), result

    # -- checkpoints -----------------------------------------------------------------------------
    def counters(self) -> Counters:
        return {
            "env_steps": self.env_steps,
            "episodes": len(self.curve),
            **self.periodic.counters(),
            **self.transport_counters(),
        }

    def maybe_checkpoint(self) -> None:
        """The periodic checkpoint, every checkpoint_every stored env steps."""
        every = self.config.checkpoint_every
        if every and self.env_steps - self.last_checkpoint_step >= every:
            ok, message = self.save()
            if not ok:
                self.log.error(message)

    def save(self, directory: str | None = None, with_buffer: bool | None = None) -> tuple[bool, str]:
        """Checkpoint to `directory`; the default (checkpoint_dir) restarts the checkpoint_every count."""
        if self.sac is None:
            return False, "nothing to save yet: no env step has arrived (the network is not built)"
        target = directory or self.config.checkpoint_dir
        with_buffer = self.config.save_buffer if with_buffer is None else with_buffer
        try:
            env_file = self.config.env_file
            extra = {"env.yaml": Path(env_file).read_bytes()} if env_file else None
            buffer = self.buffer if with_buffer else None
            path = save_checkpoint(target, self.sac, buffer, self.counters(), self.curve.to_arrays(), extra)
        except (OSError, ValueError, TypeError) as error:
            return False, f"save to {target} failed: {error}"
        if directory is None:
            self.last_checkpoint_step = self.env_steps
        return True, str(Path(path).resolve())

    def load(self, directory: str) -> tuple[bool, str]:
        """Learner, replay buffer, counters and learning curve of a checkpoint; the running ones stay
        when it cannot be loaded (the reason comes back)."""
        try:
            loaded = load_checkpoint(
                directory, device=self.sac_config.device, cuda_graph=self.sac_config.cuda_graph
            )
            dims = (loaded.obs_dim, loaded.act_dim)
            if self.dims is not None and dims != self.dims:
                raise ValueError(f"checkpoint has (obs, act) dims {dims}, the envs {self.dims}")
            buffer = loaded.sac.make_buffer(loaded.config.buffer_capacity, seed=self.config.seed)
            buffer_note = "no buffer"
            if (loaded.path / BUFFER_FILE).exists():  # the directory read: maybe the `.old` twin
                buffer.load(loaded.path / BUFFER_FILE)
                buffer_note = f"buffer of {len(buffer)}"
            curve = LearningCurve.from_arrays(loaded.curve)
        except (OSError, ValueError) as error:  # CheckpointError is a ValueError
            return False, f"load from {directory} failed: {error}"
        self.sac, self.buffer, self.dims, self.sac_config = loaded.sac, buffer, dims, loaded.config
        self.folders.clear()  # pending rows belong to the old buffer; n_step may differ too
        if self.demos is not None:
            self.demos = self.sac.device_source(self.demos, seed=self.config.seed)
        counters = loaded.counters
        self.env_steps = int(counters.get("env_steps", self.env_steps))
        self.scheduler = UpdateScheduler(
            loaded.config.utd_ratio, loaded.config.learning_starts, loaded.config.batch_size,
            int(counters.get("num_updates", 0)),
        )  # fmt: skip
        self.periodic.restore(counters)
        self.curve = curve
        self.restore_transport(counters)
        self.last_checkpoint_step = self.env_steps
        self.rng = np.random.default_rng(self.config.seed + self.env_steps)  # a fresh stream for the rest
        return True, f"loaded {Path(directory).resolve()} ({buffer_note}, {self.env_steps} env steps)"

    def start(self) -> None:
        """Before the first step: load the deployment policy or resume, then open the run's reports.

        Raises ValueError when a requested load or resume fails (starting fresh would overwrite what
        was learned)."""
        if self.config.load_on_start:
            ok, message = self.load(self.config.load_on_start)
            if not ok:
                raise ValueError(message)
        elif self.config.resume:
            directory = Path(self.config.checkpoint_dir)
            if directory.is_dir() or (directory.parent / f".{directory.name}.old").is_dir():
                ok, message = self.load(str(directory))
                if not ok:
                    raise ValueError(f"resume: {message}")
                self.log.info(f"resumed: {message}")
            else:
                self.log.info(f"resume: no checkpoint in {directory} yet, starting fresh")
        if self.config.report_dir:
            directory = Path(self.config.report_dir)
            self.reporter = RunReporter(directory, tensorboard=True, window=SUCCESS_WINDOW)
            self.eval_curve = EvalCurveWriter(directory / EVAL_CURVE_CSV, append=self.env_steps > 0)

    def close(self) -> None:
        if self.reporter is not None:
            if len(self.curve):
                self.reporter.plot(self.curve, title=self._title())
            self.reporter.close()
            self.reporter = None

    def _title(self) -> str:
        return f"{self.name}, seed {self.config.seed}"
