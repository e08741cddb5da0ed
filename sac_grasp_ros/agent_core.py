"""Bookkeeping of the agent node, kept apart from ROS so it can be tested and reasoned about alone.

The agent node only translates messages and services; everything that decides *what* to do lives
here: which workers wait for an action (batched acting), which transitions are stored, episode
statistics, how many gradient updates are due (update-to-data ratio), and evaluation runs
(per-worker episode quotas counted only from the reset that started the evaluation).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from sac_grasp_ros.graph.protocol import StepMessage, Transition, TransitionAssembler, Verdict

ActFn = Callable[[np.ndarray, bool], np.ndarray]
StoreFn = Callable[[str, Transition], None]


class Phase(Enum):
    RUN = "run"  # training or deployment acting
    DRAIN = "drain"  # evaluation requested: wait for commands in flight, then reset the workers
    EVAL = "eval"  # deterministic evaluation episodes, nothing stored


@dataclass
class EpisodeResult:
    worker: str
    episode_return: float
    length: int
    success: bool
    env_steps: int = -1
    """stored env steps when the episode ended (-1: unknown, e.g. an old checkpoint's curve)"""


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
class UpdateScheduler:
    """Decides how many gradient updates are due for the env steps collected (UTD ratio)."""

    utd_ratio: float
    learning_starts: int
    batch_size: int
    updates_done: int = 0

    def due(self, env_steps: int, buffer_size: int) -> int:
        if env_steps < self.learning_starts or buffer_size < self.batch_size:
            return 0
        target = math.floor(self.utd_ratio * (env_steps - self.learning_starts + 1))
        return max(0, target - self.updates_done)


@dataclass
class PeriodicEvaluation:
    """When to evaluate during training, and which evaluated policy was best (model selection).

    The best policy is chosen on these periodic evaluations only; a final evaluation on episodes of
    its own then measures it, so the reported figure is not the maximum of noisy selection scores.
    """

    every: int
    """stored env steps between evaluations (0: none); the first one is due at 0"""
    next_at: int = 0
    best_success_rate: float = -1.0
    best_mean_return: float = -math.inf
    best_env_steps: int = -1
    """env steps of the best evaluated policy (-1: none evaluated yet)"""

    def due(self, env_steps: int) -> bool:
        return self.every > 0 and env_steps >= self.next_at

    def record(self, env_steps: int, success_rate: float, mean_return: float) -> bool:
        """Account an evaluation at `env_steps`; True when its policy is the best so far.

        Better means a higher success rate, then a higher mean return: a tie keeps the earlier policy.
        """
        self.skip(env_steps)
        if (success_rate, mean_return) <= (self.best_success_rate, self.best_mean_return):
            return False
        self.best_success_rate, self.best_mean_return = float(success_rate), float(mean_return)
        self.best_env_steps = int(env_steps)
        return True

    def skip(self, env_steps: int) -> None:
        """Schedule the next evaluation at the next multiple of `every` (also after a failed one)."""
        if self.every > 0:
            self.next_at = (env_steps // self.every + 1) * self.every

    def counters(self) -> dict[str, float]:
        """State for checkpoints (a resumed agent keeps its schedule and its best so far)."""
        values: dict[str, float] = {"periodic_eval.next_at": self.next_at}
        if self.best_env_steps >= 0:  # checkpoint counters must be finite: no -inf placeholder
            values.update(
                {
                    "periodic_eval.best_success_rate": self.best_success_rate,
                    "periodic_eval.best_mean_return": self.best_mean_return,
                    "periodic_eval.best_env_steps": self.best_env_steps,
                }
            )
        return values

    def restore(self, counters: dict[str, float]) -> None:
        def value(name: str) -> float:
            return counters.get(f"periodic_eval.{name}", getattr(self, name))

        self.next_at = int(value("next_at"))
        self.best_success_rate, self.best_mean_return = (
            float(value("best_success_rate")),
            float(value("best_mean_return")),
        )
        self.best_env_steps = int(value("best_env_steps"))


@dataclass
class AgentCoreSettings:
    batch_wait: float = 0.005
    """seconds to wait for the other workers before acting on a partial batch"""
    stall_timeout: float = 5.0
    """seconds without an answer to a command after which a worker is reset"""
    max_update_debt: int = 8
    """stop acting while more gradient updates than this are owed (keeps the UTD ratio honest)"""
    success_window: int = 100
    """episodes in the moving success rate"""


@dataclass
class EvalRun:
    episodes: list[EpisodeResult] = field(default_factory=list)

    def summary(self) -> dict[str, float | int]:
        count = len(self.episodes)
        return {
            "episodes": count,
            "success_rate": float(np.mean([e.success for e in self.episodes])) if count else 0.0,
            "mean_return": float(np.mean([e.episode_return for e in self.episodes])) if count else 0.0,
            "mean_length": float(np.mean([e.length for e in self.episodes])) if count else 0.0,
        }


class AgentCore:
    """Turns step messages into actions, stored transitions and statistics for N workers."""

    def __init__(
        self,
        workers: list[str],
        act_fn: ActFn,
        store_fn: StoreFn,
        scheduler: UpdateScheduler,
        settings: AgentCoreSettings | None = None,
        random_act_fn: Callable[[int], np.ndarray] | None = None,
    ) -> None:
        if len(set(workers)) != len(workers) or not workers:
            raise ValueError(f"workers must be a non-empty list of distinct names, got {workers}")
        self.workers = {name: WorkerState(name) for name in workers}
        self.act_fn = act_fn
        self.store_fn = store_fn
        self.random_act_fn = random_act_fn
        self.scheduler = scheduler
        self.settings = settings or AgentCoreSettings()
        self.assembler = TransitionAssembler()
        self.phase = Phase.RUN
        self.learning = True
        self.env_steps = 0
        """transitions stored for learning"""
        self.total_steps_seen = 0
        """transitions seen in any phase (for throughput measurements)"""
        self.episodes: list[EpisodeResult] = []
        self.recent: deque[EpisodeResult] = deque(maxlen=self.settings.success_window)
        self.eval_run: EvalRun | None = None

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
            if self.phase is Phase.RUN and self.learning:
                self.store_fn(worker, transition)
                self.env_steps += 1
        if msg.done:
            self._finish_episode(state, msg, counted)
        return verdict

    def _counts_for_eval(self, state: WorkerState, msg: StepMessage) -> bool:
        if self.phase is not Phase.EVAL or state.eval_from is None:
            return False
        session, episode = state.eval_from
        return msg.session == session and msg.episode >= episode

    def _finish_episode(self, state: WorkerState, msg: StepMessage, counted_for_eval: bool) -> None:
        result = EpisodeResult(
            state.name, state.episode_return, state.episode_length, msg.success, self.env_steps
        )
        if self.phase is Phase.EVAL:
            if (
                counted_for_eval
                and state.episode_complete
                and state.eval_quota > 0
                and self.eval_run is not None
            ):
                self.eval_run.episodes.append(result)
                state.eval_quota -= 1
        elif self.phase is Phase.RUN and state.episode_complete:
            self.episodes.append(result)
            self.recent.append(result)

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
        if self.phase is Phase.RUN and self.learning and self.update_debt() > self.settings.max_update_debt:
            return []
        busy = [n for n in names if self.workers[n].command_sent_at is not None]
        oldest = min(self.workers[n].ready_since or now for n in waiting)
        if not busy or now - oldest >= self.settings.batch_wait:
            return waiting
        return []

    def act(
        self, names: list[str], now: float, rng: np.random.Generator | None = None
    ) -> dict[str, np.ndarray]:
        """One batched forward pass for the given workers; marks them as waiting for their step."""
        if not names:
            return {}
        obs = np.stack([self.workers[n].latest.observation for n in names]).astype(np.float32)
        if self.phase is Phase.RUN and self.learning and self.env_steps < self.scheduler.learning_starts:
            actions = (
                self.random_act_fn(len(names)) if self.random_act_fn is not None else self.act_fn(obs, False)
            )
        else:
            deterministic = self.phase is Phase.EVAL or not self.learning
            actions = self.act_fn(obs, deterministic)
        actions = np.asarray(actions, dtype=np.float64)
        out = {}
        for name, action in zip(names, actions, strict=True):
            state = self.workers[name]
            state.acted_on = state.latest.key
            state.command_sent_at = now
            state.ready_since = None
            out[name] = action
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

    # -- learning -------------------------------------------------------------------------------
    def update_debt(self) -> int:
        return self.scheduler.due(self.env_steps, self.env_steps)

    def updates_due(self, buffer_size: int) -> int:
        if not self.learning or self.phase is not Phase.RUN:
            return 0
        return self.scheduler.due(self.env_steps, buffer_size)

    def success_rate(self) -> float:
        return float(np.mean([e.success for e in self.recent])) if self.recent else 0.0

    # -- evaluation -----------------------------------------------------------------------------
    def request_eval(self) -> None:
        """Stop sending commands; the node resets the workers once `drained()`."""
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

    def end_eval(self) -> dict[str, float | int]:
        """Back to training/deployment; returns the summary of the evaluation."""
        run = self.eval_run or EvalRun()
        for state in self.workers.values():
            state.eval_quota, state.eval_from = 0, None
        self.phase = Phase.RUN
        self.eval_run = None
        return run.summary()
