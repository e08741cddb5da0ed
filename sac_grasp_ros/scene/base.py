"""The interface every simulator backend offers to the grasp environment.

The environment only talks to this interface, so the task logic (rewards, grasp attempts, episode ends)
is written once and the MuJoCo and PyRep backends only translate primitive operations.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

JOINT_NAMES: tuple[str, ...] = tuple(f"right_j{i}" for i in range(7))
"""Sawyer arm joints, base to wrist, as named by Rethink (and by ROS `sensor_msgs/JointState`)."""

FINGER_JOINT_NAMES: tuple[str, str] = ("r_finger_joint", "l_finger_joint")
"""The gripper's slide joints as published in joint_states (after the arm's)."""

HOME_POSTURE = np.array([0.0018, -1.4225, 0.7043, 2.5431, 2.9725, -0.4990, 4.1056])
"""The original's home posture (rad): gripper pointing down about 0.2 m above the block."""

GRAVITY = 9.81
GRIP_FORCE = 20.0
"""N each finger of the Rethink electric gripper presses with (the force limit of its finger servos in
robosuite's model). A held block needs 2 * friction * GRIP_FORCE >= mass * g."""
PAD_GAP_OPEN = 0.0601
"""m between the inner faces of the open finger pads (the gripper's stroke with standard fingers)."""
FINGERTIP_REACH = 0.0139
"""m the fingertips reach below the tool point (the grip site between them)."""
MIN_BLOCK_EDGE = 0.02
"""m: at the grasp point the fingertips reach 8.9 mm below the block centre, so a block under ~1.8 cm
puts them in the table."""
MAX_BLOCK_EDGE = 0.05
"""m: the open pads leave 5 mm each side of a 5 cm block; a wider one does not fit between them."""
HOLD_MARGIN = 1.5
"""Safety factor of the grip's friction budget under which a block counts as too heavy to hold."""


@dataclass(frozen=True)
class BlockProperties:
    """The block to grasp: a cube of `edge` metres, `mass` kg and pad friction `friction`."""

    mass: float = 0.05
    edge: float = 0.04
    friction: float = 1.5

    def friction_budget(self) -> float:
        """How many times the grip's friction (both pads at GRIP_FORCE) carries the block's weight."""
        return 2.0 * self.friction * GRIP_FORCE / (self.mass * GRAVITY)

    def check(self) -> None:
        """Raise ValueError for a block the gripper cannot physically hold or fit."""
        for name in ("mass", "edge", "friction"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"block {name} must be a finite number, got {value!r}")
        if not MIN_BLOCK_EDGE <= self.edge <= MAX_BLOCK_EDGE:
            raise ValueError(
                f"block edge {self.edge:g} m is outside [{MIN_BLOCK_EDGE:g}, {MAX_BLOCK_EDGE:g}] m: a "
                f"smaller block puts the fingertips in the table, a larger one does not fit between the "
                f"open pads ({PAD_GAP_OPEN * 100:.1f} cm apart)"
            )
        if not 0.0 < self.friction <= 2.0:
            raise ValueError(f"block friction must be in (0, 2], got {self.friction:g}")
        if not self.mass > 0.0:
            raise ValueError(f"block mass must be > 0 kg, got {self.mass:g}")
        if self.friction_budget() < 1.0:
            raise ValueError(
                f"a {self.mass:g} kg block at friction {self.friction:g} cannot be held: the pads' friction "
                f"2 * {self.friction:g} * {GRIP_FORCE:g} N = {2 * self.friction * GRIP_FORCE:.1f} N is less "
                f"than its weight {self.mass * GRAVITY:.1f} N"
            )


