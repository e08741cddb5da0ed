"""A Jacobian-based scripted controller that solves the grasp task through the public env API.

It moves the tool point above the block (the pre-grasp point), descends to the grasp point and lets the
environment's automatic grasp attempt close the fingers. It only reads env state and returns an action
for `env.step`, so the episodes it produces are valid demonstrations for learning.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sac_grasp_ros.envs.grasp_env import GRASP_OFFSET, PREGRASP_HEIGHT, GraspEnv
from sac_grasp_ros.scene.base import FINGERTIP_REACH, PAD_GAP_OPEN
from sac_grasp_ros.scene.kinematics import euler_to_matrix, face_yaw_error, tool_heading, wrap_angle

WRIST_JOINT = 6
"""right_j6, the wrist roll: with the tool pointing down it turns the fingers about the vertical."""
WRIST_LIMIT = 4.7124
"""|right_j6| limit (rad, Sawyer's +/- 270 degrees). The home posture has it at 4.1056, so the fingers
can only turn about 35 degrees one way before the wrist stops."""
WRIST_MARGIN = 0.15
"""rad kept clear of the wrist limit when choosing which pair of faces to grasp: with 0.05 the fingers
closed 10-18 degrees off the faces in 2 of 100 random placements (the wrist stopped short); with 0.15
in none (mean 0.6 degrees), for 0.2 more steps on average."""

PAD_CLEARANCE_MARGIN = 0.001
"""m kept between a descending pad and the block's face."""
TOP_CLEARANCE = 0.005
"""m the fingertips stay above the block's top until they are aligned with its faces."""


class ScriptedGrasper:
    """Resolved-rate controller: tool velocity towards the current goal, mapped to joint velocities with
    the damped pseudo-inverse of the scene's tool Jacobian, and returned as the env's normalised action."""

    def __init__(
        self,
        env: Any,
        position_gain: float = 4.0,
        max_speed: float = 0.4,
        orientation_gain: float = 3.0,
        align_tolerance: float = 0.012,
        damping: float = 1e-3,
    ) -> None:
        self.env: GraspEnv = env.unwrapped
        self.position_gain = position_gain
        self.max_speed = max_speed
        """Cap on the commanded tool speed (m/s): slow enough that the descent does not bump the block."""
        self.orientation_gain = orientation_gain
        self.align_tolerance = align_tolerance
        """Horizontal error (m) under which the tool descends from the pre-grasp point."""
        self.damping = damping
        self._faces: int | None = None
        """choose_faces of the current episode"""

    def goal(self) -> np.ndarray:
        """Pre-grasp point until the tool is above the block, then the grasp point."""
        env = self.env
        tool = env.gripper_position()
        target, _ = env.observed_target_pose()  # what its sensors report, like a policy's observation
        dx, dy = float(tool[0] - target[0]), float(tool[1] - target[1])
        height = GRASP_OFFSET if math.hypot(dx, dy) < self.align_tolerance else PREGRASP_HEIGHT
        # The fingertips pass beside the block only while the tool is off its centre by less than the
        # open pads' clearance along the closing axis; until then they stay above the block's top.
        edge = env.perturbation.block.edge
        heading = tool_heading(env.scene.gripper_euler())
        closing_error = abs(dx * math.cos(heading) + dy * math.sin(heading))
        if closing_error > (PAD_GAP_OPEN - edge) / 2 - PAD_CLEARANCE_MARGIN:
            height = max(height, edge / 2 + FINGERTIP_REACH + TOP_CLEARANCE)
        return target + np.array([0.0, 0.0, height])

    def choose_faces(self, heading: float, block_yaw: float) -> int:
        """Quarter turns from the block's yaw to the face normal the fingers turn to: the nearest, unless
        the wrist would pass its limit on the way; then the next pair of faces the other way round
        (a longer turn, but one the wrist can make). Chosen once per episode, so it cannot flip."""
        nearest = heading - face_yaw_error(heading, block_yaw)
        # Pointing down, the wrist turns the heading one for one the other way: d(j6) = -d(heading).
        wrist = float(self.env.joint_positions()[WRIST_JOINT]) - (nearest - heading)
        if abs(wrist) > WRIST_LIMIT - WRIST_MARGIN:
            nearest += math.copysign(math.pi / 2, heading - nearest)
        return round((nearest - block_yaw) / (math.pi / 2))

    def act(self, obs: np.ndarray | None = None) -> np.ndarray:
        """Action for the current env state (`obs` is accepted for policy-like call sites)."""
        env = self.env
        scene = env.scene
        tool = env.gripper_position()
        error = self.goal() - tool
        velocity = self.position_gain * error
        speed = float(np.linalg.norm(velocity))
        if speed > self.max_speed:
            velocity *= self.max_speed / speed
        _, block_yaw = env.observed_target_pose()
        euler = scene.gripper_euler()
        # The fingers' wanted heading, as the tool's Euler yaw, which turns the other way with the tool
        # pointing down (kinematics.tool_heading).
        heading = tool_heading(euler)
        if self._faces is None or self.env.episode_steps == 0:
            self._faces = self.choose_faces(heading, block_yaw)
        yaw = euler[2] - wrap_angle(block_yaw + self._faces * (math.pi / 2) - heading)
        current = euler_to_matrix(euler)
        desired = euler_to_matrix(np.array([math.pi, 0.0, yaw]))
        rotation_error = 0.5 * sum(np.cross(current[:, i], desired[:, i]) for i in range(3))
        if env.config.control_mode == "end_position":
            scale = env.config.end_position_scale
            move = np.append(error, wrap_angle(yaw - euler[2])) / scale
            return np.clip(move, -1.0, 1.0).astype(np.float32)
        twist = np.concatenate([velocity, self.orientation_gain * rotation_error])
        jac = scene.tool_jacobian()
        joint_velocity = jac.T @ np.linalg.solve(jac @ jac.T + self.damping * np.eye(6), twist)
        action = joint_velocity / env.config.max_joint_velocity
        peak = float(np.max(np.abs(action)))
        if peak > 1.0:  # scale the whole vector so the tool keeps its direction
            action /= peak
        return action.astype(np.float32)
