"""TrainingSession in plain Python (real torch, a real tiny gymnasium env): demo stages, the update
schedule, keep_best, resume and finish, without ROS."""

from __future__ import annotations

import dataclasses
import json

import gymnasium as gym
import numpy as np
import pytest

from sac_grasp_ros.sac import SACConfig, load_checkpoint, save_demos
from sac_grasp_ros.training.config import TrainingConfig
from sac_grasp_ros.training.gym_loop import train
from sac_grasp_ros.training.reporting import run_reporter
from sac_grasp_ros.training.session import TrainingSession

OBS, ACT = 3, 1


def small_sac(**overrides) -> SACConfig:
    values = {
        "hidden_size": 16,
        "q_hidden_layers": 1,
        "policy_hidden_layers": 1,
        "batch_size": 16,
        "learning_starts": 20,
        "buffer_capacity": 2000,
        "device": "cpu",
        "torch_threads": 1,
        "seed": 0,
    }
    return SACConfig(**{**values, **overrides})


def demo_file(tmp_path, count: int = 64) -> str:
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(count, OBS)).astype(np.float32)
    actions = np.clip(obs[:, :1], -1, 1)
    path = tmp_path / "demos.npz"
    save_demos(path, obs, actions, np.ones(count, np.float32), obs, np.zeros(count, bool))
    return str(path)


def pendulum(seed: int = 0) -> gym.Env:
    env = gym.make("Pendulum-v1", max_episode_steps=50)
    env.action_space.seed(seed)
    return env


def test_demo_stages_run_once_on_a_fresh_learner_in_order(tmp_path):
    config = TrainingConfig(demo_file=demo_file(tmp_path), prefill_from_demos=-1, bc_steps=3,
                            critic_pretrain_steps=2, bc_per_update=1)  # fmt: skip
    session = TrainingSession(config, small_sac())
    session.build(OBS, ACT)
    assert session.stages == ["demos 64", "prefill 64", "bc 3", "critic_pretrain 2"]
    assert len(session.buffer) == 64 and session.env_steps == 0  # demo transitions are not env steps
    session.build(OBS, ACT)  # idempotent: the stages never run twice
    assert len(session.stages) == 4
    with pytest.raises(ValueError, match="differ"):
        session.build(OBS + 1, ACT)


def test_keep_best_keeps_the_policy_the_demo_stages_left_before_any_sac_update(tmp_path):
    checkpoints = str(tmp_path / "checkpoints" / "latest")
    config = TrainingConfig(demo_file=demo_file(tmp_path), prefill_from_demos=-1, bc_steps=3, eval_every=10,
                            keep_best=True, checkpoint_dir=checkpoints)  # fmt: skip
    session = TrainingSession(config, small_sac(learning_starts=0))
    session.build(OBS, ACT)
    cloned = {name: value.clone() for name, value in session.sac.policy.state_dict().items()}
    obs = np.zeros(OBS, np.float32)
    for _ in range(20):
        session.store(obs, np.zeros(ACT), 0.0, obs, False)
    assert session.learn() > 0
    assert any(not value.equal(cloned[name]) for name, value in session.sac.policy.state_dict().items())
    kept = load_checkpoint(tmp_path / "checkpoints" / "pretrained", device="cpu").sac.policy.state_dict()
    assert all(value.equal(cloned[name]) for name, value in kept.items())


def test_bad_settings_are_refused_before_anything_is_built(tmp_path):
    with pytest.raises(ValueError, match="bc_steps need demonstrations"):
        TrainingSession(TrainingConfig(bc_steps=1), small_sac())
    config = TrainingConfig(demo_file=demo_file(tmp_path), prefill_from_demos=8, critic_pretrain_steps=1)
    with pytest.raises(ValueError, match=r"prefill_from_demos >= sac.batch_size \(16\), got 8"):
        TrainingSession(config, small_sac())
    with pytest.raises(ValueError, match="keep_best"):
        TrainingSession(TrainingConfig(keep_best=True), small_sac())


