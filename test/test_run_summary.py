"""The closing lines of a training run say what was trained, how well, where and what next."""

from __future__ import annotations

from pathlib import Path

from sac_grasp_ros.run_summary import training_summary

RESULT = {
    "episodes": 50, "success_rate": 0.98, "mean_length": 29.6, "policy": "best",
    "selected_at_env_steps": 0, "selection_success_rate": 1.0, "selection_episodes": 30,
    "checkpoint": "run/checkpoints/best", "env_steps": 1000, "updates": 1001,
    "stages": ["demos 5759", "prefill 2000", "bc 6000", "critic_pretrain 500", "eval@0", "final_eval best"],
}  # fmt: skip


def test_the_summary_names_the_budget_the_result_the_outputs_and_the_next_commands(tmp_path: Path) -> None:
    (tmp_path / "learning_curve.png").write_bytes(b"")
    (tmp_path / "logs").mkdir()
    lines = training_summary(RESULT, tmp_path, workers=2, wall_s=97.4, bin_prefix=".venv/bin/").splitlines()

    assert lines[0] == (
        "Trained SAC through the ROS 2 graph (2 workers): 1,000 env steps, after 5,759 demonstration "
        "transitions, 6,000 behaviour-cloning steps, 1,001 SAC updates. 97 s from launch to result."
    )
    assert lines[1].startswith("Final evaluation: 49 of 50 fresh episodes grasped (98%), 29.6 steps")
    assert "the cloned policy, before any SAC update" in lines[1]  # honest about what was selected
    assert lines[2] == f"Outputs in {tmp_path}/: learning_curve.png, logs/"  # only what exists
    assert lines[4].startswith("  .venv/bin/sac-grasp test --policy run/checkpoints/best --eval-episodes 100")


def test_a_policy_selected_after_learning_or_the_last_one_is_named_as_such(tmp_path: Path) -> None:
    later = {**RESULT, "selected_at_env_steps": 500}
    assert "at 500 env steps)" in training_summary(later, tmp_path, 2, 1.0)
    last = {**RESULT, "policy": "last", "checkpoint": None, "stages": []}
    text = training_summary(last, tmp_path, 1, 1.0)
    assert "policy: the last policy." in text and "behaviour-cloning" not in text
    assert f"--policy {tmp_path}/checkpoints/latest" in text
