"""The parts of a training run, each alone in plain Python (real torch, real files): the checkpoint
layout, the demonstration stages, the evaluation tracker and its result, the reporter."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from sac_grasp_ros.sac import SAC, SACConfig, load_checkpoint, save_demos
from sac_grasp_ros.training.checkpointer import Checkpointer
from sac_grasp_ros.training.config import TrainingConfig
from sac_grasp_ros.training.curve import EpisodeRecord, LearningCurve
from sac_grasp_ros.training.demo_stages import DemoStages
from sac_grasp_ros.training.evaluations import EvaluationTracker
from sac_grasp_ros.training.reporting import EVAL_CURVE_CSV, REWARDS_CSV, TrainingReporter, run_reporter

OBS, ACT = 3, 1
LOG = logging.getLogger("test_training_parts")


def small_sac(**overrides) -> SACConfig:
    values = {"hidden_size": 16, "q_hidden_layers": 1, "policy_hidden_layers": 1, "batch_size": 16,
              "buffer_capacity": 500, "device": "cpu", "torch_threads": 1, "seed": 0}  # fmt: skip
    return SACConfig(**{**values, **overrides})


def filled_buffer(sac: SAC, rows: int = 40):
    rng = np.random.default_rng(1)
    buffer = sac.make_buffer(500, seed=0)
    obs = rng.normal(size=(rows, OBS)).astype(np.float32)
    buffer.add_batch(obs, rng.uniform(-1, 1, (rows, ACT)), rng.normal(size=rows), obs, np.zeros(rows, bool))
    return buffer


def curve_of(episodes: int) -> LearningCurve:
    curve = LearningCurve()
    for episode in range(1, episodes + 1):
        curve.append(
            EpisodeRecord(episode, 10 * episode, -float(episode), 10, episode % 2 == 0, 0.5 * episode)
        )
    return curve


def demo_file(tmp_path, count: int = 48) -> str:
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(count, OBS)).astype(np.float32)
    path = tmp_path / "demos.npz"
    save_demos(path, obs, np.clip(obs[:, :1], -1, 1), np.ones(count, np.float32), obs, np.zeros(count, bool))
    return str(path)


# -- Checkpointer ---------------------------------------------------------------------------------
def test_checkpointer_puts_best_and_pretrained_beside_checkpoint_dir_with_env_yaml(tmp_path):
    env_file = tmp_path / "env.yaml"
    env_file.write_text("observation: extended\n")
    checkpoints = Checkpointer(str(tmp_path / "run" / "latest"), str(env_file))
    assert checkpoints.best_dir == str(tmp_path / "run" / "best")
    assert checkpoints.pretrained_dir == str(tmp_path / "run" / "pretrained")
    sac = SAC(OBS, ACT, small_sac())
    ok, where = checkpoints.save(checkpoints.best_dir, sac, None, {"env_steps": 7}, curve_of(2))
    assert ok and where == str((tmp_path / "run" / "best").resolve())
    assert (tmp_path / "run" / "best" / "env.yaml").read_text() == "observation: extended\n"
    assert not (tmp_path / "run" / "best" / "buffer.npz").exists()
    assert load_checkpoint(where).counters == {"num_updates": 0, "env_steps": 7}


def test_checkpointer_restores_buffer_counters_and_curve_and_reads_the_old_twin(tmp_path):
    checkpoints = Checkpointer(str(tmp_path / "latest"))
    assert not checkpoints.has_checkpoint()
    sac = SAC(OBS, ACT, small_sac())
    buffer = filled_buffer(sac)
    assert checkpoints.save(checkpoints.checkpoint_dir, sac, buffer, {"env_steps": 40}, curve_of(3))[0]
    (tmp_path / "latest").rename(tmp_path / ".latest.old")  # a save cut between its two renames
    assert checkpoints.has_checkpoint()
    restored = checkpoints.load(checkpoints.checkpoint_dir, small_sac(), seed=0, dims=(OBS, ACT))
    assert restored.buffer_note == "buffer of 40" and len(restored.buffer) == 40
    np.testing.assert_array_equal(restored.buffer.transitions()["obs"], buffer.transitions()["obs"])
    assert restored.counters["env_steps"] == 40 and restored.curve.records == curve_of(3).records
    assert restored.dims == (OBS, ACT) and restored.config.hidden_size == 16


def test_checkpointer_refuses_other_dims_and_reports_a_failed_save(tmp_path):
    checkpoints = Checkpointer(str(tmp_path / "latest"))
    sac = SAC(OBS, ACT, small_sac())
    assert checkpoints.save(checkpoints.checkpoint_dir, sac, None, {}, LearningCurve())[0]
    with pytest.raises(ValueError, match=r"dims \(3, 1\), the envs \(5, 1\)"):
        checkpoints.load(checkpoints.checkpoint_dir, small_sac(), seed=0, dims=(5, ACT))
    (tmp_path / "file").write_text("")
    ok, message = checkpoints.save(str(tmp_path / "file" / "ck"), sac, None, {}, LearningCurve())
    assert not ok and message.startswith(f"save to {tmp_path / 'file' / 'ck'} failed")


# -- DemoStages -----------------------------------------------------------------------------------
def test_demo_stages_prefill_clone_and_pretrain_in_order_and_say_so(tmp_path):
    config = TrainingConfig(demo_file=demo_file(tmp_path), prefill_from_demos=20, bc_steps=2,
                            critic_pretrain_steps=2, bc_per_update=1)  # fmt: skip
    demos = DemoStages(config, LOG)
    sac = SAC(OBS, ACT, small_sac())
    demos.load(OBS, ACT, sac.config)
    demos.attach(sac)
    buffer = sac.make_buffer(500, seed=0)
    before = {name: value.clone() for name, value in sac.policy.state_dict().items()}
    assert demos.learn_from(sac, buffer) == ["prefill 20", "bc 2", "critic_pretrain 2"]
    assert len(buffer) == 20 and demos.shape_the_policy
    assert any(not value.equal(before[name]) for name, value in sac.policy.state_dict().items())
    assert demos.after_updates(sac, 3) is not None  # the per-update anchor clones after SAC updates


def test_demo_stages_without_policy_stages_or_anchor_leave_the_policy_alone(tmp_path):
    config = TrainingConfig(demo_file=demo_file(tmp_path), prefill_from_demos=-1)
    demos = DemoStages(config, LOG)
    sac = SAC(OBS, ACT, small_sac())
    demos.load(OBS, ACT, sac.config)
    assert demos.learn_from(sac, sac.make_buffer(500, seed=0)) == ["prefill 48"]
    assert not demos.shape_the_policy and demos.after_updates(sac, 3) is None
    with pytest.raises(ValueError):
        DemoStages(config, LOG).load(OBS + 1, ACT, sac.config)  # demos of another layout are refused


# -- EvaluationTracker ----------------------------------------------------------------------------
def test_tracker_ranks_evaluations_and_keeps_the_schedule_across_a_restore():
    tracker = EvaluationTracker(every=100)
    assert tracker.due(0) and not tracker.has_best
    assert tracker.record(0, {"success_rate": 0.5, "mean_return": -3.0}).best_so_far
    assert not tracker.due(99) and tracker.due(100)
    assert tracker.record(100, {"success_rate": None, "mean_return": 9.0}) == (0.0, 9.0, False)
    tracker.failed(205)
    restored = EvaluationTracker(every=100)
    restored.restore(tracker.counters())
    assert not restored.due(299) and restored.due(300) and restored.has_best
    assert not restored.record(300, {"success_rate": 0.5, "mean_return": -3.0}).best_so_far  # a tie


def test_tracker_result_names_the_selected_policy_and_is_written_atomically(tmp_path):
    tracker = EvaluationTracker(every=100)
    tracker.record(0, {"success_rate": 0.25, "mean_return": -3.0})
    tracker.record(100, {"success_rate": 0.75, "mean_return": -5.0})
    tracker.select_best(str(tmp_path / "best"), selection_episodes=4)
    result_file = tmp_path / "new" / "result.json"
    summary = {"episodes": 2, "success_rate": 1.0, "mean_return": -1.0}
    code, result = tracker.result(
        True, json.dumps(summary), {"env_steps": 200, "stages": ["x"]}, str(result_file)
    )
    assert code == 0 and list(result) == ["episodes", "success_rate", "mean_return", "policy",
        "selected_at_env_steps", "selection_success_rate", "selection_episodes", "checkpoint",
        "env_steps", "stages"]  # fmt: skip
    assert result["policy"] == "best" and result["selected_at_env_steps"] == 100
    assert result["checkpoint"] == str((tmp_path / "best").resolve())
    assert json.loads(result_file.read_text()) == result
    assert tracker.result(False, "timed out", {}) == (1, {"error": "timed out"})


# -- TrainingReporter -----------------------------------------------------------------------------
def test_reporter_writes_nothing_before_open_then_episodes_and_evaluations(tmp_path):
    reporter = TrainingReporter(tmp_path / "report", "unit", seed=4)
    curve = curve_of(2)
    reporter.episode(curve.records[0], curve, plot_every=1)
    assert not (tmp_path / "report").exists()
    reporter.open(resumed=False)
    for record in curve.records:
        reporter.episode(record, curve, plot_every=1)
    reporter.evaluation(20, 0.5, -1.23456, updates=10, wall_s=3.14159, train_success=0.5)
    reporter.close(curve)
    assert (tmp_path / "report" / REWARDS_CSV).read_text().count("\n") == 3  # header and two episodes
    rows = (tmp_path / "report" / EVAL_CURVE_CSV).read_text().splitlines()
    assert rows[1] == "20,3.140,10,0.5,-1.235,0.5"  # wall_s rounded to 0.01 s, printed to 1 ms
    assert (tmp_path / "report" / "learning_curve.png").is_file()
    assert (tmp_path / "report" / "eval_curve.png").is_file()
    resumed = TrainingReporter(tmp_path / "report", "unit", seed=4)
    resumed.open(resumed=True)
    resumed.evaluation(40, 1.0, 0.0, updates=30, wall_s=6.0, train_success=1.0)
    resumed.close(LearningCurve())
    assert len((tmp_path / "report" / EVAL_CURVE_CSV).read_text().splitlines()) == 3  # the curve goes on


def test_run_reporter_only_for_a_report_dir(tmp_path):
    assert run_reporter(TrainingConfig(), "unit") is None
    reporter = run_reporter(TrainingConfig(report_dir=str(tmp_path), seed=2), "unit")
    assert reporter is not None and reporter.title == "unit, seed 2"