@dataclass(frozen=True)
class ServoProperties:
    """Scales of the arm's joint-velocity servos against the nominal Sawyer model: `gain` multiplies
    their stiffness kp, `damping` their damping kv and the joints' passive damping."""

    gain: float = 1.0
    damping: float = 1.0

    def check(self) -> None:
        """Raise ValueError for a scale that is not a positive finite number."""
        for name in ("gain", "damping"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
                raise ValueError(f"servo {name} scale must be a positive finite number, got {value!r}")


class GraspScene(ABC):
    """A Sawyer arm with a two-finger gripper, a table and one block, driven by joint velocities.

    Positions are metres in the scene's world frame, angles radians. `step` advances the simulation by
    one control period; grasp primitives (`attempt_grasp`, `open_gripper`) may take longer because they
    run a whole closing-and-lifting manoeuvre.
    """

    joint_names: tuple[str, ...] = JOINT_NAMES
    control_period: float
    """Simulated seconds advanced by one `step`."""
    workspace_low: np.ndarray
    """Lower corner (x, y, z) of the box in which targets are placed (z = block centre on the table)."""
    workspace_high: np.ndarray
    initial_target: tuple[np.ndarray, float]
    """Target pose used by a fixed-target reset: (xyz, yaw)."""

    @abstractmethod
    def launch(self) -> None:
        """Start the simulator (idempotent): load or build the scene."""

    def configure(self, block: BlockProperties, servos: ServoProperties) -> None:
        """Use this block and these servo scales from the next reset on; backends that cannot change
        them accept only the defaults."""
        if block != BlockProperties() or servos != ServoProperties():
            raise ValueError(f"the {type(self).__name__} backend has a fixed block and servos")

    @abstractmethod
    def reset(self, target_xyz: np.ndarray, target_yaw: float) -> None:
        """Arm to the home posture at rest, gripper open, block at the given pose on the table."""

    @abstractmethod
    def step(self, joint_velocities: np.ndarray) -> None:
        """Command 7 joint velocities (rad/s, clamped to +/- the velocity limit) for one control period
        and advance the simulation."""

    def advance(self, joint_velocities: np.ndarray, physics_steps: int) -> None:
        """Command 7 joint velocities for `physics_steps` steps of the physics engine (part of a control
        period: what a delayed command needs); backends that only step whole periods refuse."""
        raise ValueError(f"the {type(self).__name__} backend steps whole control periods only")

    def set_arm_state(self, positions: np.ndarray, velocities: np.ndarray | None = None) -> None:
        """Put the arm at these joint positions (and velocities, else at rest), servos holding them."""
        raise ValueError(f"the {type(self).__name__} backend cannot set the arm's state")

    def set_target_pose(self, xyz: np.ndarray, yaw: float) -> None:
        """Put the block at this pose (centre, yaw) and at rest, without simulating the way there."""
        raise ValueError(f"the {type(self).__name__} backend cannot move the block")

    def joint_limits(self) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) position limits of the arm joints (rad)."""
        raise ValueError(f"the {type(self).__name__} backend does not report joint limits")

    @abstractmethod
    def set_velocity_limit(self, limit: float) -> None:
        """Clamp joint velocity commands to +/- `limit` rad/s from now on."""

    def write_observation(self, out: np.ndarray) -> None:
        """Write joint positions, joint velocities and block centre into `out[0:17]` (the original
        observation); backends may override with something cheaper than the accessors."""
        out[0:7] = self.joint_positions()
        out[7:14] = self.joint_velocities()
        out[14:17] = self.target_position()

    @abstractmethod
    def joint_positions(self) -> np.ndarray:
        """Arm joint positions (rad), shape (7,)."""

    @abstractmethod
    def joint_velocities(self) -> np.ndarray:
        """Arm joint velocities (rad/s), shape (7,)."""

    @abstractmethod
    def gripper_position(self) -> np.ndarray:
        """Tool point between the fingertips, shape (3,); NaN when the simulation blew up."""

    @abstractmethod
    def gripper_euler(self) -> np.ndarray:
        """Tool frame orientation as intrinsic x-y-z Euler angles (CoppeliaSim's convention); the tool z
        axis points out of the gripper, so pointing straight down with yaw y reads [pi, 0, y]."""

    @abstractmethod
    def gripper_opening(self) -> float:
        """Distance between the finger slide positions (m): about 0.023 open, negative when closed on
        nothing."""

    def finger_joint_state(self) -> tuple[list[float], list[float]] | None:
        """(positions, velocities) of the FINGER_JOINT_NAMES slide joints (m, m/s), for joint_states;
        None from a backend that does not simulate them (the extended observation then cannot be
        rebuilt from joint_states)."""
        return None

    @abstractmethod
    def target_pose(self) -> tuple[np.ndarray, float]:
        """Block centre (3,) and yaw (rad)."""

    def target_position(self) -> np.ndarray:
        """Block centre (3,); backends may override with something cheaper than `target_pose`."""
        return self.target_pose()[0]

    @abstractmethod
    def target_in_sensor(self) -> bool:
        """Proximity check: is the block between the open fingers (where closing them would grip it)?"""

    @abstractmethod
    def left_pad_touches_table(self) -> bool:
        """Whether the left finger pad is in contact with the table (the original's table penalty)."""

    @abstractmethod
    def pads_touch_target(self) -> tuple[bool, bool]:
        """(left pad, right pad) in contact with the block."""

    @abstractmethod
    def attempt_grasp(self, lift_height: float) -> bool:
        """Close the gripper, lift the hand by `lift_height` m and report whether the block is held
        (both pads on it and it rose with the hand). Leaves the gripper closed."""

    @abstractmethod
    def open_gripper(self) -> None:
        """Open the fingers and let them settle (after a failed grasp attempt)."""

    @abstractmethod
    def solve_ik(
        self,
        position: np.ndarray,
        yaw: float,
        gain: float,
        max_iterations: int,
        tolerance: float,
        yaw_weight: float,
    ) -> np.ndarray:
        """Joint positions that put the tool at `position` pointing down with `yaw`, by an iterative
        Jacobian loop (step `gain`, yaw error weighted by `yaw_weight`) started at the current posture,
        without moving the arm; stops when the error falls below `tolerance` times the initial error
        (best effort: returns the last iterate)."""

    @abstractmethod
    def tool_jacobian(self) -> np.ndarray:
        """Jacobian (6, 7) of the tool point: rows linear (x, y, z) then angular velocity, columns arm
        joints, in the world frame at the current state."""

    @abstractmethod
    def diverged(self) -> bool:
        """Whether the simulation blew up since the last reset (NaN/instability)."""

    @abstractmethod
    def shutdown(self) -> None:
        """Release the simulator (idempotent)."""
