"""Run outputs: atomic writes (old or new file, never half, no leftovers) and the one CSV form of the
episode curve shared by a run's rewards.csv and a checkpoint's curve.csv."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from sac_grasp_ros.atomic import atomic_path, atomic_write
from sac_grasp_ros.curve_csv import CsvLog, curve_csv, read_rows
from sac_grasp_ros.sac import SAC, SACConfig, save_checkpoint
from sac_grasp_ros.training.curve import EpisodeRecord, LearningCurve
from sac_grasp_ros.training.reporting import EVAL_COLUMNS, REWARDS_CSV, EvalCurveWriter, RunReporter


def test_atomic_write_replaces_and_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "result.json"
    atomic_write(target, "old")
    atomic_write(target, b"new")
    assert target.read_text() == "new"
    with pytest.raises(RuntimeError, match="writer died"), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("writer died")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]  # no temporary left behind


def test_atomic_path_keeps_the_suffix_for_writers_that_pick_the_format_from_the_name(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "steps.npy") as temporary:
        assert temporary.parent == tmp_path and temporary.suffix == ".npy" and temporary.name.startswith(".")
        np.save(temporary, np.arange(3.0))
    np.testing.assert_array_equal(np.load(tmp_path / "steps.npy"), np.arange(3.0))
    with pytest.raises(FileNotFoundError), atomic_path(tmp_path / "never.txt"):
        pass  # the writer wrote nothing: an error, not an empty file
    assert not (tmp_path / "never.txt").exists()


def sample_curve() -> LearningCurve:
    curve = LearningCurve()
    for episode, success in enumerate([True, None, False], start=1):
        curve.append(
            EpisodeRecord(episode, 100 * episode, -1.23456789 * episode, 100, success, 0.12345 * episode)
        )
    return curve


def test_rewards_csv_and_checkpoint_curve_csv_are_the_same_table(tmp_path: Path) -> None:
    curve = sample_curve()
    reporter = RunReporter(tmp_path / "run", tensorboard=False)
    for record in curve.records:
        reporter.episode(record, curve)
    reporter.close()
    sac = SAC(3, 2, SACConfig(hidden_size=8, q_hidden_layers=1, policy_hidden_layers=1, device="cpu", seed=0))
    save_checkpoint(tmp_path / "ck", sac, curve=curve.to_arrays())
    rewards = (tmp_path / "run" / REWARDS_CSV).read_bytes()
    assert (tmp_path / "ck" / "curve.csv").read_bytes() == rewards == curve_csv(curve.to_arrays()).encode()
    with open(tmp_path / "run" / REWARDS_CSV, newline="") as file:
        rows = list(csv.DictReader(file))
    assert rows[0] == {
        "episode": "1", "env_steps": "100", "episode_return": "-1.23457", "episode_length": "100",
        "success": "1", "wall_s": "0.123",
    }  # fmt: skip
    assert [row["success"] for row in rows] == ["1", "", "0"]  # no success reported: empty cell
    resumed = RunReporter(tmp_path / "run", tensorboard=False)  # a resumed run appends
    resumed.episode(EpisodeRecord(4, 400, 0.5, 100, True, 1.0), curve)
    assert len((tmp_path / "run" / REWARDS_CSV).read_text().splitlines()) == 5


def test_eval_curve_resumes_with_empty_cells_and_starts_over_on_other_columns(tmp_path: Path) -> None:
    path = tmp_path / "eval_curve.csv"
    first = EvalCurveWriter(path)
    first.append({**dict.fromkeys(EVAL_COLUMNS, 0.5), "env_steps": 0, "train_success_100": None})
    resumed = EvalCurveWriter(path, append=True)
    assert resumed.rows[0]["env_steps"] == 0.0 and math.isnan(resumed.rows[0]["train_success_100"])
    path.write_text("a,b\n1,2\n")
    assert EvalCurveWriter(path, append=True).rows == [] and path.read_text().startswith("env_steps,")
    log = CsvLog(path, ("x",), append=True)
    log.append({"x": "not a number"})
    with pytest.raises(ValueError, match=r"eval_curve\.csv: line 2"):
        read_rows(path, ("x",))
