"""The `/evaluate` state machine without ROS: an `EvaluationRunner` on a real `WorkerPool` and a real
`TrainingSession`, fed the protocol's step messages by simulator workers that step a real `GraspEnv`.

What stands in for ROS: messages are delivered one loop turn after they are sent (a command, a step,
a reset reply), and the workers' reset service is the runner's injected reset callable.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from sac_grasp_ros.envs.config import GraspEnvConfig
from sac_grasp_ros.graph import protocol
from sac_grasp_ros.graph.evaluation import EvaluationResult, EvaluationRunner
from sac_grasp_ros.graph.workers import WorkerPool, WorkerPoolSettings
from sac_grasp_ros.sac import SACConfig
from sac_grasp_ros.training.config import TrainingConfig
from sac_grasp_ros.training.session import TrainingSession

pytest.importorskip("mujoco")

EPISODE_STEPS = 3
TURN = 0.01
"""s of simulated time per loop turn"""


class SimWorker:
    """A simulator worker as the sim node is one: a GraspEnv, its episode key, step messages."""

    def __init__(self, name: str, env, session: int) -> None:
        self.name, self.env, self.session = name, env, session
        self.act_dim, self.obs_dim = env.action_space.shape[0], env.observation_space.shape[0]
        self.episode, self.step_index = -1, 0
        self.resets = 0

    def reset(self) -> list[float]:
        obs, _ = self.env.reset()
        self.episode, self.step_index = self.episode + 1, 0
        zero = np.zeros(self.act_dim, np.float32)
        return self._message(obs, 0.0, False, False, {}, zero)

    def step(self, action: np.ndarray) -> list[float]:
        applied = np.clip(action, -1.0, 1.0).astype(np.float32)
        obs, reward, terminated, truncated, info = self.env.step(applied)
        self.step_index += 1
        values = self._message(obs, float(reward), terminated, truncated, info, applied)
        if terminated or truncated:  # the sim node starts the next episode at once
            return [values, self.reset()]
        return [values]

    def _message(self, obs, reward, terminated, truncated, info, action) -> list[float]:
        step = protocol.StepMessage(
            self.session, self.episode, self.step_index, reward, bool(terminated), bool(truncated),
            bool(info.get("success", False)), action, obs, bool(info.get("nan_reset", False)),
        )  # fmt: skip
        return protocol.encode(step)


class Graph:
    """The agent's loop over a pool, a runner and workers, with one turn of delay on every message."""

    def __init__(self, envs, names=("worker_0", "worker_1"), **settings) -> None:
        config = TrainingConfig(seed=0, eval_every=0)
        sac = SACConfig(hidden_size=16, q_hidden_layers=1, policy_hidden_layers=1, batch_size=16,
                        learning_starts=1000, device="cpu", torch_threads=1, seed=0)  # fmt: skip
        self.session = TrainingSession(config, sac)
        self.workers = {
            name: SimWorker(name, env, session=100 + i)
            for i, (name, env) in enumerate(zip(names, envs, strict=True))
        }
        first = next(iter(self.workers.values()))
        self.session.build(first.obs_dim, first.act_dim)
        self.pool = WorkerPool(self.session, WorkerPoolSettings(workers=list(names), **settings))
        self.finished: list[EvaluationResult] = []
        self.log = logging.getLogger("test.evaluation")
        self.runner = EvaluationRunner(
            self.pool, self.reset_worker, self.finished.append, self.log, self.clock
        )
        self.now = 0.0
        self.in_flight: list[Callable[[], None]] = []
        self.silent: set[str] = set()
        """workers whose resets are not served: their `answered` waits in `unanswered`"""
        self.unanswered: dict[str, Callable[[str | None], None]] = {}
        self.reset_reply: Callable[[SimWorker], str | None] = lambda w: json.dumps(
            {"session": w.session, "episode": w.episode}
        )
        for worker in self.workers.values():
            self._deliver(worker.name, [worker.reset()])

    def clock(self) -> float:
        return self.now

    def reset_worker(self, name: str, answered: Callable[[str | None], None]) -> bool:
        """The reset service: the worker starts an episode, publishes its step 0, then replies."""
        worker = self.workers[name]
        worker.resets += 1
        if name in self.silent:
            self.unanswered[name] = answered
            return True

        def serve() -> None:
            self._deliver(name, [worker.reset()])
            answered(self.reset_reply(worker))

        self.in_flight.append(serve)
        return True

    def _deliver(self, name: str, messages: list[list[float]]) -> None:
        worker = self.workers[name]
        for values in messages:
            step = protocol.decode(values, worker.act_dim, worker.obs_dim)
            self.pool.on_step(name, step, self.now)

    def turn(self) -> EvaluationResult | None:
        """One turn of the agent's loop: what arrived, then act, then the evaluation."""
        self.now += TURN
        arrived, self.in_flight = self.in_flight, []
        for handle in arrived:
            handle()
        for name, action in self.pool.act(self.pool.ready_workers(self.now), self.now).items():
            worker = self.workers[name]
            self.in_flight.append(lambda w=worker, a=action: self._deliver(w.name, w.step(a)))
        return self.runner.tick(self.now)

    def run(self, turns: int, results: int = 0) -> Iterator[EvaluationResult]:
        """`turns` loop turns, the evaluations that end in them; stops after `results` (0: never)."""
        ended = 0
        for _ in range(turns):
            if (result := self.turn()) is not None:
                yield result
                ended += 1
                if ended == results:
                    return


@pytest.fixture(scope="module")
def envs():
    from sac_grasp_ros.envs.grasp_env import GraspEnv

    made = [
        GraspEnv(config=GraspEnvConfig(random_target=True, max_episode_steps=EPISODE_STEPS, seed=seed))
        for seed in (1, 2)
    ]
    yield made
    for env in made:
        env.close()


