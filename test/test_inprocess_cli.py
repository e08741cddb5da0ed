"""`sac-grasp train --in-process` end to end in a subprocess: summary line, output files, resume, errors."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sac_grasp_ros.paths import config_file
from sac_grasp_ros.sac import SACConfig
from sac_grasp_ros.training.cli import InProcessTraining, parse

SUMMARY_KEYS = {
    "episodes",
    "mean_return",
    "success_rate",
    "env_steps",
    "wall_s",
    "eval_mean_return",
    "eval_success_rate",
    "eval_episodes",
    "num_updates",
    "seed",
    "env",
    "out",
}
SMALL_RUN = [
    "--env",
    "Pendulum-v1",
    "--seed",
    "0",
    "--sac.hidden-size",
    "32",
    "--sac.q-hidden-layers",
    "1",
    "--sac.policy-hidden-layers",
    "1",
    "--sac.learning-starts",
    "200",
    "--eval-episodes",
    "2",
    "--no-progress",
    "--sac.torch-threads",
    "1",
]


def sac_grasp(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / "mpl")}
    return subprocess.run(
        [sys.executable, "-m", "sac_grasp_ros.cli", "train", "--in-process", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )


def summary_of(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, f"stdout must be one JSON line, got: {result.stdout!r}"
    return json.loads(lines[0])


def test_train_resume_and_outputs(tmp_path) -> None:
    out = tmp_path / "run"
    first = summary_of(
        sac_grasp(
            [*SMALL_RUN, "--total-steps", "600", "--out", str(out), "--checkpoint-every", "400"], tmp_path
        )
    )
    assert set(first) >= SUMMARY_KEYS
    assert first["env_steps"] == 600 and first["episodes"] == 3  # Pendulum truncates at 200 steps
    assert first["num_updates"] == 401  # one per env step from step 200 on
    assert first["success_rate"] is None and first["eval_success_rate"] is None  # Pendulum reports none
    assert first["eval_episodes"] == 2 and isinstance(first["eval_mean_return"], float)
    assert (out / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any((out / "tensorboard").glob("events.out.tfevents.*"))
    with open(out / "rewards.csv") as file:
        rows = list(csv.DictReader(file))
    assert [int(row["env_steps"]) for row in rows] == [200, 400, 600]
    assert (out / "checkpoint" / "learner.pt").exists() and (out / "checkpoint" / "buffer.npz").exists()

    second = summary_of(
        sac_grasp(
            ["--resume", "--out", str(out), "--total-steps", "800", "--no-progress", "--eval-episodes", "1"],
            tmp_path,
        )
    )
    assert second["env_steps"] == 800 and second["episodes"] == 4 and second["num_updates"] == 601
    assert second["out"] == str(out)
    with open(out / "rewards.csv") as file:
        assert [int(row["episode"]) for row in csv.DictReader(file)] == [1, 2, 3, 4]


def test_errors_are_reported_without_a_traceback(tmp_path) -> None:
    result = sac_grasp([*SMALL_RUN, "--env", "NoSuchEnv-v9", "--total-steps", "10"], tmp_path)
    assert result.returncode == 2 and "cannot make env 'NoSuchEnv-v9'" in result.stderr
    assert "Traceback" not in result.stderr
    (tmp_path / "demo.npz").write_bytes(b"not a zip")
    result = sac_grasp(
        [*SMALL_RUN, "--total-steps", "10", "--demo-file", str(tmp_path / "demo.npz")], tmp_path
    )
    assert result.returncode == 2 and "demo.npz: not a readable demonstration" in result.stderr
    result = sac_grasp(
        [*SMALL_RUN, "--total-steps", "10", "--resume", "--out", str(tmp_path / "nothing")], tmp_path
    )
    assert result.returncode == 2 and "no checkpoint directory" in result.stderr


def test_cli_is_generated_from_the_config_dataclasses(capsys) -> None:
    defaults = parse([])
    assert defaults == InProcessTraining()
    for cls, parsed in ((SACConfig, defaults.sac),):
        for name, value in vars(cls()).items():
            assert getattr(parsed, name) == value, name
    with pytest.raises(SystemExit):
        parse(["--help"])
    help_text = capsys.readouterr().out
    assert "--sac.policy-hidden-layers" in help_text and "number of hidden layers of the policy" in help_text
    assert "--total-steps" in help_text and "--eval-every" in help_text  # the trainer's own names
    parsed = parse(
        ["--sac.tau", "0.5", "--sac.no-autotune-alpha", "--sac.target-entropy", "None", "--seed", "3"]
    )
    assert (parsed.sac.tau, parsed.sac.autotune_alpha, parsed.sac.target_entropy, parsed.trainer.seed) == (
        0.5,
        False,
        None,
        3,
    )
    with pytest.raises(SystemExit):
        parse(["--sac.batch-size", "many"])


def test_a_graph_config_gives_the_in_process_defaults() -> None:
    parsed = parse(["--config", str(config_file("train_demos")), "--total-steps", "123"])
    assert parsed.env == "sac_grasp_ros/SawyerGrasp-v0" and parsed.sim.observation == "symmetric"
    assert parsed.sim.target_yaw_range == 45.0
    assert parsed.trainer.total_steps == 123 and parsed.trainer.bc_steps == 10000  # flag over file
    assert parsed.sac.q_layer_norm and parsed.sac.hidden_size == 256
