"""Rotated blocks (`target_yaw_range`): the yaw is drawn in range from the env's seeded generator and
is exactly 0 when off; the scripted grasper turns the fingers onto a pair of faces and grasps; the
"symmetric" observation is the same for a cube turned by a quarter turn; the success check holds a
rotated block for real; deployment rebuilds the same features from a PoseStamped orientation."""

from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest
from gymnasium.utils import seeding
from scene_helpers import place_tool

from sac_grasp_ros import deploy
from sac_grasp_ros.envs import GraspEnvConfig
from sac_grasp_ros.envs import observation as layout
from sac_grasp_ros.envs.grasp_env import GraspEnv
from sac_grasp_ros.envs.scripted import ScriptedGrasper
from sac_grasp_ros.scene.kinematics import (
    euler_to_matrix,
    face_yaw_error,
    quaternion_from_yaw,
    tool_heading,
    yaw_from_quaternion,
)
from sac_grasp_ros.scene.mujoco_model import NAMES

YAW_RANGE = 45.0


def test_yaw_is_drawn_in_range_after_the_position_and_reproducible_per_seed() -> None:
    on = GraspEnv(random_target=True, target_yaw_range=YAW_RANGE)
    off = GraspEnv(random_target=True)
    low, high = on.scene.workspace_low, on.scene.workspace_high
    yaws = []
    for seed in range(40):
        _, info = on.reset(seed=seed)
        yaw = on.target_pose()[1]
        # The env's seeded generator draws the position, then the yaw.
        rng, _ = seeding.np_random(seed)
        np.testing.assert_array_equal(info["target"], rng.uniform(low, high))
        assert yaw == pytest.approx(rng.uniform(-math.pi / 4, math.pi / 4), abs=1e-12)
        # Off: the same seed gives the same position and yaw exactly 0 (the original task).
        _, info_off = off.reset(seed=seed)
        np.testing.assert_array_equal(info_off["target"], info["target"])
        assert off.target_pose()[1] == 0.0 and off._start_target[1] == 0.0
        yaws.append(yaw)
    assert max(np.abs(yaws)) <= math.pi / 4
    assert min(yaws) < -0.6 and max(yaws) > 0.6  # spread over the range, not stuck near 0
    again = [on.reset(seed=seed)[0] for seed in (3, 3)]
    np.testing.assert_array_equal(*again)
    on.close()
    off.close()


def test_the_yaw_range_is_validated_and_needs_random_target() -> None:
    for bad in (-1.0, 45.5, math.nan, True, "45"):
        with pytest.raises(ValueError, match="target_yaw_range"):
            GraspEnvConfig(target_yaw_range=bad)
    assert GraspEnvConfig.from_dict({"target_yaw_range": 30}).target_yaw_range == 30.0
    fixed = GraspEnv(target_yaw_range=YAW_RANGE)  # no random_target: the fixed pose, yaw 0
    fixed.reset(seed=1)
    assert fixed.target_pose()[1] == 0.0
    fixed.close()


def test_reset_options_place_the_block_and_refuse_bad_poses() -> None:
    env = GraspEnv(random_target=True, target_yaw_range=YAW_RANGE)
    target = np.array([0.7, -0.2, env.scene.workspace_low[2]])
    env.reset(seed=0, options={"target": target, "target_yaw": 0.3})
    xyz, yaw = env.target_pose()
    np.testing.assert_allclose(xyz, target)
    assert yaw == pytest.approx(0.3, abs=1e-12)
    for options, message in (
        ({"target": [0.7, 0.0]}, "3 finite numbers"),
        ({"target": [2.0, 0.0, target[2]]}, "outside the workspace"),
        ({"target_yaw": math.inf}, "finite number"),
    ):
        with pytest.raises(ValueError, match=message):
            env.reset(options=options)
    env.close()


def test_tool_heading_is_the_world_yaw_of_the_finger_closing_axis() -> None:
    """The fingers close along the tool x axis; the Euler yaw of a tool pointing down turns the other way."""
    rng = np.random.default_rng(0)
    for _ in range(50):
        euler = np.array([math.pi + rng.normal(0, 0.2), rng.normal(0, 0.2), rng.uniform(-math.pi, math.pi)])
        axis = euler_to_matrix(euler)[:, 0]
        assert tool_heading(euler) == pytest.approx(math.atan2(axis[1], axis[0]), abs=1e-12)
    assert tool_heading(np.array([math.pi, 0.0, 0.3])) == pytest.approx(-0.3, abs=1e-12)
    assert face_yaw_error(0.5, 0.5 + math.pi / 2) == pytest.approx(0.0, abs=1e-12)
    assert face_yaw_error(0.0, math.radians(50)) == pytest.approx(math.radians(40))


