"""`sac-grasp robustness`: the shipped policy and the scripted controller under each condition of a
matrix, on the same seeded placements, written as JSON and a picture."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from sac_grasp_ros import cli, paths, robustness
from sac_grasp_ros.envs.randomization import DomainRandomization
from sac_grasp_ros.paths import SHIPPED_POLICY

SHIPPED = paths.models_dir() / SHIPPED_POLICY
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, list[dict], str]:
    code = cli.main(["robustness", *args])
    captured = capsys.readouterr()
    return code, [json.loads(line) for line in captured.out.strip().splitlines() if line], captured.err


def test_a_small_matrix_rates_the_policy_and_the_scripted_controller_on_the_same_episodes(
    tmp_path: Path, capsys
) -> None:
    conditions = tmp_path / "conditions.yaml"
    conditions.write_text(
        yaml.safe_dump(
            {"nominal": {}, "slow and late": {"latency_steps": [20, 20], "servo_gain_scale": [0.75, 0.75]}}
        )
    )
    out = tmp_path / "matrix"
    code, lines, err = _run(
        capsys, "--policy", str(SHIPPED), "--grid", "2", "2", "--yaws", "2", "--random", "2",
        "--conditions", str(conditions), "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads((out / robustness.JSON_FILE).read_text())
    assert (out / robustness.PNG_FILE).read_bytes()[:8] == PNG_MAGIC
    assert [line["condition"] for line in lines[:-1]] == ["nominal", "slow and late"]
    assert summary["placements"]["episodes_per_condition"] == 2 * 2 * 2 + 2
    for row in summary["conditions"]:
        for role in ("policy", "scripted"):
            stats = row[role]
            assert stats["episodes"] == 10 and 0.0 <= stats["success_rate"] <= 1.0
            assert stats["boundary_success_rate"] is not None  # a 2 x 2 grid is all corners
    nominal, late = summary["conditions"]
    assert nominal["scripted"]["success_rate"] == 1.0  # the reference grasps every placement
    assert late["randomization"] == {"latency_steps": [20, 20], "servo_gain_scale": [0.75, 0.75]}
    # The delayed, softer arm takes longer to reach the block: the condition was applied.
    assert late["scripted"]["mean_steps_to_grasp"] > nominal["scripted"]["mean_steps_to_grasp"]


def test_the_built_in_matrix_has_both_ends_of_every_range_and_all_of_them_together() -> None:
    nominal = DomainRandomization()
    for f in dataclasses.fields(DomainRandomization):
        changed = [
            name
            for name, ranges in robustness.CONDITIONS.items()
            if getattr(DomainRandomization.from_dict(ranges), f.name) != getattr(nominal, f.name)
            and name != "all together"
        ]
        assert changed, f"no condition of the matrix changes {f.name}"
    together = DomainRandomization.from_dict(robustness.CONDITIONS["all together"])
    assert all(getattr(together, f.name) != getattr(nominal, f.name) for f in dataclasses.fields(nominal))
    training = yaml.safe_load(paths.config_file("train_randomized").read_text())
    assert training["sim_node"]["ros__parameters"]["randomization"] == robustness.ALL_TOGETHER


def test_a_bad_condition_file_is_refused_with_the_condition_named(tmp_path: Path, capsys) -> None:
    conditions = tmp_path / "bad.yaml"
    conditions.write_text(yaml.safe_dump({"nominal": {}, "too late": {"latency_steps": [0, 900]}}))
    code, _, err = _run(
        capsys, "--policy", "scripted", "--conditions", str(conditions), "--out", str(tmp_path)
    )
    assert code == 2 and "condition 'too late'" in err and "<= 250" in err
    assert not (tmp_path / robustness.JSON_FILE).exists()
    code, _, err = _run(capsys, "--policy", str(tmp_path / "missing"), "--out", str(tmp_path))
    assert code == 2 and "does not exist" in err


def test_the_randomized_model_carries_its_ranges_and_evaluate_measures_it_on_the_nominal_scene() -> None:
    from sac_grasp_ros.envs.config import GraspEnvConfig, read_env_config
    from sac_grasp_ros.evaluate import GridSpec, grid_evaluation

    model = paths.models_dir() / "sawyer_grasp_sac_randomized"
    trained = read_env_config(None, model)
    assert trained.randomization == DomainRandomization.from_dict(robustness.ALL_TOGETHER)
    nominal = grid_evaluation(model, grid=GridSpec(1, 1, 1, 0))
    assert nominal["env"]["randomization"] == GraspEnvConfig().to_dict()["randomization"]
    randomized = grid_evaluation(
        model, grid=GridSpec(1, 1, 1, 0), env_overrides={"randomization": {"latency_steps": [5, 5]}}
    )
    assert randomized["env"]["randomization"]["latency_steps"] == [5, 5]
