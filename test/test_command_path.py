"""The velocity scale is applied once, where a command reaches the scene: an action in [-1, 1] gives the
scene the same joint-velocity command in-process (`GraspEnv.step`) and through the graph (the agent's
conversion to rad/s with the `command_scale` the graph spec sets, then the simulator's
`GraspEnv.step_command` with the topic's command as received). Plain Python, real MuJoCo."""

from __future__ import annotations

import numpy as np
import pytest

from sac_grasp_ros import paths
from sac_grasp_ros.envs.config import GraspEnvConfig
from sac_grasp_ros.envs.grasp_env import GraspEnv
from sac_grasp_ros.graph.spec import build_node_specs, load_config
from sac_grasp_ros.graph.workers import WorkerPoolSettings

SCALE = 0.7  # rad/s at action 1: not 1, so a missing or doubled scale shows


@pytest.fixture
def envs():
    config = GraspEnvConfig(max_joint_velocity=SCALE, random_target=True, seed=3)
    in_process, worker = GraspEnv(config), GraspEnv(config)
    yield in_process, worker
    in_process.close()
    worker.close()


def graph_settings() -> WorkerPoolSettings:
    """The agent's settings as the graph spec builds them from a config with this velocity limit."""
    config = load_config(paths.config_file("train"))
    config["sim_node"]["ros__parameters"]["max_joint_velocity"] = SCALE
    agent = build_node_specs(config, "train", {"num_workers": 1})[-1]
    return WorkerPoolSettings(command_scale=agent.parameters["command_scale"])


def test_the_graph_and_the_in_process_env_give_the_scene_the_same_command(envs) -> None:
    in_process, worker = envs
    settings = graph_settings()
    obs_a, _ = in_process.reset(seed=3)
    obs_b, _ = worker.reset(seed=3)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1.0, 1.0, size=(12, 7)).astype(np.float32)
    actions[3] = 1.0  # saturated, both ways
    actions[4] = -1.0
    for action in actions:
        obs_a, reward_a, *_ = in_process.step(action)
        command = settings.command(action)  # what the agent publishes, rad/s
        obs_b, reward_b, *_ = worker.step_command(command)
        np.testing.assert_array_equal(worker.scene.arm_controls(), in_process.scene.arm_controls())
        np.testing.assert_allclose(in_process.scene.arm_controls(), action * SCALE, rtol=1e-6)
        np.testing.assert_array_equal(obs_b, obs_a)
        assert reward_b == reward_a
        # The step message reports the action the agent chose, in policy units.
        np.testing.assert_allclose(worker.applied_action(), action, atol=1e-6)
        np.testing.assert_allclose(in_process.applied_action(), action, atol=1e-6)


def test_a_command_beyond_the_velocity_limit_is_clamped_and_reported_clipped(envs) -> None:
    in_process, worker = envs
    in_process.reset(seed=4)
    worker.reset(seed=4)
    limit = np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 0.5], dtype=np.float32)
    obs_a, *_ = in_process.step(limit)
    beyond = np.where(np.abs(limit) == 1.0, 5.0, 1.0)  # five times the limit on all but the last
    obs_b, *_ = worker.step_command(limit * beyond * SCALE)
    np.testing.assert_allclose(obs_b, obs_a, atol=1e-6)  # the scene moved at the limit, no faster
    np.testing.assert_allclose(worker.applied_action(), limit, atol=1e-6)
    with pytest.raises(ValueError, match="NaN or inf"):
        worker.step_command(np.full(7, np.nan))
    with pytest.raises(ValueError, match="shape"):
        worker.step_command(np.zeros(6))
