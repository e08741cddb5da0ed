"""PyRep/CoppeliaSim backend of the grasp scene (optional): the original's simulator.

Needs stepjam's PyRep (https://github.com/stepjam/PyRep, not the unrelated `pyrep` on PyPI), a
CoppeliaSim install named by COPPELIASIM_ROOT, and a scene file like the original's (a Sawyer with a
BaxterGripper, a proximity sensor between the fingers, a dining table and a cuboid `target`), given by
`scene_file` or the SAC_GRASP_PYREP_SCENE environment variable. PyRep is imported only in `launch`, so
the rest of the package works without it.
"""

from __future__ import annotations

import importlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sac_grasp_ros.scene.base import HOME_POSTURE, GraspScene
from sac_grasp_ros.scene.kinematics import damped_pinv

SCENE_ENV_VAR = "SAC_GRASP_PYREP_SCENE"
INSTALL_HINT = (
    "the pyrep backend needs stepjam's PyRep and CoppeliaSim: install CoppeliaSim, export "
    "COPPELIASIM_ROOT=<its directory> (and LD_LIBRARY_PATH=$COPPELIASIM_ROOT, QT_QPA_PLATFORM_PLUGIN_PATH="
    "$COPPELIASIM_ROOT), then pip install git+https://github.com/stepjam/PyRep.git "
    "(the PyPI package named 'pyrep' is a different project)"
)
# The original's workspace box in its scene frame (z = target height).
WORKSPACE_LOW = np.array([0.10, -0.30, 1.0])
WORKSPACE_HIGH = np.array([0.45, 0.30, 1.0])
GRIPPER_OPEN_WIDTH = 0.023
"""Finger opening (m) reported for a fully open gripper, to match the MuJoCo backend's units."""
GRIPPER_SPEED = 0.5
MAX_GRIPPER_STEPS = 20
LIFT_STEPS = 8
HOLD_STEPS = 2


@dataclass(frozen=True)
class PyRepObjectNames:
    """Names of the scene objects, as in the original program's scene."""

    left_pad: str = "BaxterGripper_leftPad"
    right_pad: str = "BaxterGripper_rightPad"
    proximity_sensor: str = "BaxterGripper_attachProxSensor"
    table: str = "diningTable"
    target: str = "target"


