"""GraspEnv: Gymnasium API conformance, every reward term, episode ends, bad input and seeding."""

from __future__ import annotations

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from scene_helpers import place_tool

import sac_grasp_ros.envs
from sac_grasp_ros.envs import ENV_ID, GraspEnvConfig
from sac_grasp_ros.envs.grasp_env import PREGRASP_HEIGHT, GraspEnv
from sac_grasp_ros.scene import HOME_POSTURE
from sac_grasp_ros.scene.mujoco_model import NAMES, TABLE_TOP


def sim_state(env: GraspEnv) -> tuple[np.ndarray, ...]:
    d = env.scene.data
    return d.qpos.copy(), d.qvel.copy(), d.act.copy(), d.ctrl.copy(), np.array([d.time])


@pytest.fixture(scope="module")
def env() -> GraspEnv:
    e = GraspEnv()
    yield e
    e.close()


def assert_terms_sum(reward: float, info: dict) -> None:
    assert reward == pytest.approx(sum(info["reward_terms"].values()), abs=1e-12)


@pytest.mark.parametrize("control_mode", ["joint_velocity", "end_position"])
@pytest.mark.parametrize("observation", ["original", "extended", "symmetric"])
def test_check_env(control_mode: str, observation: str) -> None:
    e = GraspEnv(control_mode=control_mode, observation=observation, random_target=True, target_yaw_range=45)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Box observation space m.*infinity.*")
        check_env(e, skip_render_check=True)
    assert e.observation_space.shape == ({"original": 17, "extended": 29, "symmetric": 30}[observation],)
    assert e.action_space.shape == ((7,) if control_mode == "joint_velocity" else (4,))
    e.close()


def test_observation_layout_names_what_the_env_reports() -> None:
    """The named slices of envs.observation (shared with deploy) read back the env's own accessors."""
    from sac_grasp_ros.envs import observation as layout

    e = GraspEnv(observation="extended", random_target=True)
    obs, _ = e.reset(seed=3)
    for _ in range(5):
        obs, *_ = e.step(np.full(7, 0.3))
    xyz, yaw = e.target_pose()
    tool = e.gripper_position()
    (right, left), _ = e.finger_joint_state()
    expected = [
        (layout.JOINT_POSITIONS, e.joint_positions()),
        (layout.JOINT_VELOCITIES, e.joint_velocities()),
        (layout.TARGET_POSITION, xyz),
        (layout.TOOL_POSITION, tool),
        (layout.TOOL_TO_PREGRASP, e.pregrasp_point() - tool),
        (layout.TOOL_TO_TARGET, xyz - tool),
        (layout.FINGER_OPENING, left - right),
        (layout.TARGET_YAW_SIN, math.sin(yaw)),
        (layout.TARGET_YAW_COS, math.cos(yaw)),
    ]
    for index, value in expected:
        np.testing.assert_allclose(obs[index], value, atol=1e-6, err_msg=str(index))
    assert obs.shape == (layout.OBSERVATION_SIZES["extended"],) == (layout.TARGET_YAW_COS + 1,)
    e.close()


def test_registered_id_builds_the_env() -> None:
    assert sac_grasp_ros.envs.ENV_ID == "sac_grasp_ros/SawyerGrasp-v0"
    e = gym.make(ENV_ID, observation="extended", max_episode_steps=3)
    obs, _ = e.reset(seed=0)
    assert obs.shape == (29,)
    truncated = False
    for _ in range(3):
        _, _, terminated, truncated, _ = e.step(np.zeros(7, dtype=np.float32))
        assert not terminated
    assert truncated  # the env truncates itself at config.max_episode_steps
    e.close()


