"""The layout of `GraspEnv`'s observation (table: GraspEnv's docstring, "Observation Space"), defined
once for the env and for deployment, which rebuilds the same vector from what a robot publishes
(`deploy.ObservationBuilder`). Light: numpy only, no simulator.

The first 17 values (the original program's observation) are what `GraspScene.write_observation`
writes; "extended" appends the tool point and the vectors a grasp needs (`write_extended`);
"symmetric" has the same first 27 values, then block yaw features that are equal for every yaw of
the same cube (yaw and yaw + 90 degrees) and the fingers' angle to the nearest face (`write_symmetric`).
"""

from __future__ import annotations

import math

import numpy as np

from sac_grasp_ros.scene.kinematics import face_yaw_error, tool_heading

PREGRASP_HEIGHT = 0.08
"""The reward's reference point is this far above the block centre (m), as in the original."""

OBSERVATION_SIZES = {"original": 17, "extended": 29, "symmetric": 30}
"""Observation mode -> number of values."""

JOINT_POSITIONS = slice(0, 7)
JOINT_VELOCITIES = slice(7, 14)
TARGET_POSITION = slice(14, 17)
TOOL_POSITION = slice(17, 20)
TOOL_TO_PREGRASP = slice(20, 23)
TOOL_TO_TARGET = slice(23, 26)
FINGER_OPENING = 26
TARGET_YAW_SIN = 27
TARGET_YAW_COS = 28
TARGET_YAW4_SIN = 27
"""symmetric: sin(4 yaw) in place of the extended layout's sin(yaw)"""
TARGET_YAW4_COS = 28
FACE_YAW_ERROR = 29
"""symmetric: `kinematics.face_yaw_error` of the tool heading and the block yaw (rad, [-pi/4, pi/4))"""
TOOL_OBSERVATIONS = ("extended", "symmetric")
"""Layouts that need the tool pose (forward kinematics) and the finger opening."""


def write_extended(
    out: np.ndarray, target: np.ndarray, tool: np.ndarray, finger_opening: float, target_yaw: float
) -> None:
    """Fill the extended part (17-28) of `out` from the block centre, the tool point, the finger opening
    and the block yaw. The env and deployment both call it, so their layouts cannot drift apart."""
    _write_tool_part(out, target, tool, finger_opening)
    out[TARGET_YAW_SIN] = math.sin(target_yaw)
    out[TARGET_YAW_COS] = math.cos(target_yaw)


def write_symmetric(
    out: np.ndarray,
    target: np.ndarray,
    tool: np.ndarray,
    finger_opening: float,
    target_yaw: float,
    tool_heading: float,
) -> None:
    """Fill the symmetric part (17-29): as `write_extended` up to the finger opening, then sin and cos
    of 4 x the block yaw and the fingers' angle to the nearest face (`tool_heading`: world yaw of the
    tool x axis, `kinematics.tool_heading`). A cube turned by a quarter turn gives the same values."""
    _write_tool_part(out, target, tool, finger_opening)
    out[TARGET_YAW4_SIN] = math.sin(4.0 * target_yaw)
    out[TARGET_YAW4_COS] = math.cos(4.0 * target_yaw)
    out[FACE_YAW_ERROR] = face_yaw_error(tool_heading, target_yaw)


def write_tool_features(
    observation: str,
    out: np.ndarray,
    target: np.ndarray,
    tool: np.ndarray,
    finger_opening: float,
    target_yaw: float,
    tool_euler: np.ndarray | None,
) -> None:
    """The part after the first 17 values for `observation` (one of TOOL_OBSERVATIONS), from the tool
    point and Euler angles (`GraspScene.gripper_euler` convention; only "symmetric" reads them): one
    call for the env and deploy."""
    if observation == "symmetric":
        if tool_euler is None:
            raise ValueError("the symmetric observation needs the tool's Euler angles")
        write_symmetric(out, target, tool, finger_opening, target_yaw, tool_heading(tool_euler))
    else:
        write_extended(out, target, tool, finger_opening, target_yaw)


def _write_tool_part(out: np.ndarray, target: np.ndarray, tool: np.ndarray, finger_opening: float) -> None:
    out[TOOL_POSITION] = tool
    offset = target - tool
    out[TOOL_TO_TARGET] = offset
    offset[2] += PREGRASP_HEIGHT
    out[TOOL_TO_PREGRASP] = offset
    out[FINGER_OPENING] = finger_opening