@pytest.mark.parametrize(
    ("x", "y", "yaw_deg"),
    [(0.5, -0.25, 40.0), (0.75, 0.25, -40.0), (0.6, 0.0, -45.0), (0.7, -0.1, 25.0), (0.5, 0.2, -30.0)],
)
def test_scripted_grasper_turns_onto_a_face_pair_and_lifts_a_rotated_block(x, y, yaw_deg) -> None:
    env = GraspEnv(random_target=True, target_yaw_range=YAW_RANGE)
    controller = ScriptedGrasper(env)
    obs, _ = env.reset(
        seed=0, options={"target": [x, y, env.scene.workspace_low[2]], "target_yaw": math.radians(yaw_deg)}
    )
    done, info, steps, alignment = False, {}, 0, None
    while not done:
        action = controller.act(obs)
        heading = tool_heading(env.scene.gripper_euler())
        block_yaw = env.target_pose()[1]
        obs, _, terminated, truncated, info = env.step(action)
        if info["grasp_attempt"] and alignment is None:
            alignment = abs(math.degrees(face_yaw_error(heading, block_yaw)))
        steps += 1
        done = terminated or truncated
    assert info["success"], (x, y, yaw_deg, steps)
    assert alignment is not None and alignment < 5.0  # the fingers closed squarely on two faces
    assert steps < 50
    # Physically held: both pads on the block, off the table.
    assert all(env.scene.pads_touch_target())
    assert env.target_pose()[0][2] > env.scene.workspace_low[2] + 0.02
    env.close()


@pytest.mark.parametrize("yaw_deg", [30.0, -35.0])
def test_grasp_check_on_a_rotated_block_is_physical(yaw_deg: float) -> None:
    """Fingers squarely on two faces of a rotated block: held and lifted; the same close far above the
    block: not a success (the check is contacts and height, whatever the block's yaw)."""
    env = GraspEnv(random_target=True, target_yaw_range=YAW_RANGE)
    block = np.array([0.62, 0.05, env.scene.workspace_low[2]])
    yaw = math.radians(yaw_deg)
    for height, held in ((0.005, True), (0.06, False)):
        env.reset(seed=0, options={"target": block, "target_yaw": yaw})
        tool = block + np.array([0.0, 0.0, height])  # heading = -Euler yaw pointing down
        place_tool(env.scene, tool, -yaw, max_iterations=300, tolerance=1e-5, within=None)
        assert abs(face_yaw_error(tool_heading(env.scene.gripper_euler()), yaw)) < 0.01
        assert env.scene.target_in_sensor() == held
        assert env.scene.attempt_grasp(0.04) == held
        assert (env.target_pose()[0][2] > block[2] + 0.02) == held
    env.close()


def _pose_yaw(yaw: float) -> float:
    """The yaw a policy node reads back from the PoseStamped orientation of the block."""
    return yaw_from_quaternion(*quaternion_from_yaw(yaw))


def test_symmetric_observation_is_the_same_for_a_quarter_turn() -> None:
    env = GraspEnv(observation="symmetric", random_target=True, target_yaw_range=YAW_RANGE)
    target = [0.65, 0.1, env.scene.workspace_low[2]]
    rng = np.random.default_rng(3)
    actions = rng.uniform(-0.5, 0.5, (6, 7))  # moves away from the block: no contact
    for yaw in (0.0, 0.3, -0.6, 0.78):
        runs = []
        for turned in (yaw, yaw + math.pi / 2, yaw - math.pi / 2, yaw + math.pi):
            observations = [env.reset(seed=0, options={"target": target, "target_yaw": turned})[0]]
            observations += [env.step(action)[0] for action in actions]
            runs.append(np.array(observations))
        for other in runs[1:]:
            np.testing.assert_allclose(other, runs[0], atol=1e-5, rtol=0)
    obs = runs[0][-1]
    assert obs.shape == (layout.OBSERVATION_SIZES["symmetric"],) == (30,)
    # ... and it reads what it says: the block yaw times 4, the fingers' angle to the nearest face.
    xyz, block_yaw = env.target_pose()
    assert obs[layout.TARGET_YAW4_SIN] == pytest.approx(math.sin(4 * block_yaw), abs=1e-6)
    assert obs[layout.TARGET_YAW4_COS] == pytest.approx(math.cos(4 * block_yaw), abs=1e-6)
    r = env.scene.data.site(NAMES.grip_site).xmat.reshape(3, 3)
    heading = math.atan2(r[1, 0], r[0, 0])
    assert obs[layout.FACE_YAW_ERROR] == pytest.approx(face_yaw_error(heading, block_yaw), abs=1e-5)
    np.testing.assert_allclose(obs[:27], _extended_prefix(env, xyz), atol=1e-6)
    env.close()