def test_original_observation_layout(env: GraspEnv) -> None:
    obs, _ = env.reset(seed=0)
    np.testing.assert_allclose(obs[:7], HOME_POSTURE, atol=1e-6)
    np.testing.assert_array_equal(obs[7:14], 0.0)
    np.testing.assert_allclose(obs[14:17], env.target_pose()[0], atol=1e-6)
    action = np.array([0.5, 0.5, 0.5, 0.5, -0.5, 0.5, 0.5], dtype=np.float32)  # home j4 is at its +limit
    for _ in range(8):  # the damped servos settle within about 0.3 s
        obs, *_ = env.step(action)
    np.testing.assert_allclose(obs[7:14], action, atol=0.03)  # scaled by max_joint_velocity = 1 rad/s


def test_extended_observation_layout() -> None:
    e = GraspEnv(observation="extended")
    obs, _ = e.reset(seed=0)
    tool, (target, yaw) = e.gripper_position(), e.target_pose()
    np.testing.assert_allclose(obs[17:20], tool, atol=1e-6)
    np.testing.assert_allclose(obs[20:23], e.pregrasp_point() - tool, atol=1e-6)
    np.testing.assert_allclose(obs[23:26], target - tool, atol=1e-6)
    assert obs[26] == pytest.approx(0.023, abs=1e-6)
    assert (obs[27], obs[28]) == pytest.approx((math.sin(yaw), math.cos(yaw)))
    e.close()


def test_distance_and_orientation_terms(env: GraspEnv) -> None:
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step(np.zeros(7, dtype=np.float32))
    terms = info["reward_terms"]
    assert terms["distance"] == pytest.approx(-np.linalg.norm(env.gripper_position() - env.pregrasp_point()))
    assert terms["grasp"] == terms["fall"] == terms["table"] == 0.0
    assert not terminated
    assert_terms_sum(reward, info)
    # Turning the last joint turns the tool about the vertical: the orientation cost grows by 0.02 * angle.
    before = terms["orientation"]
    q = env.joint_positions()
    q[6] -= 0.3
    env.scene.set_arm_state(q, env.joint_velocities())
    _, reward, _, _, info = env.step(np.zeros(7, dtype=np.float32))
    assert info["reward_terms"]["orientation"] - before == pytest.approx(-0.02 * 0.3, abs=2e-3)
    assert_terms_sum(reward, info)


def test_orientation_term_wraps_angles(env: GraspEnv) -> None:
    """Pointing straight down costs nothing whatever the sign of the roll (pi and -pi) or a half-turn
    of yaw (the gripper is symmetric)."""
    env.reset(seed=0)
    for yaw in (0.0, math.pi - 1e-3):
        place_tool(env.scene, np.array([0.6, 0.0, 1.0]), yaw=yaw)
        _, info = env.compute_reward()
        assert info["orientation"] == pytest.approx(0.0, abs=2e-3)


def test_successful_grasp_term(env: GraspEnv) -> None:
    env.reset(seed=0)
    target, _ = env.target_pose()
    place_tool(env.scene, target + np.array([0.0, 0.0, 0.005]))
    _, reward, terminated, truncated, info = env.step(np.zeros(7, dtype=np.float32))
    assert info["grasp_attempt"] and info["success"] and terminated and not truncated
    assert info["reward_terms"]["grasp"] == 10.0
    assert_terms_sum(reward, info)
    assert env.scene.pads_touch_target() == (True, True)
    assert env.target_pose()[0][2] > target[2] + 0.02  # really lifted


def test_failed_grasp_reopens_and_continues() -> None:
    e = GraspEnv()
    geom = e.scene.model.geom(NAMES.block_geom).id
    e.scene.model.geom_friction[geom, 0] = 0.005  # slips out of the fingers
    e.reset(seed=0)
    target, _ = e.target_pose()
    place_tool(e.scene, target + np.array([0.0, 0.0, 0.005]))
    _, reward, terminated, _, info = e.step(np.zeros(7, dtype=np.float32))
    assert info["grasp_attempt"] and not info["success"] and not terminated
    assert info["reward_terms"]["grasp"] == 0.0
    assert e.scene.gripper_opening() > 0.015  # reopened
    assert_terms_sum(reward, info)
    e.close()


