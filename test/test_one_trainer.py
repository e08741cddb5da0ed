"""One trainer, two transports: the ROS graph (`sac-grasp train`, real rclpy processes, one MuJoCo
worker) and the in-process trainer (`sac-grasp train --in-process`) run from the same config file
and seed, and go through the same stages at the same env steps: demo recording and loading, replay
prefill, cloning, critic pretraining, periodic evaluations, the finish and the final evaluation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_learning_recipe import tiny_recipe_config

from sac_grasp_ros.training.cli import parse, run

pytestmark = pytest.mark.ros
pytest.importorskip("rclpy", reason="rclpy (ros-rclpy wheels) is not installed")


def test_graph_and_in_process_training_go_through_the_same_stages(ros_env, tmp_path: Path):
    config = tiny_recipe_config(tmp_path, total_steps=240, eval_every=80, keep_best=True)
    graph_out, in_process_out = tmp_path / "graph", tmp_path / "in_process"
    launched = subprocess.run(
        [sys.executable, "-m", "sac_grasp_ros.cli", "train", "--config", config, "--no-progress",
         "--domain-id", ros_env["ROS_DOMAIN_ID"], "--timeout", "300", "--out", str(graph_out)],
        env=ros_env, capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    logs = "\n".join(p.read_text() for p in sorted((graph_out / "logs").glob("*.log")))
    assert launched.returncode == 0, launched.stderr[-3000:] + logs[-3000:]
    through_graph = json.loads(launched.stdout.strip().splitlines()[-1])
    closing = launched.stderr[launched.stderr.index("Trained SAC through the ROS 2 graph (1 worker)") :]
    grasped = round(through_graph["success_rate"] * through_graph["episodes"])
    assert f"Final evaluation: {grasped} of {through_graph['episodes']} fresh episodes" in closing
    assert f"sac-grasp test --policy {through_graph['checkpoint']}" in closing

    in_process = run(parse(["--config", config, "--out", str(in_process_out), "--no-progress"]))

    expected = ["eval@0", "eval@80", "eval@160", "eval@240", "finish@240", "final_eval best"]
    assert through_graph["stages"][-len(expected) :] == expected, through_graph["stages"]
    assert through_graph["stages"] == in_process["stages"]
    assert [stage.split()[0] for stage in in_process["stages"][:4]] == [
        "demos", "prefill", "bc", "critic_pretrain"
    ]  # fmt: skip
    # The same demonstrations (same config, same seeds), the same budget and update schedule.
    demos = (graph_out / "demos.npz").read_bytes(), (in_process_out / "demos.npz").read_bytes()
    assert demos[0] == demos[1]
    assert through_graph["env_steps"] == in_process["env_steps"] == 240
    assert through_graph["updates"] == in_process["num_updates"] == 141  # one per step from 100 on
    assert through_graph["policy"] == in_process["policy"] == "best"