def _extended_prefix(env: GraspEnv, xyz: np.ndarray) -> np.ndarray:
    """The first 27 values of the extended layout, which the symmetric one keeps."""
    out = np.zeros(29)
    out[:7], out[7:14], out[14:17] = env.joint_positions(), env.joint_velocities(), xyz
    (right, left), _ = env.finger_joint_state()
    layout.write_extended(out, xyz, env.gripper_position(), left - right, 0.0)
    return out[:27]


def test_orientation_term_is_quarter_turn_symmetric_with_yaw_on() -> None:
    env = GraspEnv(random_target=True, target_yaw_range=YAW_RANGE)
    terms = []
    for yaw in (0.4, 0.4 + math.pi / 2, 0.4 - math.pi / 2):
        env.reset(seed=0, options={"target": [0.6, 0.0, env.scene.workspace_low[2]], "target_yaw": yaw})
        terms.append(env.compute_reward()[1]["orientation"])
    assert terms[1] == pytest.approx(terms[0], abs=1e-9) and terms[2] == pytest.approx(terms[0], abs=1e-9)
    # Fingers turned squarely onto the faces: only the roll/pitch part of the term is left.
    heading = tool_heading(env.scene.gripper_euler())
    env.reset(seed=0, options={"target": [0.6, 0.0, env.scene.workspace_low[2]], "target_yaw": heading})
    roll, pitch, _ = env.scene.gripper_euler()
    expected = -0.02 * (abs(roll - math.copysign(math.pi, roll)) + abs(pitch))
    assert env.compute_reward()[1]["orientation"] == pytest.approx(expected, abs=1e-6)
    env.close()


@pytest.mark.parametrize("observation", ["extended", "symmetric"])
def test_deploy_rebuilds_the_yaw_features_from_the_pose(observation: str) -> None:
    """Scripted episodes on rotated blocks, step by step: the builder sees only joint_states and the
    block pose as a PoseStamped carries it (quaternion), and rebuilds the env's observation."""
    env = GraspEnv(
        observation=observation, random_target=True, target_yaw_range=YAW_RANGE, max_episode_steps=60
    )
    builder = deploy.ObservationBuilder(observation)
    assert builder.needs_fingers
    compared = 0
    for episode in range(2):
        obs, _ = env.reset(seed=21 + episode)
        grasper = ScriptedGrasper(env)
        assert abs(env.target_pose()[1]) > 0.05
        for step in range(60):
            (right, left), _ = env.finger_joint_state()
            xyz, yaw = env.target_pose()
            rebuilt = builder.build(
                env.joint_positions(), env.joint_velocities(), xyz, _pose_yaw(yaw), np.array([right, left])
            )
            np.testing.assert_allclose(
                rebuilt, obs, atol=1e-5, rtol=0, err_msg=f"episode {episode} step {step}"
            )
            compared += 1
            obs, _, terminated, truncated, _ = env.step(grasper.act(obs))
            if terminated or truncated:
                break
    assert compared > 40
    env.close()


def test_old_layouts_keep_their_sizes() -> None:
    """Checkpoints and env.yaml files written before the symmetric layout still fit."""
    assert layout.OBSERVATION_SIZES["original"] == 17 and layout.OBSERVATION_SIZES["extended"] == 29
    for observation, size in (("original", 17), ("extended", 29), ("symmetric", 30)):
        env = GraspEnv(observation=observation, random_target=True, target_yaw_range=YAW_RANGE)
        assert env.reset(seed=0)[0].shape == (size,) == env.observation_space.shape
        env.close()


def test_a_block_teleported_to_a_yaw_reads_back_that_yaw() -> None:
    """target_pose reads the yaw from the free joint's quaternion (what markers and target_pose publish)."""
    env = GraspEnv(random_target=True, target_yaw_range=YAW_RANGE)
    env.reset(seed=5)
    _, yaw = env.target_pose()
    scene = env.scene
    quat = scene.data.joint(NAMES.block_joint).qpos[3:7]
    expected = 2 * math.atan2(quat[3], quat[0])
    assert yaw == pytest.approx(expected, abs=1e-12)
    mujoco.mj_step(scene.model, scene.data, 50)  # resting on the table it stays where it was put
    assert env.target_pose()[1] == pytest.approx(yaw, abs=1e-3)
    env.close()