def test_no_grasp_attempt_without_the_block_between_the_fingers(env: GraspEnv) -> None:
    env.reset(seed=0)
    target, _ = env.target_pose()
    place_tool(env.scene, target + np.array([0.0, 0.0, PREGRASP_HEIGHT]))  # d = 0, block below the fingers
    _, _, terminated, _, info = env.step(np.zeros(7, dtype=np.float32))
    assert not info["grasp_attempt"] and not terminated


def test_table_penalty(env: GraspEnv) -> None:
    env.reset(seed=0)
    place_tool(env.scene, np.array([0.55, 0.2, TABLE_TOP + 0.005]))  # fingertips pressed into the table
    _, reward, _, _, info = env.step(np.zeros(7, dtype=np.float32))
    assert info["reward_terms"]["table"] == -1.0
    assert_terms_sum(reward, info)
    place_tool(env.scene, np.array([0.55, 0.2, TABLE_TOP + 0.05]))
    _, _, _, _, info = env.step(np.zeros(7, dtype=np.float32))
    assert info["reward_terms"]["table"] == 0.0


def test_block_falling_off_the_table_ends_the_episode(env: GraspEnv) -> None:
    env.reset(seed=0)
    env.scene.set_target_pose(np.array([1.3, 0.0, 0.82]), 0.0)  # beyond the table edge (x up to 1.15)
    for _ in range(20):
        _, reward, terminated, _, info = env.step(np.zeros(7, dtype=np.float32))
        if terminated:
            break
    assert terminated and not info["success"]
    terms = info["reward_terms"]
    assert terms["fall"] == -10.0 and terms["grasp"] == 0.0 and terms["distance"] == 0.0
    assert_terms_sum(reward, info)


def test_nan_injection_resets_the_scene_and_ends_the_episode(env: GraspEnv) -> None:
    env.reset(seed=0)
    for _ in range(3):
        env.step(np.full(7, 0.5, dtype=np.float32))
    env.scene.data.qvel[3] = np.nan
    obs, reward, terminated, _, info = env.step(np.zeros(7, dtype=np.float32))
    assert info["nan_reset"] and terminated and reward == 0.0
    assert np.isfinite(obs).all()
    np.testing.assert_allclose(obs[:7], HOME_POSTURE, atol=1e-6)  # scene back at its start
    assert not env.scene.diverged()


@pytest.mark.parametrize(
    "action, message",
    [
        (np.array([np.nan, 0, 0, 0, 0, 0, 0]), "NaN or inf"),
        (np.array([0, 0, np.inf, 0, 0, 0, 0]), "NaN or inf"),
        (np.zeros(6), r"shape \(7,\)"),
        (np.zeros((1, 7)), r"shape \(7,\)"),
        ("fast", "numeric"),
    ],
)
def test_bad_actions_raise_without_touching_the_scene(env: GraspEnv, action, message: str) -> None:
    env.reset(seed=0)
    env.step(np.full(7, 0.3, dtype=np.float32))
    before = sim_state(env)
    with pytest.raises(ValueError, match=message):
        env.step(action)
    for a, b in zip(before, sim_state(env), strict=True):
        np.testing.assert_array_equal(a, b)


def test_seeding_is_reproducible() -> None:
    def run(seed: int) -> list[np.ndarray]:
        e = GraspEnv(random_target=True)
        e.action_space.seed(seed)
        obs, _ = e.reset(seed=seed)
        out = [obs]
        for _ in range(5):
            out.append(e.step(e.action_space.sample())[0])
        obs, _ = e.reset()  # the next target comes from the same generator
        out.append(obs)
        e.close()
        return out

    first, again, other = run(3), run(3), run(4)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(first[0][14:17], other[0][14:17])


