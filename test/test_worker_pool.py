"""Agent bookkeeping without ROS: batched acting, storage only while learning, UTD scheduling and
evaluation quotas counted from the reset that started the evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from sac_grasp_ros.graph.protocol import StepMessage
from sac_grasp_ros.graph.workers import Phase, WorkerPool, WorkerPoolSettings
from sac_grasp_ros.training.schedule import UpdateScheduler

ACT, OBS = 2, 3


def step(
    session: int, episode: int, index: int, reward: float = 1.0, done: bool = False, success: bool = False
):
    return StepMessage(
        session,
        episode,
        index,
        reward,
        done,
        False,
        success,
        np.full(ACT, index / 10, np.float32),
        np.full(OBS, episode * 100 + index, np.float32),
    )


class Recorder:
    """The learner side of the pool, recording what the pool hands it (the real one, TrainingSession,
    is tested in test_training_session.py); its update schedule is the real UpdateScheduler."""

    def __init__(self, learning_starts: int, utd: float) -> None:
        self.learning = True
        self.stored: list[tuple] = []
        self.calls: list[tuple[int, bool]] = []
        self.episodes: list[tuple[float, int, bool | None]] = []
        self.scheduler = UpdateScheduler(utd_ratio=utd, learning_starts=learning_starts, batch_size=1)

    @property
    def env_steps(self) -> int:
        return len(self.stored)

    def act(self, obs: np.ndarray, deterministic: bool = False) -> np.ndarray:
        self.calls.append((len(obs), deterministic))
        return np.zeros((len(obs), ACT))

    def store(self, *transition, stream: str = "") -> None:
        self.stored.append((*transition, stream))

    def record_episode(self, episode_return: float, length: int, success: bool | None) -> None:
        self.episodes.append((episode_return, length, success))

    def hold(self, max_update_debt: int) -> bool:
        return self.learning and self.scheduler.due(self.env_steps, self.env_steps) > max_update_debt


def make_core(workers=("a", "b"), learning_starts: int = 0, utd: float = 1.0, max_debt: int = 100):
    recorder = Recorder(learning_starts, utd)
    settings = WorkerPoolSettings(workers=list(workers), batch_wait=0.01, max_update_debt=max_debt)
    return WorkerPool(recorder, settings), recorder


def test_acts_in_one_batch_once_every_worker_has_answered():
    core, recorder = make_core()
    core.on_step("a", step(1, 0, 0), now=0.0)
    core.on_step("b", step(2, 0, 0), now=0.0)
    ready = core.ready_workers(now=0.0)
    assert ready == ["a", "b"]
    core.act(ready, now=0.0)
    assert recorder.calls == [(2, False)]
    assert core.ready_workers(now=1.0) == []  # one command per observation
    core.on_step("a", step(1, 0, 1), now=1.0)
    assert core.ready_workers(now=1.0) == []  # b still simulating: wait ...
    assert core.ready_workers(now=1.02) == ["a"]  # ... but not longer than batch_wait


def test_transitions_stored_only_while_learning_and_running():
    core, recorder = make_core(workers=("a",))
    core.on_step("a", step(1, 0, 0), 0.0)
    core.on_step("a", step(1, 0, 1), 0.0)
    recorder.learning = False
    core.on_step("a", step(1, 0, 2), 0.0)
    assert recorder.env_steps == 1 and len(recorder.stored) == 1
    assert recorder.stored[0][-1] == "a"  # the worker is the transition's stream (n-step folding)
    core.act(["a"], 0.0)
    assert recorder.calls[-1] == (1, True)  # learning off acts deterministically


def test_update_scheduler_follows_the_utd_ratio_and_debt_pauses_acting():
    scheduler = UpdateScheduler(utd_ratio=0.5, learning_starts=10, batch_size=4)
    assert scheduler.due(env_steps=9, buffer_size=9) == 0
    assert scheduler.due(env_steps=13, buffer_size=13) == 2
    scheduler.updates_done = 2
    assert scheduler.due(env_steps=15, buffer_size=15) == 1
    core, recorder = make_core(workers=("a",), max_debt=1)
    for index in range(4):
        core.on_step("a", step(1, 0, index), 0.0)
    assert recorder.scheduler.due(recorder.env_steps, recorder.env_steps) == 4
    assert core.ready_workers(1.0) == []
    recorder.scheduler.updates_done = 4
    assert core.ready_workers(1.0) == ["a"]


def test_episode_statistics_and_lost_steps():
    core, recorder = make_core(workers=("a",))
    core.on_step("a", step(1, 0, 0), 0.0)
    core.on_step("a", step(1, 0, 1, reward=2.0), 0.0)
    core.on_step("a", step(1, 0, 2, reward=3.0, done=True, success=True), 0.0)
    core.on_step("a", step(1, 1, 0), 0.0)
    core.on_step("a", step(1, 1, 2, done=True), 0.0)  # step 1 lost: return unknown, not reported
    assert recorder.episodes == [(5.0, 2, True)]


def test_evaluation_counts_quota_from_the_reset_and_stores_nothing():
    core, recorder = make_core()
    core.on_step("a", step(1, 4, 0), 0.0)
    core.on_step("b", step(2, 9, 0), 0.0)
    core.act(["a", "b"], 0.0)
    core.request_eval()
    assert core.phase is Phase.DRAIN and not core.drained()
    core.on_step("a", step(1, 4, 1, done=True), 0.1)  # answer of the command in flight
    core.on_step("b", step(2, 9, 1), 0.1)
    assert core.drained() and core.ready_workers(0.2) == []
    core.begin_eval(3, {"a": (1, 5), "b": (2, 10)})
    stored_before = len(recorder.stored)
    core.on_step("b", step(2, 9, 2, done=True), 0.2)  # late message of the old episode: not counted
    assert core.ready_workers(0.3) == []
    for episode in (5, 6):
        core.on_step("a", step(1, episode, 0), 0.3)
        assert core.ready_workers(0.3) == ["a"]
        core.act(["a"], 0.3)
        core.on_step("a", step(1, episode, 1, reward=-1.0, done=True, success=episode == 5), 0.4)
    core.on_step("a", step(1, 7, 0), 0.5)
    assert core.ready_workers(0.5) == []  # a has done its 2 episodes
    assert not core.eval_finished()
    core.on_step("b", step(2, 10, 0), 0.5)
    core.act(["b"], 0.5)
    core.on_step("b", step(2, 10, 1, reward=-3.0, done=True), 0.6)
    assert core.eval_finished()
    summary = core.end_eval()
    assert summary == {
        "episodes": 3,
        "success_rate": pytest.approx(1 / 3),
        "mean_return": pytest.approx(-5 / 3),
        "mean_length": 1.0,
    }
    assert len(recorder.stored) == stored_before
    assert all(deterministic for _, deterministic in recorder.calls[1:])
    assert core.phase is Phase.RUN and recorder.episodes == []


def test_a_worker_restarted_during_evaluation_finishes_its_quota_in_its_new_session():
    core, _ = make_core(workers=("a",))
    core.on_step("a", step(1, 0, 0), 0.0)
    core.request_eval()
    core.begin_eval(2, {"a": (1, 1)})
    core.on_step("a", step(1, 1, 0), 0.1)
    core.act(["a"], 0.1)
    core.on_step("a", step(1, 1, 1, done=True, success=True), 0.2)  # one of two episodes done
    core.on_step("a", step(1, 2, 0), 0.3)
    core.act(["a"], 0.3)  # ... then the simulator crashes and is respawned with a new session
    core.forget_command("a")  # the node resets a stalled worker
    core.on_step("a", step(7, 0, 0), 5.0)
    assert core.ready_workers(5.0) == ["a"]  # not stuck waiting for the dead session's episodes
    core.act(["a"], 5.0)
    core.on_step("a", step(7, 0, 1, done=True), 5.1)
    assert core.eval_finished()
    assert core.end_eval()["episodes"] == 2


def test_a_stalled_worker_is_reset_once_until_it_answers_and_counted():
    core, _ = make_core(workers=("a", "b"))
    core.on_step("a", step(1, 0, 0), 0.0)
    core.on_step("b", step(2, 0, 0), 0.0)
    core.act(["a", "b"], 0.0)
    core.on_step("b", step(2, 0, 1), 1.0)  # b answers its command; a's answer is lost
    assert core.stall_resets_due(4.0) == []  # within stall_timeout (5 s)
    assert core.stall_resets_due(6.0) == ["a"]
    core.stall_reset_sent("a")
    assert core.stall_resets_due(7.0) == []  # its reset is on its way: not sent again
    assert core.snapshot().stall_resets == 1 and core.counters()["stall_resets"] == 1
    core.stall_reset_answered("a")
    assert core.stalled_workers(8.0) == [] and core.ready_workers(8.0) == ["b"]
    core.on_step("a", step(1, 1, 0), 8.0)  # the reset's first step
    assert core.ready_workers(8.0) == ["a", "b"]


def test_a_snapshot_gives_the_counts_the_checkpoint_counters_hold():
    core, _ = make_core(workers=("a",))
    core.on_step("a", step(1, 0, 0), 0.0)
    core.act(["a"], 0.0)
    core.on_step("a", step(1, 0, 1), 0.1)
    core.on_step("a", step(1, 0, 1), 0.1)  # a duplicate: rejected
    core.on_step("a", step(1, 0, 3), 0.2)  # step 2 lost: a gap, rejected
    counts, counters = core.snapshot(), core.counters()
    assert (counts.steps_seen, counts.commands_sent, counts.stall_resets) == (1, 1, 0)
    assert counts.steps_seen == counters["total_steps_seen"] and counts.rejected == counters["steps_rejected"]
    assert counts.rejected == 2 and counts.abandoned == counters["episodes_abandoned"]
