"""Deployment core (sac_grasp_ros.deploy) without ROS: the observation rebuilt from robot state equals the
env's own, the command filter clamps / rate limits / stops, and policies load from checkpoints and exports
to drive a velocity controller (sac_grasp_ros.policy.load_policy, action times max_joint_velocity)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from sac_grasp_ros import deploy
from sac_grasp_ros.envs.grasp_env import GraspEnv
from sac_grasp_ros.envs.scripted import ScriptedGrasper
from sac_grasp_ros.policy import PolicyError, load_policy
from sac_grasp_ros.sac import SAC, SACConfig, save_checkpoint
from sac_grasp_ros.scene.kinematics import quaternion_from_yaw, yaw_from_quaternion


@pytest.mark.parametrize("observation", ["original", "extended"])
def test_observation_rebuilt_from_robot_state_equals_the_envs(observation):
    """Seeded rollouts (scripted grasps with their finger closing and lifts, then random actions) compared
    step by step: the builder sees only what joint_states and target_pose carry."""
    env = GraspEnv(observation=observation, random_target=True, max_episode_steps=60)
    builder = deploy.ObservationBuilder(observation)
    rng = np.random.default_rng(7)
    compared = attempts = 0
    for episode in range(2):
        obs, _ = env.reset(seed=11 + episode)
        grasper = ScriptedGrasper(env)
        for step in range(60):
            fingers = env.finger_joint_state()
            xyz, yaw = env.target_pose()
            rebuilt = builder.build(
                env.joint_positions(), env.joint_velocities(), xyz, yaw, np.array(fingers[0])
            )
            assert rebuilt.dtype == np.float32 and rebuilt.shape == obs.shape
            np.testing.assert_allclose(
                rebuilt, obs, atol=1e-5, rtol=0, err_msg=f"episode {episode} step {step}"
            )
            compared += 1
            action = grasper.act(obs) if episode == 0 else rng.uniform(-1, 1, 7)
            obs, _, terminated, truncated, info = env.step(action)
            attempts += info["grasp_attempt"]
            if terminated or truncated:
                break
    env.close()
    assert compared > 60 and attempts >= 1  # the finger opening changed at least once


def test_observation_builder_refuses_incomplete_state():
    builder = deploy.ObservationBuilder("extended")
    with pytest.raises(ValueError, match="finger"):
        builder.build(np.zeros(7), np.zeros(7), np.zeros(3), 0.0)
    with pytest.raises(ValueError, match="7 joint positions"):
        builder.build(np.zeros(6), np.zeros(7), np.zeros(3), 0.0)
    with pytest.raises(ValueError, match="observation must be one of"):
        deploy.ObservationBuilder("pixels")


def test_quaternion_yaw_round_trip():
    for yaw in np.linspace(-3.1, 3.1, 13):
        assert math.isclose(yaw_from_quaternion(*quaternion_from_yaw(yaw)), yaw, abs_tol=1e-12)


def test_joint_state_reader_reorders_and_rejects():
    reader = deploy.JointStateReader(need_fingers=True)
    names = ["l_finger_joint", *reversed(deploy.JOINT_NAMES), "r_finger_joint", "head_pan"]
    positions = [0.01, *range(6, -1, -1), -0.01, 9.0]
    velocities = [0.0, *[v / 10 for v in range(6, -1, -1)], 0.0, 0.0]
    q, qd, fingers = reader.read(names, positions, velocities)
    np.testing.assert_array_equal(q, np.arange(7.0))
    np.testing.assert_allclose(qd, np.arange(7.0) / 10)
    np.testing.assert_array_equal(fingers, [-0.01, 0.01])  # (r, l)
    with pytest.raises(ValueError, match="lacks"):
        reader.read(list(deploy.JOINT_NAMES), [0.0] * 7, [0.0] * 7)
    with pytest.raises(ValueError, match="velocities"):
        reader.read(names, positions, [])
    with pytest.raises(ValueError, match="NaN"):
        reader.read(names, [math.nan, *positions[1:]], velocities)


def test_filter_clamps_to_the_velocity_limit():
    command_filter = deploy.VelocityCommandFilter(
        max_velocity=[1, 1, 1, 1, 0.5, 0.5, 0.5], max_acceleration=math.inf
    )
    out = command_filter.update(np.array([2.0, -3.0, 0.2, 0.0, 0.7, -0.7, 0.1]), now=0.0)
    np.testing.assert_allclose(out, [1.0, -1.0, 0.2, 0.0, 0.5, -0.5, 0.1])


def test_filter_rate_limit_ramps_with_elapsed_time_and_caps_late_ticks():
    command_filter = deploy.VelocityCommandFilter(max_velocity=1.0, max_acceleration=2.0, max_interval=0.1)
    wanted = np.array([1.0, -1.0, 0.05, 0, 0, 0, 0])
    outputs = [command_filter.update(wanted, now=0.05 * i) for i in range(1, 13)]
    # The first tick has no previous time: it may change by max_interval * 2 = 0.2; later ones by 0.1.
    np.testing.assert_allclose(outputs[0], [0.2, -0.2, 0.05, 0, 0, 0, 0])
    np.testing.assert_allclose(outputs[1], [0.3, -0.3, 0.05, 0, 0, 0, 0])
    np.testing.assert_allclose(outputs[8], [1.0, -1.0, 0.05, 0, 0, 0, 0])
    steps = np.abs(np.diff(np.stack(outputs), axis=0))
    assert steps.max() <= 0.1 + 1e-12
    # A tick 5 s late still moves by at most max_acceleration * max_interval.
    out = command_filter.update(-wanted, now=10.0)
    np.testing.assert_allclose(out, [0.8, -0.8, -0.05, 0, 0, 0, 0])


def test_filter_stops_at_once_on_stale_or_bad_input_and_ramps_up_again():
    command_filter = deploy.VelocityCommandFilter(max_velocity=1.0, max_acceleration=4.0)
    wanted = np.full(7, 0.8)
    for i in range(10):
        command_filter.update(wanted, now=0.05 * i)
    assert np.allclose(command_filter.command, 0.8)
    np.testing.assert_array_equal(command_filter.update(None, now=0.5), np.zeros(7))
    np.testing.assert_array_equal(command_filter.update(np.full(7, math.nan), now=0.55), np.zeros(7))
    np.testing.assert_array_equal(command_filter.update(np.ones(3), now=0.6), np.zeros(7))
    np.testing.assert_allclose(command_filter.update(wanted, now=0.65), np.full(7, 0.2))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"max_velocity": 0.0}, "max_velocity"), ({"max_velocity": math.inf}, "max_velocity"),
     ({"max_acceleration": -1.0}, "max_acceleration"), ({"max_interval": 0.0}, "max_interval")],
)  # fmt: skip
def test_filter_refuses_bad_limits(kwargs, message):
    with pytest.raises(ValueError, match=message):
        deploy.VelocityCommandFilter(**kwargs)


def _tiny_checkpoint(path: Path, obs_dim: int, env_yaml: dict | None) -> SAC:
    sac = SAC(
        obs_dim, 7, SACConfig(hidden_size=16, q_hidden_layers=1, policy_hidden_layers=1, device="cpu", seed=3)
    )
    with torch.no_grad():  # outputs well away from zero, some saturated
        sac.policy.net[-1].bias[:7] = torch.tensor([2.0, -2.0, 0.5, -0.5, 0.3, 0.0, 1.0])
    save_checkpoint(path, sac)
    if env_yaml is not None:
        (path / "env.yaml").write_text(yaml.safe_dump(env_yaml))
    return sac


def test_policy_from_checkpoint_and_from_its_torchscript_export_agree(tmp_path: Path):
    from sac_grasp_ros.export import export_policy

    sac = _tiny_checkpoint(tmp_path / "ckpt", 29, {"observation": "extended", "max_joint_velocity": 0.7})
    from_checkpoint = load_policy(tmp_path / "ckpt", velocity_controller=True)
    assert (from_checkpoint.observation, from_checkpoint.max_joint_velocity) == ("extended", 0.7)
    export_policy(tmp_path / "ckpt", tmp_path / "export")
    from_export = load_policy(tmp_path / "export" / "policy.pt", velocity_controller=True)
    assert (from_export.observation, from_export.max_joint_velocity, from_export.obs_dim) == (
        "extended",
        0.7,
        29,
    )
    observations = np.random.default_rng(0).normal(size=(20, 29)).astype(np.float32)
    expected = sac.act(observations, deterministic=True) * 0.7
    for policy in (from_checkpoint, from_export):
        got = np.stack([policy.act(obs) * policy.max_joint_velocity for obs in observations])  # rad/s
        np.testing.assert_allclose(got, expected, atol=1e-5)
    # Without its manifest the export is still usable: the size is probed, the scale defaults to 1.
    (tmp_path / "export" / "export.json").unlink()
    bare = load_policy(tmp_path / "export" / "policy.pt", velocity_controller=True)
    assert (bare.obs_dim, bare.observation, bare.max_joint_velocity) == (29, "extended", 1.0)


def test_a_policy_never_turns_nan_into_a_command(tmp_path: Path):
    """NaN in (a corrupted observation) or out (damaged weights) raises, so the node commands zero."""
    sac = _tiny_checkpoint(tmp_path / "ckpt", 17, None)
    policy = load_policy(tmp_path / "ckpt")
    obs = np.zeros(17, dtype=np.float32)
    assert np.isfinite(policy.act(obs)).all()
    with pytest.raises(ValueError, match="observation contains NaN"):
        policy.act(np.full(17, np.nan, dtype=np.float32))
    with torch.no_grad():
        sac.policy.net[-1].bias[0] = float("nan")
    save_checkpoint(tmp_path / "damaged", sac)
    with pytest.raises(ValueError, match="policy output contains NaN"):
        load_policy(tmp_path / "damaged").act(obs)


def test_policies_that_cannot_drive_a_velocity_controller_are_refused(tmp_path: Path):
    with pytest.raises(PolicyError, match="does not exist"):
        load_policy(tmp_path / "missing", velocity_controller=True)
    _tiny_checkpoint(tmp_path / "mismatch", 17, {"observation": "extended"})
    with pytest.raises(PolicyError, match="takes 17 observation values"):
        load_policy(tmp_path / "mismatch", velocity_controller=True)
    _tiny_checkpoint(tmp_path / "ik", 17, {"control_mode": "end_position"})
    with pytest.raises(PolicyError, match="joint_velocity"):
        load_policy(tmp_path / "ik", velocity_controller=True)
    (tmp_path / "junk.pt").write_bytes(b"not torchscript")
    with pytest.raises(PolicyError, match="not a TorchScript policy"):
        load_policy(tmp_path / "junk.pt", velocity_controller=True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(PolicyError, match="cannot load policy checkpoint"):
        load_policy(tmp_path / "empty", velocity_controller=True)