def test_random_targets_cover_the_workspace_box() -> None:
    e = GraspEnv(random_target=True)
    targets = np.array([e.reset(seed=s)[0][14:17] for s in range(30)])
    low, high = e.scene.workspace_low, e.scene.workspace_high
    assert (targets >= low - 1e-6).all() and (targets <= high + 1e-6).all()
    assert np.ptp(targets[:, 0]) > 0.2 and np.ptp(targets[:, 1]) > 0.4
    e.close()


def test_fixed_target_resets_to_the_initial_pose(env: GraspEnv) -> None:
    a = env.reset(seed=1)[0][14:17]
    b = env.reset(seed=2)[0][14:17]
    np.testing.assert_array_equal(a, b)


def test_end_position_moves_the_tool_and_refuses_leaving_the_box() -> None:
    e = GraspEnv(control_mode="end_position")
    e.reset(seed=0)
    start = e.gripper_position()
    for _ in range(6):
        _, _, _, _, info = e.step(np.array([0.0, 0.0, -0.5, 0.0], dtype=np.float32))
        assert not info["refused"]
    moved = e.gripper_position() - start
    assert moved[2] < -0.1 and abs(moved[0]) < 0.03 and abs(moved[1]) < 0.03
    # z no lower than 0.30 m under the box (block centre 0.82 m): a goal at 0.50 m is refused.
    e.close()
    e = GraspEnv(control_mode="end_position", end_position_scale=0.6)
    e.reset(seed=0)
    q = e.joint_positions()
    _, _, _, _, info = e.step(np.array([0.0, 0.0, -1.0, 0.0], dtype=np.float32))
    assert info["refused"]
    np.testing.assert_allclose(e.joint_positions(), q, atol=1e-4)  # the arm stays
    _, _, _, _, info = e.step(np.array([0.0, 1.0, 0.0, 0.0], dtype=np.float32))  # y 0.72 > 0.30 + 0.30
    assert info["refused"]
    e.config.end_position_scale = 0.45
    _, _, _, _, info = e.step(np.array([0.0, 1.0, 0.0, 0.0], dtype=np.float32))  # y 0.57: +y margin is 0.30
    assert not info["refused"]
    assert e.gripper_position()[1] > 0.3
    e.close()


def test_config_validation_names_the_bad_field() -> None:
    with pytest.raises(ValueError, match="control_mode"):
        GraspEnvConfig(control_mode="torque")
    with pytest.raises(ValueError, match="max_episode_steps"):
        GraspEnvConfig.from_dict({"max_episode_steps": 0})
    with pytest.raises(ValueError, match=r"unknown GraspEnvConfig key\(s\) \['speed'\]"):
        GraspEnvConfig.from_dict({"speed": 1})
    assert GraspEnvConfig.from_dict({"max_joint_velocity": 2}).max_joint_velocity == 2.0
    with pytest.raises(ValueError, match="observation"):
        GraspEnv(observation="pixels")
    message = r"GraspEnvConfig.observation must be one of \('original', 'extended', 'symmetric'\)"
    with pytest.raises(ValueError, match=message):
        GraspEnvConfig(observation="pixels")


def test_the_observation_choices_are_the_observation_layouts() -> None:
    from sac_grasp_ros.envs import observation as layout
    from sac_grasp_ros.envs.config import OBSERVATIONS

    assert tuple(layout.OBSERVATION_SIZES) == OBSERVATIONS


def test_shaped_reward_adds_an_approach_term() -> None:
    e = GraspEnv(reward="shaped")
    e.reset(seed=0)
    _, reward, _, _, info = e.step(np.zeros(7, dtype=np.float32))
    grasp_point = e.target_pose()[0] + [0.0, 0.0, 0.005]
    assert info["reward_terms"]["approach"] == pytest.approx(
        -2.0 * np.linalg.norm(e.gripper_position() - grasp_point), abs=1e-9
    )
    assert_terms_sum(reward, info)
    e.close()