def test_warm_up_is_random_then_the_schedule_follows_the_utd_ratio():
    session = TrainingSession(TrainingConfig(max_updates_per_loop=100), small_sac(utd_ratio=0.5))
    session.build(OBS, ACT)
    obs = np.zeros((2, OBS), np.float32)
    first, second = session.act(obs), session.act(obs)
    assert not np.allclose(first, second) and np.all(np.abs(first) <= 1.0)
    for _ in range(30):
        session.store(obs[0], np.zeros(ACT), 0.0, obs[0], False)
    assert session.updates_due() == 5  # floor(0.5 * (30 - 20 + 1))
    assert session.learn() == 5 and session.updates_due() == 0
    session.learning = False
    assert session.updates_due() == 0 and not session.hold(0)


def test_keep_best_finish_and_result_with_resume(tmp_path):
    checkpoints = tmp_path / "checkpoints" / "latest"
    config = TrainingConfig(total_steps=120, eval_every=60, periodic_eval_episodes=2, eval_episodes=2,
                            keep_best=True, on_finish="evaluate_and_exit", checkpoint_dir=str(checkpoints),
                            result_file=str(tmp_path / "result.json"), report_dir=str(tmp_path))  # fmt: skip
    session = TrainingSession(config, small_sac(), reporter=run_reporter(config, "test"))
    session.start()
    result = train(session, pendulum(), pendulum(1), seed=0)
    assert session.stages == ["eval@0", "eval@60", "eval@120", "finish@120", "final_eval best"]
    assert len((tmp_path / "eval_curve.csv").read_text().splitlines()) == 4  # header, three periodic
    assert result["policy"] == "best" and result["selected_at_env_steps"] in (0, 60, 120)
    assert json.loads((tmp_path / "result.json").read_text()) == result
    assert session.updates_done == 101 == result["updates"]  # from learning_starts on, one per step
    best = load_checkpoint(tmp_path / "checkpoints" / "best")
    assert best.counters["env_steps"] == result["selected_at_env_steps"]

    # Resume: counters, schedule, curve and buffer come back; the run goes on to a new total.
    resumed = TrainingSession(
        TrainingConfig(total_steps=180, eval_every=60, periodic_eval_episodes=2, eval_episodes=2, resume=True,
                       keep_best=True, on_finish="evaluate_and_exit", checkpoint_dir=str(checkpoints)),
        small_sac(hidden_size=99),  # the checkpoint's learner settings win over these
    )  # fmt: skip
    resumed.start()
    assert resumed.env_steps == 120 and resumed.updates_done == 101 and len(resumed.buffer) == 120
    assert [r.episode for r in resumed.curve.records] == [r.episode for r in session.curve.records]
    assert resumed.evaluations.schedule.next_at == 180 and resumed.sac_config.hidden_size == 16
    train(resumed, pendulum(), pendulum(1), seed=0)
    assert resumed.stages == ["eval@180", "finish@180", "final_eval best"] and resumed.updates_done == 161


def test_load_refuses_a_checkpoint_of_other_dims_and_keeps_the_learner(tmp_path):
    session = TrainingSession(TrainingConfig(checkpoint_dir=str(tmp_path / "a")), small_sac())
    session.build(OBS, ACT)
    assert session.save()[0]
    other = TrainingSession(TrainingConfig(), small_sac())
    other.build(OBS + 2, ACT)
    learner = other.sac
    ok, message = other.load(str(tmp_path / "a"))
    assert not ok and "dims" in message and other.sac is learner
    assert not TrainingSession(TrainingConfig(), small_sac()).save()[0]  # nothing built: a reason, no crash


