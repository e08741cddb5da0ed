"""Simulator backends of the Sawyer grasp scene behind one interface (`GraspScene`).

Backends are imported lazily so that the optional PyRep/CoppeliaSim stack is only needed when chosen.
"""

from __future__ import annotations

import typing
from typing import Literal

from sac_grasp_ros.scene.base import FINGER_JOINT_NAMES, HOME_POSTURE, JOINT_NAMES, GraspScene

Backend = Literal["mujoco", "pyrep"]
"""a simulator backend of the scene"""
BACKENDS: tuple[str, ...] = typing.get_args(Backend)

__all__ = [
    "BACKENDS",
    "FINGER_JOINT_NAMES",
    "HOME_POSTURE",
    "JOINT_NAMES",
    "Backend",
    "GraspScene",
    "make_scene",
]


def make_scene(backend: str = "mujoco", control_period: float = 0.05, headless: bool = True) -> GraspScene:
    """Create (not yet launched) scene for `backend`; `headless` only matters for PyRep's GUI."""
    if backend == "mujoco":
        from sac_grasp_ros.scene.mujoco_scene import MujocoGraspScene

        return MujocoGraspScene(control_period=control_period)
    if backend == "pyrep":
        from sac_grasp_ros.scene.pyrep_scene import PyRepGraspScene

        return PyRepGraspScene(control_period=control_period, headless=headless)
    raise ValueError(f"unknown scene backend {backend!r}; choose one of {BACKENDS}")
