"""`sac-grasp evaluate`: grid and random placements in-process, a JSON summary and a heatmap, for the
scripted grasper, a checkpoint directory and its exported TorchScript policy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sac_grasp_ros import cli, paths
from sac_grasp_ros import evaluate as grid_eval
from sac_grasp_ros.export import export_policy
from sac_grasp_ros.paths import SHIPPED_POLICY
from sac_grasp_ros.training.gym_loop import evaluate

SHIPPED = paths.models_dir() / SHIPPED_POLICY
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, dict | None, str]:
    code = cli.main(["evaluate", *args])
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    return code, (json.loads(lines[-1]) if lines else None), captured.err


def test_scripted_on_a_small_grid_writes_cells_rates_and_the_heatmap(tmp_path: Path, capsys) -> None:
    out = tmp_path / "scripted"
    code, printed, err = _run(
        capsys, "--policy", "scripted", "--grid", "2", "3", "--yaw-bins", "2", "--random", "3",
        "--yaw-range", "45", "--seed", "4", "--out", str(out),
        "--env-config", str(paths.config_file("train_quick")),
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads((out / grid_eval.JSON_FILE).read_text())
    assert (out / grid_eval.PNG_FILE).read_bytes()[:8] == PNG_MAGIC
    assert printed["success_rate"] == summary["success_rate"] and printed["out"] == str(out)
    axes = summary["axes"]
    # The grid spans the whole random_target box, and yaw bin centres over [-45, 45].
    assert (axes["x"][0], axes["x"][-1], axes["y"][0], axes["y"][-1]) == pytest.approx(
        (0.45, 0.80, -0.30, 0.30)
    )
    assert axes["yaw_deg"] == pytest.approx([-22.5, 22.5]) and len(axes["y"]) == 3
    cells = summary["cells"]
    assert len(cells) == 2 * 3 * 2 == summary["grid"]["episodes"]
    assert {(c["x"], c["y"], c["yaw_deg"]) for c in cells} == {
        (x, y, yaw) for x in axes["x"] for y in axes["y"] for yaw in axes["yaw_deg"]
    }
    assert len(summary["random_episodes"]) == 3 == summary["random"]["episodes"]
    for part in (summary, summary["grid"], summary["random"], *summary["per_yaw_bin"]):
        assert 0.0 <= part["success_rate"] <= 1.0
    assert summary["episodes"] == 15 and summary["env"]["target_yaw_range"] == 45.0
    # The simulator settings of the given config (the sim_node block), the yaw range overridden.
    assert (summary["env"]["observation"], summary["env"]["reward"]) == ("extended", "shaped")
    # The scripted grasper grasps every placement (measured: 175 of 175 on the 5x5x3 grid + 100 random).
    assert summary["success_rate"] == 1.0
    steps = [c["steps"] for c in cells] + [e["steps"] for e in summary["random_episodes"]]
    assert summary["mean_steps_to_grasp"] == pytest.approx(np.mean(steps))
    assert all(10 < s < 60 for s in steps)


def test_shipped_policy_checkpoint_and_its_export_give_the_same_grid(tmp_path: Path, capsys) -> None:
    """A 2x2 grid (the workspace corners) with yaw 0 and two random placements: the checkpoint
    directory and the TorchScript file exported from it act alike, episode by episode."""
    common = ("--grid", "2", "2", "--random", "2", "--yaw-range", "0")
    code, _, err = _run(capsys, "--policy", str(SHIPPED), *common, "--out", str(tmp_path / "ckpt"))
    assert code == 0, err
    export_policy(SHIPPED, tmp_path / "export")
    policy_pt = tmp_path / "export" / "policy.pt"
    code, _, err = _run(capsys, "--policy", str(policy_pt), *common, "--out", str(tmp_path / "pt"))
    assert code == 0, err
    from_checkpoint = json.loads((tmp_path / "ckpt" / grid_eval.JSON_FILE).read_text())
    from_export = json.loads((tmp_path / "pt" / grid_eval.JSON_FILE).read_text())
    assert from_export["env"] == from_checkpoint["env"]  # the export's manifest leads to its env.yaml
    assert from_checkpoint["env"]["observation"] == "symmetric"
    assert len(from_checkpoint["cells"]) == 4 and from_checkpoint["axes"]["yaw_deg"] == [0.0]
    # Measured on the 5x5 grid at yaw 0: 22 of 25, the misses at x = 0.45, y = -0.15, 0.15, 0.30 (of
    # these corners, 3 of 4: x = 0.45, y = 0.30 is missed).
    assert from_checkpoint["grid"]["success_rate"] >= 0.5
    assert [c["success"] for c in from_export["cells"]] == [c["success"] for c in from_checkpoint["cells"]]
    for ours, theirs in zip(from_checkpoint["cells"], from_export["cells"], strict=True):
        assert abs(ours["steps"] - theirs["steps"]) <= 1  # float32 TorchScript vs torch: same path
    assert (tmp_path / "pt" / grid_eval.PNG_FILE).is_file()


def test_bad_policy_and_grid_are_refused_with_a_reason(tmp_path: Path, capsys) -> None:
    code, _, err = _run(capsys, "--policy", str(tmp_path / "nothing"), "--out", str(tmp_path / "a"))
    assert code == 2 and "does not exist" in err
    code, _, err = _run(capsys, "--policy", "scripted", "--grid", "0", "2", "--out", str(tmp_path / "b"))
    assert code == 2 and "nx must be >= 1" in err
    code, _, err = _run(capsys, "--policy", "scripted", "--yaw-range", "60", "--out", str(tmp_path / "c"))
    assert code == 2 and "target_yaw_range" in err
    assert not (tmp_path / "a").exists() and not (tmp_path / "c" / grid_eval.JSON_FILE).exists()


def test_evaluate_needs_one_reset_option_per_episode() -> None:
    with pytest.raises(ValueError, match="as many reset options"):
        evaluate(None, None, 3, 0, options=[{}])