def test_a_session_that_does_not_learn_finishes_at_once_unless_idle(tmp_path):
    """Testing a policy (learning off) has no total_steps to reach: evaluate_and_exit evaluates at once
    (test.launch.py evaluate:=true), exit exits, idle keeps acting; nothing is saved over the policy."""
    checkpoint = tmp_path / "checkpoints" / "latest"
    for on_finish, due in (("evaluate_and_exit", True), ("exit", True), ("idle", False)):
        config = TrainingConfig(
            learning=False, total_steps=0, on_finish=on_finish, checkpoint_dir=str(checkpoint)
        )
        session = TrainingSession(config, small_sac())
        session.build(OBS, ACT)
        assert session.finish_due() is due, on_finish
        if due:
            assert session.finish() == ("evaluate" if on_finish == "evaluate_and_exit" else "exit")
            assert not session.finish_due()  # once
    assert not checkpoint.exists()
    learning = TrainingSession(TrainingConfig(total_steps=0, on_finish="exit"), small_sac())
    learning.build(OBS, ACT)
    assert not learning.finish_due()  # learning with total_steps 0: never


def test_a_callers_counters_go_into_checkpoint_dir_and_come_back_after_a_load(tmp_path):
    """The agent node's transport counters travel as an argument of save and finish, and return as
    checkpoint_counters: the session holds no reference to the caller."""
    config = TrainingConfig(total_steps=2, on_finish="exit", checkpoint_dir=str(tmp_path / "latest"))
    session = TrainingSession(config, small_sac())
    session.build(OBS, ACT)
    obs = np.zeros(OBS, np.float32)
    session.store(obs, np.zeros(ACT), 0.0, obs, False)
    assert session.save(extra_counters={"total_steps_seen": 5, "last_key.worker_0.step": 4})[0]
    saved = load_checkpoint(tmp_path / "latest").counters
    assert saved == {"num_updates": 0, "env_steps": 1, "episodes": 0, "periodic_eval.next_at": 0,
                     "total_steps_seen": 5, "last_key.worker_0.step": 4}  # fmt: skip
    session.store(obs, np.zeros(ACT), 0.0, obs, False)
    assert session.finish({"total_steps_seen": 9}) == "exit"
    assert load_checkpoint(tmp_path / "latest").counters["total_steps_seen"] == 9
    resumed = TrainingSession(dataclasses.replace(config, resume=True), small_sac())
    assert resumed.checkpoint_counters == {}
    resumed.start()
    assert resumed.checkpoint_counters["total_steps_seen"] == 9 and resumed.env_steps == 2
    assert "total_steps_seen" not in resumed.counters()  # the caller's, not the run's


def test_the_periodic_checkpoint_is_due_every_checkpoint_every_steps(tmp_path):
    config = TrainingConfig(checkpoint_every=3, checkpoint_dir=str(tmp_path / "latest"))
    session = TrainingSession(config, small_sac())
    session.build(OBS, ACT)
    obs = np.zeros(OBS, np.float32)
    due = []
    for _ in range(7):
        session.store(obs, np.zeros(ACT), 0.0, obs, False)
        due.append(session.checkpoint_due())
        if due[-1]:
            session.checkpoint()
    assert due == [False, False, True, False, False, True, False]
    assert load_checkpoint(tmp_path / "latest").counters["env_steps"] == 6


def test_reconfigure_moves_the_checkpoint_layout_with_checkpoint_dir(tmp_path):
    session = TrainingSession(TrainingConfig(checkpoint_dir=str(tmp_path / "a" / "latest")), small_sac())
    session.build(OBS, ACT)
    moved = TrainingConfig(checkpoint_dir=str(tmp_path / "b" / "latest"), eval_every=7)
    session.reconfigure(moved)
    assert session.save()[0] and (tmp_path / "b" / "latest").is_dir() and not (tmp_path / "a").exists()
    assert session.checkpoints.best_dir == str(tmp_path / "b" / "best")
    assert session.evaluations.schedule.every == 7 and session.demos.config is moved
