"""The layout of `GraspEnv`'s observation (table: GraspEnv's docstring, "Observation Space"), defined
once for the env and for deployment, which rebuilds the same vector from what a robot publishes
(`deploy.ObservationBuilder`). Light: numpy only, no simulator.

The first 17 values (the original program's observation) are what `GraspScene.write_observation`
writes; "extended" appends the tool point and the vectors a grasp needs (`write_extended`).
"""

from __future__ import annotations

import math

import numpy as np

PREGRASP_HEIGHT = 0.08
"""The reward's reference point is this far above the block centre (m), as in the original."""

OBSERVATION_SIZES = {"original": 17, "extended": 29}
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


def write_extended(
    out: np.ndarray, target: np.ndarray, tool: np.ndarray, finger_opening: float, target_yaw: float
) -> None:
    """Fill the extended part (17-28) of `out` from the block centre, the tool point, the finger opening
    and the block yaw. The env and deployment both call it, so their layouts cannot drift apart."""
    out[TOOL_POSITION] = tool
    offset = target - tool
    out[TOOL_TO_TARGET] = offset
    offset[2] += PREGRASP_HEIGHT
    out[TOOL_TO_PREGRASP] = offset
    out[FINGER_OPENING] = finger_opening
    out[TARGET_YAW_SIN] = math.sin(target_yaw)
    out[TARGET_YAW_COS] = math.cos(target_yaw)
