"""Putting the simulated arm where a test needs it, through the scene's public API."""

from __future__ import annotations

import numpy as np

from sac_grasp_ros.scene.base import GraspScene


def place_tool(
    scene: GraspScene,
    position: np.ndarray,
    yaw: float = 0.0,
    *,
    max_iterations: int = 200,
    tolerance: float = 1e-4,
    within: float | None = 2e-3,
) -> None:
    """Put the arm at rest with the tool at `position`, pointing down with Euler yaw `yaw`, without
    simulating the way there: the scene's IK, then `GraspScene.set_arm_state`. Asserts the tool got
    within `within` m of `position` (None: no check)."""
    q = scene.solve_ik(
        position, yaw, gain=0.5, max_iterations=max_iterations, tolerance=tolerance, yaw_weight=1.0
    )
    scene.set_arm_state(q)
    if within is not None:
        assert np.linalg.norm(scene.gripper_position() - position) < within