def _import(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise RuntimeError(f"cannot import {module}: {INSTALL_HINT}") from error


class PyRepGraspScene(GraspScene):
    """The grasp scene simulated by CoppeliaSim through PyRep (one `pr.step()` per control period)."""

    workspace_low = WORKSPACE_LOW
    workspace_high = WORKSPACE_HIGH

    def __init__(
        self,
        control_period: float = 0.05,
        headless: bool = True,
        scene_file: str | None = None,
        names: PyRepObjectNames | None = None,
    ) -> None:
        if control_period <= 0:
            raise ValueError(f"control_period must be positive, got {control_period}")
        self.control_period = float(control_period)
        self.headless = headless
        self.scene_file = scene_file
        self.names = names or PyRepObjectNames()
        self.initial_target = ((WORKSPACE_LOW + WORKSPACE_HIGH) / 2.0, 0.0)
        self._velocity_limit = 1.0
        self._pr: Any = None
        self._diverged = False

    # ----------------------------------------------------------------- life cycle
    def launch(self) -> None:
        if self._pr is not None:
            return
        scene_file = self.scene_file or os.environ.get(SCENE_ENV_VAR)
        if not scene_file:
            raise RuntimeError(
                f"the pyrep backend needs a CoppeliaSim scene file (.ttt) with a Sawyer, a BaxterGripper, "
                f"the objects {self.names}: pass scene_file or set {SCENE_ENV_VAR}"
            )
        if not Path(scene_file).is_file():
            raise RuntimeError(
                f"PyRep scene file not found: {scene_file} (from scene_file or {SCENE_ENV_VAR})"
            )
        pyrep = _import("pyrep")
        if not os.environ.get("COPPELIASIM_ROOT"):
            raise RuntimeError(f"COPPELIASIM_ROOT is not set: {INSTALL_HINT}")
        sawyer = _import("pyrep.robots.arms.sawyer")
        baxter = _import("pyrep.robots.end_effectors.baxter_gripper")
        shape = _import("pyrep.objects.shape")
        proximity = _import("pyrep.objects.proximity_sensor")

        pr = pyrep.PyRep()
        pr.launch(str(scene_file), headless=self.headless)
        pr.set_simulation_timestep(self.control_period)
        pr.start()
        self._pr = pr
        self.arm = sawyer.Sawyer()
        self.gripper = baxter.BaxterGripper()
        self.arm.set_control_loop_enabled(False)  # joint velocity control, as in the original
        self.arm.set_motor_locked_at_zero_velocity(True)
        self.tip = self.arm.get_tip()
        self.left_pad = shape.Shape(self.names.left_pad)
        self.right_pad = shape.Shape(self.names.right_pad)
        self.table = shape.Shape(self.names.table)
        self.target = shape.Shape(self.names.target)
        self.sensor = proximity.ProximitySensor(self.names.proximity_sensor)
        self.initial_target = (
            np.asarray(self.target.get_position(), dtype=float),
            float(self.target.get_orientation()[2]),
        )
        self._diverged = False

    def shutdown(self) -> None:
        if self._pr is not None:
            self._pr.stop()
            self._pr.shutdown()
            self._pr = None

    def _require(self) -> Any:
        if self._pr is None:
            raise RuntimeError("the PyRep scene is not launched: call launch() first")
        return self._pr

    # ----------------------------------------------------------------- state
    def reset(self, target_xyz: np.ndarray, target_yaw: float) -> None:
        self._require()
        self.arm.set_joint_target_velocities(np.zeros(7).tolist())
        self.arm.set_joint_positions(HOME_POSTURE.tolist(), disable_dynamics=True)
        self.target.set_position(np.asarray(target_xyz, dtype=float).tolist())
        self.target.set_orientation([0.0, 0.0, float(target_yaw)])
        self.target.reset_dynamic_object()
        self._actuate_gripper(1.0)
        self._diverged = False

    def set_velocity_limit(self, limit: float) -> None:
        self._velocity_limit = float(limit)

    def step(self, joint_velocities: np.ndarray) -> None:
        pr = self._require()
        limit = self._velocity_limit
        self.arm.set_joint_target_velocities(np.clip(joint_velocities, -limit, limit).tolist())
        pr.step()

    def joint_positions(self) -> np.ndarray:
        return np.asarray(self.arm.get_joint_positions(), dtype=float)

    def joint_velocities(self) -> np.ndarray:
        return np.asarray(self.arm.get_joint_velocities(), dtype=float)

    def gripper_position(self) -> np.ndarray:
        position = np.asarray(self.tip.get_position(), dtype=float)
        if not np.isfinite(position).all():
            self._diverged = True
        return position

    def gripper_euler(self) -> np.ndarray:
        return np.asarray(self.tip.get_orientation(), dtype=float)

    def gripper_opening(self) -> float:
        return float(np.mean(self.gripper.get_open_amount())) * GRIPPER_OPEN_WIDTH

    def target_pose(self) -> tuple[np.ndarray, float]:
        return (np.asarray(self.target.get_position(), dtype=float), float(self.target.get_orientation()[2]))

    def target_in_sensor(self) -> bool:
        return bool(self.sensor.is_detected(self.target))

    def left_pad_touches_table(self) -> bool:
        return bool(self.left_pad.check_collision(self.table))

    def pads_touch_target(self) -> tuple[bool, bool]:
        return bool(self.left_pad.check_collision(self.target)), bool(
            self.right_pad.check_collision(self.target)
        )

    # ----------------------------------------------------------------- grasp primitives
    def _actuate_gripper(self, amount: float) -> None:
        pr = self._require()
        self.arm.set_joint_target_velocities(np.zeros(7).tolist())
        for _ in range(MAX_GRIPPER_STEPS):
            done = self.gripper.actuate(amount, GRIPPER_SPEED)
            pr.step()
            if done:
                break

    def attempt_grasp(self, lift_height: float) -> bool:
        self._actuate_gripper(0.0)
        if not all(self.pads_touch_target()):
            return False
        start_z = float(self.target.get_position()[2])
        twist = np.array([0.0, 0.0, lift_height / (LIFT_STEPS * self.control_period), 0.0, 0.0, 0.0])
        for _ in range(LIFT_STEPS):
            self.step(damped_pinv(self.tool_jacobian()) @ twist)
        for _ in range(HOLD_STEPS):
            self.step(np.zeros(7))
        rose = float(self.target.get_position()[2]) - start_z > 0.5 * lift_height
        return bool(rose and all(self.pads_touch_target()) and self.target_in_sensor())

    def open_gripper(self) -> None:
        self._actuate_gripper(1.0)

    # ----------------------------------------------------------------- kinematics
    def tool_jacobian(self) -> np.ndarray:
        # PyRep returns CoppeliaSim's IK group Jacobian as (joints, 6): one row per joint.
        return np.asarray(self.arm.get_jacobian(), dtype=float).T

    def solve_ik(
        self,
        position: np.ndarray,
        yaw: float,
        gain: float,
        max_iterations: int,
        tolerance: float,
        yaw_weight: float,
    ) -> np.ndarray:
        # CoppeliaSim's own Jacobian IK (its settings live in the scene's IK group).
        errors = _import("pyrep.errors")
        try:
            solution = self.arm.solve_ik_via_jacobian(
                np.asarray(position, dtype=float).tolist(), euler=[math.pi, 0.0, float(yaw)]
            )
        except errors.IKError:
            return self.joint_positions()
        return np.asarray(solution, dtype=float)

    def diverged(self) -> bool:
        return self._diverged
