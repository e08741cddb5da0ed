"""Deployment core (no ROS): rebuild the env's observation from robot state and filter the joint
velocity commands a trained policy gives before they reach a ros2_control velocity controller.

The policy node (sac_grasp_ros.nodes.policy_node) only translates messages to and from these pieces
and the policy (`sac_grasp_ros.policy.load_policy`: a checkpoint directory or an exported TorchScript
file; its action times `max_joint_velocity` is the command in rad/s):
- `ObservationBuilder`: joint positions/velocities (+ finger positions) and the block pose -> the
  exact observation `GraspEnv` returns, for every observation mode.
- `JointStateReader`: the arm's (and fingers') values out of a JointState's lists.
- `VelocityCommandFilter`: clamp to the velocity limit, limit the change per second (acceleration),
  and stop at once when the inputs are stale or not finite.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sac_grasp_ros.envs.observation import (
    JOINT_POSITIONS,
    JOINT_VELOCITIES,
    OBSERVATION_SIZES,
    TARGET_POSITION,
    TOOL_OBSERVATIONS,
    write_tool_features,
)
from sac_grasp_ros.scene.base import FINGER_JOINT_NAMES, JOINT_NAMES
from sac_grasp_ros.scene.kinematics import euler_from_matrix


# ------------------------------------------------------------------------------------- observation
class ObservationBuilder:
    """Rebuilds `GraspEnv`'s observation from what a robot publishes.

    "original" needs only joint positions, velocities and the block centre. "extended" and "symmetric"
    also need the tool pose, computed by forward kinematics on the same MuJoCo model the env simulates,
    and the finger opening; "symmetric" turns the block's yaw (from the PoseStamped orientation) and
    the tool's heading into the quarter-turn symmetric features. The env reads the tool pose from
    MuJoCo's kinematics of the last physics substep, i.e. from the joint positions one physics step
    (2 ms) before the reported ones; the builder evaluates the kinematics at q - timestep * qdot (exact
    for hinge joints under MuJoCo's integrators) so a deployed policy sees the observation it was
    trained on.
    """

    def __init__(self, observation: str = "original") -> None:
        if observation not in OBSERVATION_SIZES:
            raise ValueError(f"observation must be one of {sorted(OBSERVATION_SIZES)}, got {observation!r}")
        self.observation = observation
        self.size = OBSERVATION_SIZES[observation]
        self.needs_fingers = observation in TOOL_OBSERVATIONS
        self._model: Any = None
        if self.needs_fingers:
            self._build_kinematics()

    def _build_kinematics(self) -> None:
        import mujoco

        from sac_grasp_ros.scene import mujoco_model as mm

        model = mm.build_model()  # built once: compiling loads the meshes
        self._mujoco = mujoco
        self._model = model
        self._data = mujoco.MjData(model)
        self._arm_qpos = np.array([model.joint(j).qposadr[0] for j in mm.NAMES.arm_joints])
        self._finger_qpos = np.array([model.joint(j).qposadr[0] for j in mm.NAMES.finger_joints])
        self._grip_site = int(model.site(mm.NAMES.grip_site).id)
        self._timestep = float(model.opt.timestep)

    def tool_pose(
        self, joint_positions: np.ndarray, joint_velocities: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Tool point and Euler angles (`GraspScene.gripper_euler`'s convention), as the env observes them."""
        if self._model is None:
            self._build_kinematics()
        data = self._data
        data.qpos[self._arm_qpos] = np.asarray(
            joint_positions, dtype=np.float64
        ) - self._timestep * np.asarray(joint_velocities, dtype=np.float64)
        self._mujoco.mj_kinematics(self._model, data)
        return data.site_xpos[self._grip_site].copy(), euler_from_matrix(data.site_xmat[self._grip_site])

    def build(
        self,
        joint_positions: np.ndarray,
        joint_velocities: np.ndarray,
        target_xyz: np.ndarray,
        target_yaw: float,
        finger_positions: np.ndarray | None = None,
    ) -> np.ndarray:
        """The float32 observation; `finger_positions` = (r, l) slide positions (m), for the layouts with
        tool features only; `target_yaw` (rad) from the block pose's orientation."""
        q = np.asarray(joint_positions, dtype=np.float64).reshape(-1)
        qd = np.asarray(joint_velocities, dtype=np.float64).reshape(-1)
        target = np.asarray(target_xyz, dtype=np.float64).reshape(-1)
        if q.shape != (7,) or qd.shape != (7,) or target.shape != (3,):
            raise ValueError(
                f"expected 7 joint positions, 7 velocities and a 3-vector target, got "
                f"{q.shape}, {qd.shape}, {target.shape}"
            )
        obs = np.empty(self.size, dtype=np.float64)
        obs[JOINT_POSITIONS] = q
        obs[JOINT_VELOCITIES] = qd
        obs[TARGET_POSITION] = target
        if self.needs_fingers:
            if finger_positions is None or np.shape(finger_positions) != (2,):
                raise ValueError(f"the {self.observation} observation needs the two finger positions (r, l)")
            opening = float(finger_positions[1]) - float(finger_positions[0])
            tool, euler = self.tool_pose(q, qd)
            write_tool_features(self.observation, obs, target, tool, opening, float(target_yaw), euler)
        return obs.astype(np.float32)


class JointStateReader:
    """Picks the Sawyer joints (and optionally the fingers) out of a JointState's name/position/velocity
    lists, in any order; the index map is cached per name list, since drivers publish the same one."""

    def __init__(self, need_fingers: bool) -> None:
        self.wanted = list(JOINT_NAMES) + (list(FINGER_JOINT_NAMES) if need_fingers else [])
        self._names: tuple[str, ...] | None = None
        self._indices: list[int] | None = None

    def read(
        self, names: list[str], positions: Any, velocities: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(arm positions[7], velocities[7], finger positions[2] or None); ValueError names what is wrong."""
        key = tuple(names)
        if key != self._names:
            lookup = {name: i for i, name in enumerate(names)}
            missing = [name for name in self.wanted if name not in lookup]
            if missing:
                raise ValueError(f"joint_states lacks joint(s) {missing} (has {list(names)})")
            self._names, self._indices = key, [lookup[name] for name in self.wanted]
        positions = np.asarray(positions, dtype=np.float64)
        velocities = np.asarray(velocities, dtype=np.float64)
        if positions.shape != (len(names),):
            raise ValueError(f"joint_states has {positions.size} positions for {len(names)} names")
        arm = self._indices[:7]
        if velocities.shape != (len(names),):
            raise ValueError(f"joint_states has {velocities.size} velocities for {len(names)} names")
        fingers = positions[self._indices[7:]] if len(self._indices) > 7 else None
        q, qd = positions[arm], velocities[arm]
        if not (np.isfinite(q).all() and np.isfinite(qd).all()) or (
            fingers is not None and not np.isfinite(fingers).all()
        ):
            raise ValueError("joint_states contains NaN or inf")
        return q, qd, fingers


# ------------------------------------------------------------------------------------- command filter
@dataclass
class VelocityCommandFilter:
    """Makes a policy's joint velocities safe to send to a velocity controller.

    Each `update` clamps the wanted velocities to +/- `max_velocity`, then moves the previous command
    towards them by at most `max_acceleration` * elapsed time per joint (the rate limit; the elapsed
    time is capped at `max_interval` so a late tick cannot take a big jump). Stale or non-finite
    input gives zeros at once: a stop must not wait for a ramp, and the next start ramps up from rest.
    """

    num_joints: int = 7
    max_velocity: float | np.ndarray = 1.0
    """rad/s, a scalar or one value per joint"""
    max_acceleration: float | np.ndarray = 10.0
    """rad/s^2, a scalar or one per joint; inf disables the rate limit"""
    max_interval: float = 0.1
    """s: cap on the elapsed time used by the rate limit"""

    def __post_init__(self) -> None:
        self.max_velocity = self._per_joint("max_velocity", self.max_velocity, allow_inf=False)
        self.max_acceleration = self._per_joint("max_acceleration", self.max_acceleration, allow_inf=True)
        if not (self.max_interval > 0 and math.isfinite(self.max_interval)):
            raise ValueError(f"max_interval must be a finite number > 0 s, got {self.max_interval!r}")
        self.command = np.zeros(self.num_joints)
        self._last_time: float | None = None

    def _per_joint(self, name: str, value: Any, allow_inf: bool) -> np.ndarray:
        values = np.broadcast_to(np.asarray(value, dtype=np.float64), (self.num_joints,)).copy()
        if np.isnan(values).any() or (values <= 0).any() or (not allow_inf and np.isinf(values).any()):
            raise ValueError(f"{name} must be {'> 0' if allow_inf else 'finite and > 0'}, got {value!r}")
        return values

    def update(self, wanted: np.ndarray | None, now: float) -> np.ndarray:
        """The command to send at time `now` (s, monotonic); `wanted` None means the inputs are stale."""
        elapsed = (
            self.max_interval if self._last_time is None else min(now - self._last_time, self.max_interval)
        )
        self._last_time = now
        wanted_array = None if wanted is None else np.asarray(wanted, dtype=np.float64).reshape(-1)
        if (
            wanted_array is None
            or wanted_array.shape != (self.num_joints,)
            or not np.isfinite(wanted_array).all()
        ):
            self.command = np.zeros(self.num_joints)
            return self.command.copy()
        target = np.clip(wanted_array, -self.max_velocity, self.max_velocity)
        acceleration = self.max_acceleration
        step = np.where(np.isinf(acceleration), np.inf, acceleration * max(elapsed, 0.0))
        self.command = self.command + np.clip(target - self.command, -step, step)
        return self.command.copy()

    def reset(self) -> None:
        """Back to rest (zero command, no previous tick)."""
        self.command = np.zeros(self.num_joints)
        self._last_time = None
