"""The simulator workers as seen by the agent, kept apart from ROS so it can be tested alone.

Transport only: which workers wait for an action (batched acting), which step messages complete a
transition (handed to the trainer), per-worker episode statistics, stalls, and evaluation runs
(per-worker episode quotas counted only from the reset that started the evaluation). Every training
decision (random warm-up, what is stored, the update schedule) is the trainer's: a
`training.session.TrainingSession`, behind the `Trainer` protocol. What runs an evaluation on the
workers (drain, reset, count, finish) is `graph.evaluation.EvaluationRunner`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

import numpy as np

from sac_grasp_ros.graph.protocol import StepMessage, TransitionAssembler, Verdict
from sac_grasp_ros.training.curve import evaluation_summary

KEY_PARTS = ("session", "episode", "step")


class Trainer(Protocol):
    """What the pool needs of the trainer (TrainingSession has it)."""

    learning: bool

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray: ...

    def store(
        self,
        obs: np.ndarray,
        action: np.ndarray,
        reward: float,
        next_obs: np.ndarray,
        terminated: bool,
        stream: str = "",
    ) -> None: ...

    def record_episode(self, episode_return: float, length: int, success: bool | None) -> object: ...

    def hold(self, max_update_debt: int) -> bool: ...


class Phase(Enum):
    RUN = "run"  # training or deployment acting
    DRAIN = "drain"  # evaluation requested: wait for commands in flight, then reset the workers
    EVAL = "eval"  # deterministic evaluation episodes, nothing stored


@dataclass
class WorkerState:
    """What the agent knows about one simulator worker."""

    name: str
    latest: StepMessage | None = None
    """newest accepted step message"""
    acted_on: tuple[int, int, int] | None = None
    """key of the message the last command answered (so one command per step)"""
    command_sent_at: float | None = None
    """time of the last command still waiting for its step message"""
    ready_since: float | None = None
    """when the latest observation became available for acting"""
    episode_return: float = 0.0
    episode_length: int = 0
    episode_complete: bool = True
    """False once a step of the running episode was lost (its return is then not reported)"""
    eval_from: tuple[int, int] | None = None
    """(session, episode) of the first evaluation episode of this worker"""
    eval_quota: int = 0


@dataclass
class WorkerPoolSettings:
    """Which workers the agent drives and how (ROS parameters of the agent node, same names)."""

    workers: list[str] = field(default_factory=list)
    """worker namespaces (e.g. [worker_0, worker_1]); empty: use num_workers"""
    num_workers: int = 1
    """when `workers` is empty: worker_prefix + 0 .. num_workers-1"""
    worker_prefix: str = "worker_"
    """namespace prefix used with num_workers"""
    command_scale: float = 1.0
    """rad/s per policy unit (the workers' max_joint_velocity): commands go out in rad/s"""
    eval_timeout: float = 300.0
    """s an evaluation may take before it is answered with a failure (settable at run time)"""
    batch_wait: float = 0.005
    """seconds to wait for the other workers before acting on a partial batch"""
    stall_timeout: float = 5.0
    """seconds without an answer to a command after which a worker is reset"""
    max_update_debt: int = 8
    """stop acting while more gradient updates than this are owed (keeps the UTD ratio honest)"""

    def validate(self) -> None:
        if self.num_workers < 1:
            raise ValueError(f"num_workers must be >= 1, got {self.num_workers!r}")
        if not (np.isfinite(self.command_scale) and self.command_scale > 0):
            raise ValueError(f"command_scale must be a finite number > 0, got {self.command_scale!r}")
        for name in ("batch_wait", "stall_timeout", "eval_timeout"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.max_update_debt < 0:
            raise ValueError(f"max_update_debt must be >= 0, got {self.max_update_debt!r}")

    def command(self, action: np.ndarray) -> np.ndarray:
        """The command sent to a worker for a policy action in [-1, 1]: joint velocities in rad/s
        (`command_scale` per unit), the velocity controller topic's units; the worker steps its env
        with it as it is (`GraspEnv.step_command`)."""
        return np.asarray(action, dtype=np.float64) * self.command_scale

    def worker_names(self) -> list[str]:
        names = [w.strip("/") for w in self.workers if w.strip("/")]
        return names or [f"{self.worker_prefix}{i}" for i in range(self.num_workers)]


@dataclass(frozen=True)
class PoolCounts:
    """The pool's message counts at one moment (what the progress topics and logs show)."""

    steps_seen: int
    """transitions seen in any phase"""
    rejected: int
    """step messages that completed no transition (duplicate, stale, gap, aborted)"""
    abandoned: int
    """episodes cut short (a worker crash or reset)"""
    commands_sent: int
    stall_resets: int


@dataclass
class EvalRun:
    """The episodes of one evaluation, as `evaluation_summary` takes them."""

    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    successes: list[bool] = field(default_factory=list)

    def add(self, episode_return: float, length: int, success: bool) -> None:
        self.returns.append(episode_return)
        self.lengths.append(length)
        self.successes.append(success)

    def summary(self) -> dict[str, Any]:
        return evaluation_summary(self.returns, self.lengths, self.successes)


class WorkerPool:
    """Turns step messages of N workers into batched actions and transitions for one trainer."""

    def __init__(self, trainer: Trainer, settings: WorkerPoolSettings) -> None:
        workers = settings.worker_names()
        if len(set(workers)) != len(workers) or not workers:
            raise ValueError(f"workers must be a non-empty list of distinct names, got {workers}")
        self.workers = {name: WorkerState(name) for name in workers}
        self.trainer = trainer
        self.settings = settings
        self.assembler = TransitionAssembler()
        self.phase = Phase.RUN
        self.total_steps_seen = 0
        """transitions seen in any phase (for throughput measurements)"""
        self.commands_sent = 0
        self.stall_resets = 0
        self.eval_run: EvalRun | None = None
        self._stall_resets_pending: set[str] = set()
        """workers whose stall reset is sent and not answered yet"""

    # -- checkpoint state -------------------------------------------------------------------------
    def counters(self) -> dict[str, int]:
        """Message counts and the newest key per worker, saved beside the trainer's counters: a
        resumed agent ignores the replayed history up to those keys."""
        assembler = self.assembler
        return {
            "total_steps_seen": self.total_steps_seen,
            **{f"steps_{verdict.value}": count for verdict, count in assembler.counts.items()},
            "steps_rejected": assembler.rejected,
            "episodes_abandoned": assembler.abandoned,
            "commands_sent": self.commands_sent,
            "stall_resets": self.stall_resets,
            **{
                f"last_key.{name}.{part}": value
                for name in self.workers
                if (last := assembler.last(name)) is not None
                for part, value in zip(KEY_PARTS, last.key, strict=True)
            },
        }

    def snapshot(self) -> PoolCounts:
        assembler = self.assembler
        return PoolCounts(
            self.total_steps_seen,
            assembler.rejected,
            assembler.abandoned,
            self.commands_sent,
            self.stall_resets,
        )

    def restore(self, counters: dict[str, int | float]) -> None:
        assembler = self.assembler
        for verdict in assembler.counts:
            assembler.counts[verdict] = int(counters.get(f"steps_{verdict.value}", assembler.counts[verdict]))
        assembler.abandoned = int(counters.get("episodes_abandoned", assembler.abandoned))
        self.total_steps_seen = int(counters.get("total_steps_seen", self.total_steps_seen))
        self.commands_sent = int(counters.get("commands_sent", self.commands_sent))
        self.stall_resets = int(counters.get("stall_resets", self.stall_resets))
        for name in self.workers:
            key = tuple(int(counters.get(f"last_key.{name}.{part}", -1)) for part in KEY_PARTS)
            if min(key) >= 0:
                assembler.set_floor(name, key)

    # -- incoming -------------------------------------------------------------------------------
    def on_step(self, worker: str, msg: StepMessage, now: float) -> Verdict:
        """Handle one step message; stores the transition it completes when learning."""
        state = self.workers[worker]
        verdict, transition = self.assembler.push(worker, msg)
        if verdict in (Verdict.DUPLICATE, Verdict.STALE):
            return verdict
        state.latest = msg
        state.command_sent_at = None
        state.ready_since = None if msg.done else now
        if (
            self.phase is Phase.EVAL
            and verdict is Verdict.EPISODE_START
            and state.eval_from is not None
            and msg.session != state.eval_from[0]
            and msg.step == 0
        ):
            # The worker restarted during the evaluation: its new session begins with a fresh reset,
            # so its remaining quota counts from there instead of waiting for a session that is gone.
            state.eval_from = (msg.session, msg.episode)
        counted = self._counts_for_eval(state, msg)
        if verdict is Verdict.EPISODE_START:
            state.episode_return, state.episode_length = 0.0, 0
            state.episode_complete = msg.step == 0
        elif verdict in (Verdict.GAP, Verdict.ABORTED):
            state.episode_complete = False  # a diverged (aborted) episode is no outcome of the policy
        elif verdict is Verdict.TRANSITION and transition is not None:
            state.episode_return += transition.reward
            state.episode_length += 1
            self.total_steps_seen += 1
            if self.phase is Phase.RUN and self.trainer.learning:
                self.trainer.store(
                    transition.obs, transition.action, transition.reward, transition.next_obs,
                    transition.terminated, stream=state.name,
                )  # fmt: skip
        if msg.done:
            self._finish_episode(state, msg, counted)
        return verdict

    def _counts_for_eval(self, state: WorkerState, msg: StepMessage) -> bool:
        if self.phase is not Phase.EVAL or state.eval_from is None:
            return False
        session, episode = state.eval_from
        return msg.session == session and msg.episode >= episode

    def _finish_episode(self, state: WorkerState, msg: StepMessage, counted_for_eval: bool) -> None:
        outcome = (state.episode_return, state.episode_length, msg.success)
        if self.phase is Phase.EVAL:
            if (
                counted_for_eval
                and state.episode_complete
                and state.eval_quota > 0
                and self.eval_run is not None
            ):
                self.eval_run.add(*outcome)
                state.eval_quota -= 1
        elif self.phase is Phase.RUN and state.episode_complete:
            self.trainer.record_episode(*outcome)

    # -- acting ---------------------------------------------------------------------------------
    def _wants_action(self, state: WorkerState) -> bool:
        msg = state.latest
        if msg is None or msg.done or state.acted_on == msg.key or state.command_sent_at is not None:
            return False
        if self.phase is Phase.DRAIN:
            return False
        if self.phase is Phase.EVAL:
            return state.eval_quota > 0 and self._counts_for_eval(state, msg)
        return True

    def ready_workers(self, now: float, active: set[str] | None = None) -> list[str]:
        """Workers to act for now: all waiting ones once none is still simulating, or after batch_wait."""
        names = [n for n in self.workers if active is None or n in active]
        waiting = [n for n in names if self._wants_action(self.workers[n])]
        if not waiting:
            return []
        if self.phase is Phase.RUN and self.trainer.hold(self.settings.max_update_debt):
            return []
        busy = [n for n in names if self.workers[n].command_sent_at is not None]
        oldest = min(self.workers[n].ready_since or now for n in waiting)
        if not busy or now - oldest >= self.settings.batch_wait:
            return waiting
        return []

    def act(self, names: list[str], now: float) -> dict[str, np.ndarray]:
        """One batched forward pass for the given workers; marks them as waiting for their step."""
        if not names:
            return {}
        obs = np.stack([self.workers[n].latest.observation for n in names]).astype(np.float32)
        deterministic = self.phase is Phase.EVAL or not self.trainer.learning
        actions = np.asarray(self.trainer.act(obs, deterministic), dtype=np.float64)
        out = {}
        for name, action in zip(names, actions, strict=True):
            state = self.workers[name]
            state.acted_on = state.latest.key
            state.command_sent_at = now
            state.ready_since = None
            out[name] = action
        self.commands_sent += len(out)
        return out

    def stalled_workers(self, now: float) -> list[str]:
        """Workers whose command got no answer within stall_timeout (lost message or a restart)."""
        limit = self.settings.stall_timeout
        return [
            n
            for n, s in self.workers.items()
            if s.command_sent_at is not None and now - s.command_sent_at > limit
        ]

    def forget_command(self, name: str) -> None:
        """The worker is being reset: stop waiting for the answer to its last command."""
        self.workers[name].command_sent_at = None

    def stall_resets_due(self, now: float) -> list[str]:
        """Stalled workers (`stalled_workers`) that have no reset on its way yet."""
        return [name for name in self.stalled_workers(now) if name not in self._stall_resets_pending]

    def stall_reset_sent(self, name: str) -> None:
        """A stalled worker's reset went out: it is not sent again until answered (counted as a
        stall reset)."""
        self._stall_resets_pending.add(name)
        self.stall_resets += 1

    def stall_reset_answered(self, name: str) -> None:
        """The stalled worker answered its reset: its last command is forgotten, it can stall again."""
        self.forget_command(name)
        self._stall_resets_pending.discard(name)

    # -- evaluation -----------------------------------------------------------------------------
    def request_eval(self) -> None:
        """Stop sending commands; the evaluation runner resets the workers once `drained()`."""
        self.phase = Phase.DRAIN
        self.eval_run = EvalRun()

    def drained(self) -> bool:
        return all(s.command_sent_at is None for s in self.workers.values())

    def begin_eval(self, episodes: int, reset_keys: dict[str, tuple[int, int]]) -> None:
        """Start counting: each reset worker runs its share of `episodes`, from the episode its reset
        began; workers missing from `reset_keys` (no answer to the reset) sit the evaluation out."""
        names = [name for name in self.workers if name in reset_keys]
        for state in self.workers.values():
            state.eval_quota, state.eval_from = 0, None
        for index, name in enumerate(names):
            state = self.workers[name]
            state.eval_quota = episodes // len(names) + (1 if index < episodes % len(names) else 0)
            state.eval_from = reset_keys[name]
        self.phase = Phase.EVAL

    def eval_finished(self) -> bool:
        return self.phase is Phase.EVAL and all(s.eval_quota == 0 for s in self.workers.values())

    def end_eval(self) -> dict[str, Any]:
        """Back to training/deployment; returns the summary of the evaluation."""
        run = self.eval_run or EvalRun()
        for state in self.workers.values():
            state.eval_quota, state.eval_from = 0, None
        self.phase = Phase.RUN
        self.eval_run = None
        return run.summary()
