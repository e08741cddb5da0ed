"""Periodic evaluation bookkeeping of the agent (schedule, best-policy selection, checkpoint state)
and the evaluation-curve CSV a resumed run appends to. Plain Python: no ROS, no physics."""

from __future__ import annotations

import math
from pathlib import Path

from sac_grasp_ros.training.reporting import EVAL_COLUMNS, EvalCurveWriter
from sac_grasp_ros.training.schedule import PeriodicEvaluation


def test_schedule_starts_at_zero_and_follows_multiples_of_every():
    periodic = PeriodicEvaluation(every=1000)
    assert periodic.due(0)
    periodic.record(0, 0.5, -10.0)
    assert not periodic.due(999) and periodic.due(1000)
    periodic.record(1003, 0.5, -10.0)  # four workers overshoot the multiple: the next one stays at 2000
    assert not periodic.due(1999) and periodic.due(2000)
    periodic.skip(2001)  # a failed evaluation is retried at the next multiple, not in a loop
    assert not periodic.due(2999) and periodic.due(3000)


def test_off_when_every_is_zero():
    periodic = PeriodicEvaluation(every=0)
    assert not periodic.due(0) and not periodic.due(10**9)


def test_best_is_higher_success_then_higher_return_and_a_tie_keeps_the_earlier():
    periodic = PeriodicEvaluation(every=100)
    assert periodic.record(0, 0.80, -20.0)
    assert not periodic.record(100, 0.70, 5.0)  # more return does not beat more successes
    assert periodic.record(200, 0.80, -15.0)  # same successes, more return: better
    assert not periodic.record(300, 0.80, -15.0)  # exact tie: the earlier policy stays
    assert periodic.record(400, 0.95, -30.0)
    assert (periodic.best_env_steps, periodic.best_success_rate, periodic.best_mean_return) == (
        400,
        0.95,
        -30.0,
    )


def test_checkpoint_counters_are_finite_and_restore_the_state():
    fresh = PeriodicEvaluation(every=500)
    assert all(math.isfinite(v) for v in fresh.counters().values())  # checkpoints refuse non-finite counters
    fresh.record(0, 0.9, -3.0)
    fresh.record(500, 0.95, -4.0)
    resumed = PeriodicEvaluation(every=500)
    resumed.restore(fresh.counters())
    assert resumed.counters() == fresh.counters()
    assert not resumed.due(999) and resumed.due(1000)
    assert not resumed.record(1000, 0.9, 0.0)  # the best from before the restart still counts


def test_eval_curve_writer_appends_when_resuming_and_starts_over_otherwise(tmp_path: Path):
    path = tmp_path / "eval_curve.csv"
    row = dict.fromkeys(EVAL_COLUMNS, 1.0)
    first = EvalCurveWriter(path)
    first.append({**row, "env_steps": 0})
    first.append({**row, "env_steps": 1000})
    resumed = EvalCurveWriter(path, append=True)
    assert [r["env_steps"] for r in resumed.rows] == [0.0, 1000.0]
    resumed.append({**row, "env_steps": 2000})
    assert len(path.read_text().splitlines()) == 4  # header + 3 rows
    restarted = EvalCurveWriter(path)
    assert restarted.rows == [] and len(path.read_text().splitlines()) == 1
