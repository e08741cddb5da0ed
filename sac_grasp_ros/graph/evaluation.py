"""Evaluations on the simulator workers, kept apart from ROS so they can be tested alone.

An evaluation runs deterministic episodes of the policy on freshly reset workers, with nothing
stored. `EvaluationRunner` takes it through its stages on a `WorkerPool`: drain (no new commands;
wait for those in flight, at most stall_timeout), reset every worker, count each reset worker's share
of the episodes from the episode its reset began (a late message of an older episode never counts),
finish when every share is done. It fails, with the reason, when no worker could be reset or when it
takes longer than eval_timeout; the pool goes back to training either way.

Workers are reset through a callable the caller gives (`ResetWorker`: the agent node's rclpy service
call), which reports each reply back; a worker that does not answer within stall_timeout (it died
after the request) sits the evaluation out.

Three kinds: "service" (a caller of /evaluate), "periodic" (the session's, during training) and
"final" (the session's, at the finish). No caller is refused for being second: one that asks while
a service or final evaluation runs gets that evaluation's result; one that asks during a periodic
evaluation (fewer episodes, of a policy still learning) gets an evaluation of its own after it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sac_grasp_ros.graph.workers import WorkerPool

LOG = logging.getLogger("sac_grasp_ros.graph.evaluation")
KINDS = ("service", "periodic", "final")


@dataclass(frozen=True)
class EvaluationResult:
    """How one evaluation ended: its summary (`evaluation_summary`'s keys), or why it failed."""

    kind: str
    """service, periodic or final"""
    ok: bool
    summary: dict[str, Any] | None = None
    """episodes, success_rate, mean_return, mean_length (None when it failed)"""
    reason: str = ""
    """why it failed (empty when ok)"""

    @property
    def outcome(self) -> dict[str, Any] | str:
        """The summary, or the reason: what the session's result takes."""
        return self.summary if self.ok else self.reason

    @property
    def message(self) -> str:
        """What a caller of /evaluate reads: the summary as JSON, or the reason."""
        return json.dumps(self.summary) if self.ok else self.reason


Reply = Callable[[EvaluationResult], None]
ResetWorker = Callable[[str, Callable[[str | None], None]], bool]
"""`reset(worker, answered)`: send `worker` a reset and return True, or False when it cannot be sent
now; later call `answered(message)` with the reply's message (JSON with the `session` and `episode`
the reset started), or with None when the call failed."""

_PENDING = object()
"""a reset sent and not answered yet"""


@dataclass
class _Evaluation:
    kind: str
    episodes: int
    started: float
    replies: list[Reply]
    resets: dict[str, Any] = field(default_factory=dict)
    """worker -> its reset's reply message (None: failed; _PENDING: not answered yet)"""
    resets_sent: float = 0.0
    counting: bool = False
    """the workers are reset and their episodes count"""


class EvaluationRunner:
    """Runs one evaluation at a time on a `WorkerPool` (see the module docstring)."""

    def __init__(
        self,
        pool: WorkerPool,
        reset_worker: ResetWorker,
        finished: Reply | None = None,
        log: Any = LOG,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`finished(result)` is called when an evaluation ends, before its callers are answered (the
        agent records a periodic one with the session, and a final one as the run's result); `log`:
        anything with info/warning/error (a logging.Logger, an rclpy logger)."""
        self.pool, self.reset_worker, self.log, self.clock = pool, reset_worker, log, clock
        self.finished = finished or (lambda result: None)
        self._run: _Evaluation | None = None
        self._waiting: list[tuple[int, Reply]] = []
        """callers that asked during a periodic evaluation: they get one of their own after it"""

    @property
    def running(self) -> str | None:
        """The kind of the evaluation running now, None when none runs (the pool trains or deploys)."""
        return self._run.kind if self._run is not None else None

    def start(self, kind: str, episodes: int, replies: list[Reply] | None = None) -> None:
        """Start an evaluation of `episodes` episodes; `replies` get its result."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if self._run is not None:
            raise RuntimeError(f"a {self._run.kind} evaluation is running already")
        self._run = _Evaluation(kind, episodes, self.clock(), list(replies or []))
        self.pool.request_eval()
        self.log.info(f"{kind} evaluation of {episodes} episodes started")

    def request(self, episodes: int, reply: Reply) -> None:
        """A caller of /evaluate: `reply(result)` is called once its evaluation ends (never now)."""
        if self._run is None:
            self.start("service", episodes, [reply])
        elif self._run.kind == "periodic":
            self._waiting.append((episodes, reply))
        else:
            self._run.replies.append(reply)

    def tick(self, now: float) -> EvaluationResult | None:
        """Advance the running evaluation; its result when it ended now."""
        run, pool = self._run, self.pool
        if run is None:
            return None
        settings = pool.settings
        if now - run.started > settings.eval_timeout:
            pool.end_eval()
            return self._finish(False, reason=f"evaluation timed out after {settings.eval_timeout} s")
        if not run.counting:
            timeout = settings.stall_timeout
            if not run.resets and (pool.drained() or now - run.started > timeout):
                self._send_resets(run, now)  # none could be sent: tried again at the next tick
            # A worker that dies after its reset was sent never answers: go on without it.
            waited_out = now - run.resets_sent > timeout
            if run.resets and (waited_out or all(r is not _PENDING for r in run.resets.values())):
                keys = {
                    name: key for name, reply in run.resets.items() if (key := self._reset_key(name, reply))
                }
                run.resets.clear()
                if not keys:
                    pool.end_eval()
                    return self._finish(False, reason="no worker could be reset for the evaluation")
                pool.begin_eval(run.episodes, keys)
                run.counting = True
        if pool.eval_finished():
            summary = pool.end_eval()
            self.log.info(f"evaluation: {json.dumps(summary)}")
            return self._finish(True, summary=summary)
        return None

    def abort(self, reason: str) -> None:
        """End the running evaluation, if any, as failed; it and every waiting caller get `reason`."""
        waiting, self._waiting = self._waiting, []
        if self._run is not None:
            self.pool.end_eval()
            self._finish(False, reason=reason)
        for _, reply in waiting:
            reply(EvaluationResult("service", False, reason=reason))

    def _send_resets(self, run: _Evaluation, now: float) -> None:
        for name in self.pool.workers:
            self.pool.forget_command(name)
            if self.reset_worker(name, self._answer_for(run, name)):
                run.resets[name] = _PENDING
        run.resets_sent = now

    @staticmethod
    def _answer_for(run: _Evaluation, name: str) -> Callable[[str | None], None]:
        def answered(message: str | None) -> None:
            if run.resets.get(name) is _PENDING:  # a late answer, after the runner went on, is dropped
                run.resets[name] = message

        return answered

    def _reset_key(self, name: str, reply: Any) -> tuple[int, int] | None:
        """The (session, episode) a worker's reset started; None leaves the worker out."""
        if reply is _PENDING:
            self.log.error(f"/{name}/reset got no answer: worker left out of evaluation")
            return None
        try:
            key = json.loads(reply)
            return int(key["session"]), int(key["episode"])
        except (ValueError, KeyError, TypeError):
            self.log.error(f"/{name}/reset gave no episode key: worker left out of evaluation")
            return None

    def _finish(self, ok: bool, summary: dict[str, Any] | None = None, reason: str = "") -> EvaluationResult:
        run, self._run = self._run, None
        result = EvaluationResult(run.kind, ok, summary, reason)
        self.finished(result)
        for reply in run.replies:
            reply(result)
        if self._waiting and self._run is None:
            waiting, self._waiting = self._waiting, []
            self.start("service", waiting[0][0], [reply for _, reply in waiting])
        return result
