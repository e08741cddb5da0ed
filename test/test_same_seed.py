"""The same seed gives the same run in-process: the main job's recipe (config/train_quick.yaml, made
small) trained twice with one seed writes the same episodes, the same evaluations and the same
weights; another seed does not. Only wall-clock columns may differ."""

from __future__ import annotations

import csv
from pathlib import Path

import torch
import yaml

from sac_grasp_ros.paths import config_file
from sac_grasp_ros.sac.checkpoint import load_checkpoint
from sac_grasp_ros.training.cli import CHECKPOINT_DIR, parse, run
from sac_grasp_ros.training.curve import CURVE_COLUMNS
from sac_grasp_ros.training.reporting import EVAL_COLUMNS

WALL_CLOCK = {"wall_s"}
"""columns that measure time, not learning"""


def small_main_job(tmp_path: Path) -> str:
    """The main job's config with every stage kept (demos, prefill, cloning, critic pretraining,
    periodic evaluations, keep_best, the final evaluation) and each made short."""
    config = yaml.safe_load(config_file("train_quick").read_text())
    config["graph"]["demos"] = {"episodes": 4}
    config["sim_node"]["ros__parameters"].update(markers_every=0, joint_states_every=0)
    config["agent_node"]["ros__parameters"].update(
        total_steps=240, eval_every=120, periodic_eval_episodes=2, eval_episodes=3,
        prefill_from_demos=100, bc_steps=20, critic_pretrain_steps=10, checkpoint_every=0,
    )  # fmt: skip
    config["agent_node"]["ros__parameters"]["sac"].update(hidden_size=32, batch_size=32)
    path = tmp_path / "small_main_job.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def train(config: str, out: Path, seed: int) -> dict:
    return run(parse(["--config", config, "--out", str(out), "--seed", str(seed), "--no-progress"]))


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as file:
        return [{k: v for k, v in row.items() if k not in WALL_CLOCK} for row in csv.DictReader(file)]


def weights(out: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(out / CHECKPOINT_DIR, device="cpu").sac.policy.state_dict()


def test_the_same_seed_gives_the_same_training_run(tmp_path: Path) -> None:
    assert set(EVAL_COLUMNS) & set(CURVE_COLUMNS) >= WALL_CLOCK  # what is left out exists
    config = small_main_job(tmp_path)
    first, again, other = tmp_path / "first", tmp_path / "again", tmp_path / "other"
    results = [train(config, first, 3), train(config, again, 3), train(config, other, 4)]

    without_time = [{k: v for k, v in r.items() if k not in {"wall_s", "out"}} for r in results]
    assert without_time[0] == without_time[1]
    assert rows(first / "rewards.csv") == rows(again / "rewards.csv")
    assert rows(first / "eval_curve.csv") == rows(again / "eval_curve.csv")
    assert (first / "demos.npz").read_bytes() == (again / "demos.npz").read_bytes()
    same, changed = weights(first), weights(again)
    assert same.keys() == changed.keys()
    for name in same:
        torch.testing.assert_close(same[name], changed[name], rtol=0, atol=0, msg=name)

    assert rows(first / "rewards.csv") != rows(other / "rewards.csv")
    different = weights(other)
    assert not all(torch.equal(same[name], different[name]) for name in same)
