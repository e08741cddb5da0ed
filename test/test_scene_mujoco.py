"""The MuJoCo grasp scene: composition, actuation, proximity check, contact sensing, divergence."""

from __future__ import annotations

import math

import mujoco
import numpy as np
import pytest
from scene_helpers import place_tool

from sac_grasp_ros.scene import HOME_POSTURE, make_scene
from sac_grasp_ros.scene.mujoco_model import BLOCK_MASS, GRIPPER_OPEN, NAMES, TABLE_TOP
from sac_grasp_ros.scene.mujoco_scene import MujocoGraspScene


@pytest.fixture(scope="module")
def scene() -> MujocoGraspScene:
    s = make_scene("mujoco")
    s.launch()
    yield s
    s.shutdown()


@pytest.fixture
def fresh(scene: MujocoGraspScene) -> MujocoGraspScene:
    scene.reset(*scene.initial_target)
    return scene


def test_scene_composition(scene: MujocoGraspScene) -> None:
    m = scene.model
    assert m.opt.timestep == pytest.approx(0.002)
    assert m.opt.integrator == mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    assert m.opt.cone == mujoco.mjtCone.mjCONE_ELLIPTIC
    assert m.body(NAMES.block_body).mass[0] == pytest.approx(BLOCK_MASS)
    assert m.geom(NAMES.block_geom).size == pytest.approx([0.02, 0.02, 0.02])
    assert m.geom(NAMES.block_geom).friction[0] == pytest.approx(1.5)
    table = m.geom(NAMES.table_geom)
    assert m.body(table.bodyid[0]).pos[2] + table.pos[2] + table.size[2] == pytest.approx(TABLE_TOP)
    for joint in NAMES.arm_joints:  # every attached part is prefixed and the arm is gravity-compensated
        assert joint.startswith("sawyer/")
        assert m.body_gravcomp[m.joint(joint).bodyid[0]] == 1.0
    assert all(name.startswith("gripper/") for name in NAMES.finger_joints)


def test_reset_pose(fresh: MujocoGraspScene) -> None:
    np.testing.assert_allclose(fresh.joint_positions(), HOME_POSTURE)
    np.testing.assert_array_equal(fresh.joint_velocities(), 0.0)
    assert fresh.gripper_opening() == pytest.approx(GRIPPER_OPEN[1] - GRIPPER_OPEN[0])
    xyz, yaw = fresh.target_pose()
    np.testing.assert_allclose(xyz, fresh.initial_target[0])
    assert yaw == pytest.approx(0.0)
    # The original's home posture points the tool down: euler close to [pi, 0, 0] (alpha may wrap).
    euler = fresh.gripper_euler()
    assert abs(abs(euler[0]) - math.pi) < 0.1 and abs(euler[1]) < 0.1 and abs(euler[2]) < 0.1
    assert fresh.gripper_position()[2] > xyz[2] + 0.15


def test_zero_command_holds_the_arm(fresh: MujocoGraspScene) -> None:
    for _ in range(40):  # 2 s: gravity compensation + servos, no sag, no contacts jamming the base
        fresh.step(np.zeros(7))
    np.testing.assert_allclose(fresh.joint_positions(), HOME_POSTURE, atol=1e-3)
    assert np.abs(fresh.joint_velocities()).max() < 1e-3


def test_velocity_command_is_tracked(fresh: MujocoGraspScene) -> None:
    command = np.array([0.5, -0.3, 0.4, 0.3, -0.5, 0.5, -0.5])
    start = fresh.joint_positions()
    for _ in range(10):
        fresh.step(command)
    np.testing.assert_allclose(fresh.joint_velocities(), command, atol=0.05)
    # The servo target integrates the command exactly; the joints trail it by kv/kp = 0.1 s (damping).
    np.testing.assert_allclose(fresh.servo_targets() - start, command * 0.5, atol=1e-9)
    np.testing.assert_allclose(fresh.joint_positions() - start, command * (0.5 - 0.1), atol=0.01)


def test_proximity_check_sees_only_a_block_between_the_fingers(fresh: MujocoGraspScene) -> None:
    assert not fresh.target_in_sensor()  # home: block far below
    block, _ = fresh.target_pose()
    place_tool(fresh, block + np.array([0.0, 0.0, 0.005]))
    assert fresh.target_in_sensor()
    place_tool(fresh, block + np.array([0.0, 0.0, 0.08]))  # pre-grasp point: block below the fingertips
    assert not fresh.target_in_sensor()
    place_tool(fresh, block + np.array([0.05, 0.0, 0.005]))  # beside the block
    assert not fresh.target_in_sensor()


def test_grasp_attempt_holds_and_lifts_the_block(fresh: MujocoGraspScene) -> None:
    block, _ = fresh.target_pose()
    place_tool(fresh, block + np.array([0.0, 0.0, 0.005]))
    assert fresh.pads_touch_target() == (False, False)
    assert fresh.attempt_grasp(0.04)
    assert fresh.pads_touch_target() == (True, True)
    assert fresh.target_pose()[0][2] > block[2] + 0.02
    # Closed onto the block: well short of open (0.023) and of closed on nothing (-0.042).
    assert -0.01 < fresh.gripper_opening() < 0.01


def test_grasp_attempt_fails_when_the_block_slips(scene: MujocoGraspScene) -> None:
    """A closed gripper touching the block is not a success: the block must rise with the hand."""
    geom = scene.model.geom(NAMES.block_geom).id
    friction = scene.model.geom_friction[geom].copy()
    scene.model.geom_friction[geom, 0] = 0.005  # 2 pads x 20 N x 0.005 < 0.5 N weight: it slips
    try:
        scene.reset(*scene.initial_target)
        block, _ = scene.target_pose()
        place_tool(scene, block + np.array([0.0, 0.0, 0.005]))
        assert not scene.attempt_grasp(0.04)
        assert scene.target_pose()[0][2] < block[2] + 0.01
        scene.open_gripper()
        assert scene.gripper_opening() > 0.015
        assert not scene.diverged()
    finally:
        scene.model.geom_friction[geom] = friction


def test_left_pad_table_contact_is_sensed(fresh: MujocoGraspScene) -> None:
    fresh.step(np.zeros(7))
    assert not fresh.left_pad_touches_table()
    place_tool(fresh, np.array([0.55, 0.2, TABLE_TOP + 0.005]))
    fresh.step(np.zeros(7))
    assert fresh.left_pad_touches_table()


def test_nan_state_is_reported_as_divergence(fresh: MujocoGraspScene) -> None:
    fresh.step(np.zeros(7))
    assert not fresh.diverged()
    fresh.data.qvel[0] = np.nan
    fresh.step(np.zeros(7))  # MuJoCo prints a warning and resets its data; the scene must notice
    assert fresh.data.warning[mujoco.mjtWarning.mjWARN_BADQVEL].number > 0
    assert fresh.diverged()
    assert np.isnan(fresh.gripper_position()).all()
    fresh.reset(*fresh.initial_target)
    assert not fresh.diverged()


def test_ik_reaches_the_workspace_corners(fresh: MujocoGraspScene) -> None:
    low, high = fresh.workspace_low, fresh.workspace_high
    for x in (low[0], high[0]):
        for y in (low[1], high[1]):
            fresh.reset(*fresh.initial_target)
            place_tool(fresh, np.array([x, y, low[2] + 0.005]))


def test_unknown_backend_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown scene backend 'gazebo'"):
        make_scene("gazebo")


def test_control_period_must_fit_the_physics_step() -> None:
    with pytest.raises(ValueError, match=r"multiple of the 0\.002 s physics step"):
        MujocoGraspScene(control_period=0.0031)
