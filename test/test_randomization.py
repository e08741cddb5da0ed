"""Domain randomization: every range is drawn per episode from the env's seeded stream, applied to the
physics (block, servos, latency, start posture) and to what the observation reports (block pose,
joints), and refused with a reason when it cannot be simulated."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sac_grasp_ros.envs import observation as layout
from sac_grasp_ros.envs.config import GraspEnvConfig
from sac_grasp_ros.envs.grasp_env import START_POSTURE_MARGIN, GraspEnv
from sac_grasp_ros.envs.randomization import CommandDelay, DomainRandomization
from sac_grasp_ros.robustness import ALL_TOGETHER
from sac_grasp_ros.scene.base import HOME_POSTURE
from sac_grasp_ros.scene.mujoco_model import NAMES
from sac_grasp_ros.scene.mujoco_scene import MujocoGraspScene

TASK = {"random_target": True, "target_yaw_range": 45.0, "observation": "symmetric", "reward": "shaped"}


def _env(**randomization) -> GraspEnv:
    return GraspEnv(**TASK, randomization=randomization)


def _rollout(env: GraspEnv, seed: int, steps: int = 15) -> np.ndarray:
    """Observations under a fixed open-loop action sequence (seeded)."""
    actions = np.random.default_rng(seed).uniform(-1, 1, (steps, 7)).astype(np.float32)
    observations = [env.reset(seed=seed)[0]]
    for action in actions:
        observations.append(env.step(action)[0])
    return np.array(observations)


def test_off_by_default_and_the_off_env_is_unchanged() -> None:
    assert not DomainRandomization().active and not GraspEnvConfig().randomization.active
    plain, explicit_off = GraspEnv(**TASK), _env(latency_steps=[0, 0], block_mass_scale=[1.0, 1.0])
    try:
        np.testing.assert_array_equal(_rollout(plain, 3), _rollout(explicit_off, 3))
    finally:
        plain.close()
        explicit_off.close()


def test_a_seed_draws_the_same_episode_and_the_same_placements_with_randomization_on_or_off() -> None:
    randomized, again, plain = _env(**ALL_TOGETHER), _env(**ALL_TOGETHER), GraspEnv(**TASK)
    try:
        drawn = []
        for seed in (0, 1, 2):
            _, info = randomized.reset(seed=seed)
            _, info_again = again.reset(seed=seed)
            _, plain_info = plain.reset(seed=seed)
            assert info["perturbation"] == info_again["perturbation"]
            np.testing.assert_array_equal(info["target"][:2], plain_info["target"][:2])  # same x, y
            drawn.append(info["perturbation"])
        assert drawn[0] != drawn[1] != drawn[2]
        np.testing.assert_array_equal(_rollout(randomized, 5), _rollout(again, 5))
    finally:
        for env in (randomized, again, plain):
            env.close()


def test_draws_stay_within_their_ranges_and_scales_are_log_uniform() -> None:
    env = _env(**ALL_TOGETHER)
    try:
        draws = [env.reset(seed=seed)[1]["perturbation"] for seed in range(200)]
    finally:
        env.close()
    masses = np.array([d["block_mass"] for d in draws])
    assert masses.min() >= 0.05 * 0.4 - 1e-12 and masses.max() <= 0.05 * 4.0 + 1e-12
    above = np.mean(masses > 0.05)  # log-uniform: as likely above the nominal mass as below
    assert 0.35 < above < 0.65
    for key, (low, high) in (("block_edge", (0.03, 0.05)), ("block_friction", (0.3, 1.5))):
        values = [d[key] for d in draws]
        assert low <= min(values) and max(values) <= high
    latencies = {d["latency_steps"] for d in draws}
    assert latencies <= set(range(21)) and {0, 20} <= latencies  # both ends are drawn
    bias = np.array([d["pose_bias"] for d in draws])
    assert np.abs(bias).max() <= 0.005 and np.abs([d["yaw_bias_deg"] for d in draws]).max() <= 5.0
    offsets = np.array([d["start_offset"] for d in draws])
    assert offsets.shape == (200, 7) and np.abs(offsets).max() <= 0.1


def test_the_drawn_block_and_servos_are_the_simulated_ones() -> None:
    env = _env(block_mass_scale=[4.0, 4.0], block_edge=[0.03, 0.03], servo_gain_scale=[1.5, 1.5])
    try:
        _, info = env.reset(seed=0)
        scene = env.scene
        model = scene.model
        assert model.body(NAMES.block_body).mass[0] == pytest.approx(0.2)  # 4 x 50 g
        assert model.geom(NAMES.block_geom).size[0] == pytest.approx(0.015)
        assert info["target"][2] == pytest.approx(0.8 + 0.015)  # resting on the table
        assert env.perturbation.servos.gain == 1.5
        # A grid placement keeps its x, y and rests the drawn block on the table.
        _, info = env.reset(seed=1, options={"target": [0.5, 0.1, 0.82], "target_yaw": 0.2})
        assert info["target"].tolist() == pytest.approx([0.5, 0.1, 0.815])
    finally:
        env.close()


def test_pose_bias_moves_what_is_reported_and_every_feature_derived_from_it() -> None:
    bias = {"pose_bias_position": [0.005, 0.005], "pose_bias_yaw": [5.0, 5.0]}
    env = _env(**bias)
    try:
        obs, _ = env.reset(seed=4)
        true_xyz, true_yaw = env.target_pose()
        seen_xyz, seen_yaw = env.observed_target_pose()
        np.testing.assert_allclose(seen_xyz - true_xyz, 0.005)
        assert seen_yaw - true_yaw == pytest.approx(math.radians(5.0))
        np.testing.assert_allclose(obs[layout.TARGET_POSITION], seen_xyz, atol=1e-6)
        tool = obs[layout.TOOL_POSITION]
        np.testing.assert_allclose(obs[layout.TOOL_TO_TARGET], seen_xyz - tool, atol=1e-6)
        assert obs[layout.TARGET_YAW4_SIN] == pytest.approx(math.sin(4 * seen_yaw), abs=1e-6)
        # The physics and the reward keep the truth: the block itself has not moved.
        assert env.scene.target_pose()[0].tolist() == true_xyz.tolist()
    finally:
        env.close()


def test_sensor_noise_is_fresh_every_step_and_centred_on_the_truth() -> None:
    env = _env(pose_noise_position=0.002, joint_position_noise=0.01, joint_velocity_noise=0.1)
    try:
        env.reset(seed=2)
        errors, joint_errors = [], []
        for _ in range(60):
            obs, *_ = env.step(np.zeros(7, dtype=np.float32))
            errors.append(obs[layout.TARGET_POSITION] - env.target_pose()[0])
            joint_errors.append(obs[layout.JOINT_POSITIONS] - env.joint_positions())
        errors, joint_errors = np.array(errors), np.array(joint_errors)
        assert 0.0015 < errors.std() < 0.0025 and abs(errors.mean()) < 0.001
        assert 0.007 < joint_errors.std() < 0.013
        assert len({tuple(e) for e in errors.round(6)}) == 60  # a new draw at every step
    finally:
        env.close()


def test_start_posture_offsets_every_joint_within_its_limits() -> None:
    env = _env(start_posture=[0.1, 0.1])
    try:
        obs, _ = env.reset(seed=0)
        low, high = env.scene.joint_limits()
        expected = np.clip(HOME_POSTURE + 0.1, low + START_POSTURE_MARGIN, high - START_POSTURE_MARGIN)
        assert expected[4] < HOME_POSTURE[4] + 0.01 and (expected[:4] == HOME_POSTURE[:4] + 0.1).all()
        np.testing.assert_allclose(obs[layout.JOINT_POSITIONS], expected, atol=1e-6)
        obs, *_ = env.step(np.zeros(7, dtype=np.float32))  # the servos hold it, no jump back home
        np.testing.assert_allclose(obs[layout.JOINT_POSITIONS], expected, atol=2e-3)
    finally:
        env.close()


def test_a_delayed_command_acts_after_its_latency_and_its_predecessor_until_then() -> None:
    """Latency L physics steps: the previous command for L steps, then the new one, the same as
    stepping the scene by hand; beyond the control period, commands queue up."""
    period = 25
    for latency in (0, 10, 40):
        delayed, by_hand = MujocoGraspScene(), MujocoGraspScene()
        for scene in (delayed, by_hand):
            scene.launch()
            scene.reset(np.array([0.6, 0.0, 0.82]), 0.0)
        delay = CommandDelay(period)
        delay.reset(latency)
        commands = [np.full(7, 0.3), np.full(7, -0.2), np.full(7, 0.5), np.zeros(7)]
        timeline = np.zeros((period * len(commands), 7))  # what acts at each physics step
        for k, command in enumerate(commands):
            timeline[k * period + latency :] = command
        for command in commands:
            delay.step(delayed, command)
        for row in timeline:
            by_hand.advance(row, 1)
        np.testing.assert_allclose(delayed.joint_positions(), by_hand.joint_positions(), atol=1e-12)
        np.testing.assert_allclose(delayed.joint_velocities(), by_hand.joint_velocities(), atol=1e-12)


def test_latency_changes_the_motion_and_zero_latency_does_not() -> None:
    env_zero, env_late = _env(), _env(latency_steps=[20, 20])
    try:
        a, b = _rollout(env_zero, 1, steps=5), _rollout(env_late, 1, steps=5)
        np.testing.assert_array_equal(a[0], b[0])
        assert np.abs(a[1:, layout.JOINT_POSITIONS] - b[1:, layout.JOINT_POSITIONS]).max() > 1e-3
    finally:
        env_zero.close()
        env_late.close()


@pytest.mark.parametrize(
    ("ranges", "message"),
    [
        ({"block_mass_scale": [2.0, 1.0]}, r"block_mass_scale must be \[low, high\]"),
        ({"block_mass_scale": [0.0, 1.0]}, "block_mass_scale must be positive factors"),
        ({"block_edge": [0.01, 0.04]}, r"block_edge .* must lie within \[0.02, 0.05\]"),
        ({"block_friction": [0.3]}, r"block_friction must be \[low, high\] .* or empty"),
        ({"latency_steps": [0, 1.5]}, "latency_steps must be .* integers"),
        ({"latency_steps": [0, 500]}, "<= 250"),
        ({"pose_bias_yaw": [-60.0, 0.0]}, r"within \[-45, 45\] degrees"),
        ({"pose_noise_yaw": -1.0}, "pose_noise_yaw must be a finite number >= 0"),
        ({"pose_noise_yaw": float("nan")}, "pose_noise_yaw must be a finite number >= 0"),
        ({"start_posture": [0.0, float("inf")]}, "start_posture must be"),
        ({"latency": [0, 1]}, r"unknown randomization key\(s\) \['latency'\]"),
        ({"block_mass_scale": [1.0, 40.0], "block_friction": [0.1, 1.0]}, "heaviest, most slippery"),
    ],
)
def test_bad_ranges_are_refused_with_a_reason(ranges: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GraspEnvConfig.from_dict({"randomization": ranges})


def test_yaml_ints_are_accepted_and_pyrep_refuses_randomization() -> None:
    config = GraspEnvConfig.from_dict(
        {"randomization": {"block_mass_scale": [1, 4], "pose_noise_yaw": 2, "latency_steps": [0, 5]}}
    )
    assert config.randomization.block_mass_scale == [1.0, 4.0] and config.randomization.pose_noise_yaw == 2.0
    assert GraspEnvConfig.from_dict(config.to_dict()) == config  # env.yaml round trip
    with pytest.raises(ValueError, match="randomization settings need the mujoco backend"):
        GraspEnvConfig(backend="pyrep", randomization=DomainRandomization(latency_steps=[0, 3]))
