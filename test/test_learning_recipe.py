"""The grasp recipe's pieces on the real MuJoCo env and the real learner (small and cheap).

Checks that scripted demonstrations are valid learner input (shapes, dtypes, success flags, terminal
transitions carrying the grasp reward) and that a tiny in-process run of the recipe config writes its
evaluation curve. Whether the recipe reaches the learning target is measured by bench/learning.py.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import yaml

from sac_grasp_ros.envs.config import GraspEnvConfig
from sac_grasp_ros.envs.demos import record_demos, scripted_transitions
from sac_grasp_ros.envs.grasp_env import GraspEnv
from sac_grasp_ros.paths import config_file
from sac_grasp_ros.sac import SAC, SACConfig, load_demos
from sac_grasp_ros.sac.imitation import clone_demos
from sac_grasp_ros.training.cli import parse, run
from sac_grasp_ros.training.reporting import EVAL_COLUMNS


@pytest.fixture
def extended_env():
    env = GraspEnv(GraspEnvConfig(random_target=True, observation="extended", reward="shaped", seed=0))
    yield env
    env.close()


def test_scripted_demos_load_with_the_learner_shapes_and_succeed(extended_env, tmp_path):
    path = tmp_path / "demos.npz"
    stats = record_demos(extended_env, episodes=3, seed=7, path=path)

    demos = load_demos(path, obs_dim=29, act_dim=7, seed=0)
    data = demos.transitions()
    assert len(demos) == stats.transitions > 0
    assert stats.successes == 3
    assert data["obs"].shape == (stats.transitions, 29) and data["obs"].dtype == np.float32
    assert data["actions"].shape == (stats.transitions, 7)
    assert np.all(np.abs(data["actions"]) <= 1.0 + 1e-6)
    # One terminal transition per successful episode, each carrying the +10 grasp reward.
    assert int(data["terminated"].sum()) == 3
    assert np.all(data["rewards"][data["terminated"].astype(bool)] > 5.0)
    # Consecutive transitions chain: next_obs of a non-final step is the following obs.
    first_end = int(np.argmax(data["terminated"]))
    np.testing.assert_array_equal(data["next_obs"][:first_end], data["obs"][1 : first_end + 1])
    batch = demos.sample(4)
    assert batch.obs.shape == (4, 29) and batch.actions.shape == (4, 7)


def test_demos_of_the_extended_observation_are_refused_for_the_original_one(extended_env, tmp_path):
    path = tmp_path / "demos.npz"
    record_demos(extended_env, episodes=1, seed=3, path=path)
    with pytest.raises(ValueError, match=r"29|17|obs"):
        load_demos(path, obs_dim=17, act_dim=7)


def test_scripted_transitions_are_seeded(extended_env):
    first, _ = scripted_transitions(extended_env, episodes=1, seed=11)
    second, _ = scripted_transitions(extended_env, episodes=1, seed=11)
    other, _ = scripted_transitions(extended_env, episodes=1, seed=12)
    np.testing.assert_array_equal(first["obs"], second["obs"])
    assert not np.array_equal(first["obs"][0, 14:17], other["obs"][0, 14:17])  # another block position


def test_cloning_moves_the_deterministic_policy_towards_the_demo_actions(extended_env, tmp_path):
    path = tmp_path / "demos.npz"
    record_demos(extended_env, episodes=2, seed=5, path=path)
    demos = load_demos(path, obs_dim=29, act_dim=7, seed=0)
    data = demos.transitions()
    config = SACConfig(
        hidden_size=64, q_hidden_layers=1, policy_hidden_layers=2, batch_size=64, torch_threads=1, seed=0
    )
    sac = SAC(29, 7, config)

    def error() -> float:
        return float(np.mean((sac.act(data["obs"], deterministic=True) - data["actions"]) ** 2))

    before = error()
    clone_demos(sac, demos, steps=300, batch_size=64, lr=1e-3)
    assert error() < 0.5 * before


def tiny_recipe_config(tmp_path, **agent: object) -> str:
    """config/train_demos.yaml made small: 2 demo episodes, a few cloning steps, 300 env steps."""
    config = yaml.safe_load(config_file("train_demos").read_text())
    config["graph"].update(num_workers=1, demos={"episodes": 2})
    config["sim_node"]["ros__parameters"].update(markers_every=0, joint_states_every=0)
    parameters = config["agent_node"]["ros__parameters"]
    parameters.update(
        total_steps=300, eval_every=200, periodic_eval_episodes=2, eval_episodes=2, keep_best=False,
        prefill_from_demos=-1, bc_steps=5, critic_pretrain_steps=5, bc_per_update=1, checkpoint_every=0,
        progress_every=50,
    )  # fmt: skip
    parameters.update(agent)
    parameters["sac"].update(hidden_size=32, batch_size=32, learning_starts=100, buffer_capacity=5000)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_tiny_recipe_run_writes_its_evaluation_curve(tmp_path):
    out = tmp_path / "run"
    summary = run(parse(["--config", tiny_recipe_config(tmp_path), "--out", str(out), "--no-progress"]))

    with open(out / "eval_curve.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    # An evaluation right after cloning (0 env steps), then every eval_every and at the end.
    assert [int(row["env_steps"]) for row in rows] == [0, 200, 300]
    assert tuple(rows[0]) == EVAL_COLUMNS
    assert all(0.0 <= float(row["eval_success_rate"]) <= 1.0 for row in rows)
    assert int(rows[-1]["updates"]) == summary["num_updates"] == 201  # one per step from step 100 on
    assert (out / "learning_curve.png").stat().st_size > 0
    written = json.loads((out / "result.json").read_text())
    assert written["env_steps"] == 300
    demo_stage = next(stage for stage in written["stages"] if stage.startswith("demos "))
    assert int(demo_stage.split()[1]) > 0  # demo steps are reported, not hidden