def test_an_evaluation_drains_resets_every_worker_once_and_answers_with_its_summary(envs):
    graph = Graph(envs)
    list(graph.run(5))  # training: the workers are busy stepping
    stored, episodes = graph.session.env_steps, len(graph.session.curve)
    assert stored > 0
    replies: list[EvaluationResult] = []
    graph.runner.request(4, replies.append)
    assert graph.runner.running == "service" and not replies
    results = list(graph.run(200, results=1))
    assert [r.kind for r in results] == ["service"] and replies == results == graph.finished
    (result,) = results
    assert result.ok and result.summary["episodes"] == 4 and result.summary["mean_length"] == EPISODE_STEPS
    assert json.loads(result.message) == result.summary == result.outcome
    assert [w.resets for w in graph.workers.values()] == [1, 1]
    assert graph.session.env_steps == stored and len(graph.session.curve) == episodes  # nothing stored
    assert graph.runner.running is None
    list(graph.run(3))
    assert graph.session.env_steps > stored  # training goes on


def test_a_caller_during_a_running_evaluation_gets_its_result(envs):
    graph = Graph(envs)
    first: list[EvaluationResult] = []
    second: list[EvaluationResult] = []
    graph.runner.request(2, first.append)
    list(graph.run(2))
    graph.runner.request(6, second.append)  # another caller, while the first one's evaluation runs
    results = list(graph.run(200))
    assert len(results) == 1 and first == second == results
    assert results[0].summary["episodes"] == 2
    assert [w.resets for w in graph.workers.values()] == [1, 1]


def test_a_caller_during_a_periodic_evaluation_gets_an_evaluation_of_its_own_after_it(envs, caplog):
    caplog.set_level(logging.INFO, logger="test.evaluation")
    graph = Graph(envs)
    graph.runner.start("periodic", 2)
    list(graph.run(2))
    replies: list[EvaluationResult] = []
    graph.runner.request(3, replies.append)
    graph.runner.request(3, replies.append)
    results = list(graph.run(400))
    assert [(r.kind, r.summary["episodes"]) for r in results] == [("periodic", 2), ("service", 3)]
    assert replies == [results[1], results[1]]  # both waiting callers share one evaluation after it
    assert graph.finished == results
    assert [w.resets for w in graph.workers.values()] == [2, 2]
    started = [r.message for r in caplog.records if r.message.endswith("episodes started")]
    assert started == [
        "periodic evaluation of 2 episodes started",
        "service evaluation of 3 episodes started",
    ]


def test_a_worker_that_never_answers_its_reset_sits_the_evaluation_out(envs, caplog):
    graph = Graph(envs, stall_timeout=0.2)
    graph.silent.add("worker_1")
    replies: list[EvaluationResult] = []
    with caplog.at_level(logging.ERROR, logger="test.evaluation"):
        graph.runner.request(3, replies.append)
        (result,) = graph.run(300)
    assert result.ok and result.summary["episodes"] == 3 and replies == [result]
    assert "/worker_1/reset got no answer: worker left out of evaluation" in caplog.text
    assert graph.workers["worker_1"].resets == 1


def test_an_evaluation_no_worker_could_be_reset_for_fails_and_training_goes_on(envs, caplog):
    graph = Graph(envs)
    graph.reset_reply = lambda worker: "not json"
    replies: list[EvaluationResult] = []
    with caplog.at_level(logging.ERROR, logger="test.evaluation"):
        graph.runner.request(2, replies.append)
        (result,) = graph.run(50)
    assert not result.ok and result.summary is None
    assert result.message == result.outcome == "no worker could be reset for the evaluation"
    assert caplog.text.count("gave no episode key: worker left out of evaluation") == 2
    assert graph.runner.running is None and replies == [result]
    stored = graph.session.env_steps
    list(graph.run(5))
    assert graph.session.env_steps > stored


def test_an_evaluation_longer_than_eval_timeout_fails_with_the_reason(envs):
    graph = Graph(envs, eval_timeout=0.05)
    graph.runner.start("final", 50)
    (result,) = graph.run(50)
    assert (result.kind, result.ok, result.reason) == ("final", False, "evaluation timed out after 0.05 s")
    assert graph.finished == [result]


def test_a_failed_reset_call_leaves_its_worker_out_and_a_late_answer_is_dropped(envs):
    graph = Graph(envs, stall_timeout=0.1)
    graph.silent = {"worker_0", "worker_1"}
    replies: list[EvaluationResult] = []
    graph.runner.request(2, replies.append)
    list(graph.run(3))
    graph.unanswered.pop("worker_0")(None)  # the service call failed
    failed = EvaluationResult("service", False, reason="no worker could be reset for the evaluation")
    assert list(graph.run(20)) == [failed] == replies  # worker_1 never answered in time
    graph.unanswered.pop("worker_1")(json.dumps({"session": 101, "episode": 1}))  # too late: dropped
    assert graph.runner.running is None and replies == [failed]


def test_abort_answers_the_running_evaluation_and_every_waiting_caller(envs):
    graph = Graph(envs)
    graph.runner.start("periodic", 4)
    waiting: list[EvaluationResult] = []
    graph.runner.request(2, waiting.append)
    list(graph.run(3))
    graph.runner.abort("agent shutting down")
    assert [(r.kind, r.ok, r.reason) for r in graph.finished] == [("periodic", False, "agent shutting down")]
    assert [(r.ok, r.message) for r in waiting] == [(False, "agent shutting down")]
    assert graph.runner.running is None
    graph.runner.abort("agent shutting down")  # nothing left to answer
    assert len(graph.finished) == 1 and len(waiting) == 1
