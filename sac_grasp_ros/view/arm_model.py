"""The scene's geometry for the browser view, from the same compiled MjModel the simulator steps.

The view gets joint angles (sensor_msgs/JointState) and the block pose, not the simulator's state:
`ScenePose` keeps an MjData in sync with them and runs `mj_kinematics` for the body poses, so the
picture is the model's own forward kinematics, meshes included (`visual_geoms`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sac_grasp_ros.scene import mujoco_model as mm
from sac_grasp_ros.scene.base import FINGER_JOINT_NAMES

PRIMITIVE_BOX, PRIMITIVE_CYLINDER, PRIMITIVE_SPHERE, PRIMITIVE_CAPSULE, MESH = 6, 5, 2, 3, 7
"""mjtGeom values used here (mjGEOM_BOX, ...)"""


@dataclass
class VisualGeom:
    """One visible piece: triangles in its body's frame, and a colour."""

    name: str
    body: int
    vertices: np.ndarray
    faces: np.ndarray
    rgba: np.ndarray


def _primitive(kind: int, size: np.ndarray) -> Any:
    import trimesh

    if kind == PRIMITIVE_BOX:
        return trimesh.creation.box(extents=2 * size)
    if kind == PRIMITIVE_CYLINDER:
        return trimesh.creation.cylinder(radius=size[0], height=2 * size[1], sections=24)
    if kind == PRIMITIVE_SPHERE:
        return trimesh.creation.icosphere(subdivisions=2, radius=size[0])
    if kind == PRIMITIVE_CAPSULE:
        return trimesh.creation.capsule(radius=size[0], height=2 * size[1], count=[12, 12])
    return None


def _transform(vertices: np.ndarray, pos: np.ndarray, quat_wxyz: np.ndarray) -> np.ndarray:
    w, x, y, z = quat_wxyz
    rotation = np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )
    return vertices @ rotation.T + pos


def visual_geoms(model: Any) -> list[VisualGeom]:
    """The geoms a viewer should draw: the robot's visual meshes (group 1: its collision shapes are
    left out) and the world's primitives (pedestal, table, block); not the floor plane."""
    geoms = []
    for g in range(model.ngeom):
        kind, body = int(model.geom_type[g]), int(model.geom_bodyid[g])
        body_name = model.body(body).name
        robot = body_name.startswith((mm.ROBOT_PREFIX, mm.GRIPPER_PREFIX))
        material = int(model.geom_matid[g])
        rgba = model.mat_rgba[material] if material >= 0 else model.geom_rgba[g]
        if rgba[3] <= 0:
            continue
        if kind == MESH and int(model.geom_group[g]) == 1:
            mesh = int(model.geom_dataid[g])
            start, count = int(model.mesh_vertadr[mesh]), int(model.mesh_vertnum[mesh])
            vertices = np.array(model.mesh_vert[start : start + count], dtype=np.float64)
            first, faces_n = int(model.mesh_faceadr[mesh]), int(model.mesh_facenum[mesh])
            faces = np.array(model.mesh_face[first : first + faces_n], dtype=np.int64)
        elif not robot and (shape := _primitive(kind, model.geom_size[g])) is not None:
            vertices, faces = np.asarray(shape.vertices), np.asarray(shape.faces)
        else:
            continue
        vertices = _transform(vertices, model.geom_pos[g], model.geom_quat[g])
        name = model.geom(g).name or f"geom{g}"
        geoms.append(VisualGeom(name, body, vertices.astype(np.float32), faces, np.array(rgba)))
    return geoms


class ScenePose:
    """An MjData posed from joint states and a block pose; `body_poses()` after `update()`."""

    def __init__(self, model: Any | None = None) -> None:
        import mujoco

        self._mujoco = mujoco
        self.model = model if model is not None else mm.build_model()
        self.data = mujoco.MjData(self.model)
        names = mm.NAMES
        joint_names = [*mm.ARM_JOINTS, *FINGER_JOINT_NAMES]
        full = [*names.arm_joints, *(mm.GRIPPER_PREFIX + f for f in FINGER_JOINT_NAMES)]
        self._qpos = {
            short: int(self.model.joint(name).qposadr[0])
            for short, name in zip(joint_names, full, strict=True)
        }
        block = int(self.model.joint(names.block_joint).qposadr[0])
        self._block = slice(block, block + 7)
        mujoco.mj_kinematics(self.model, self.data)

    def set_joints(self, names: list[str], positions: list[float]) -> int:
        """Joint positions by JointState name (right_j0.., r_finger_joint, l_finger_joint); returns how
        many were known (others, e.g. from another robot, are ignored)."""
        known = 0
        for name, value in zip(names, positions, strict=False):
            address = self._qpos.get(name)
            if address is not None and np.isfinite(value):
                self.data.qpos[address] = value
                known += 1
        return known

    def set_block(self, xyz: np.ndarray, quat_wxyz: np.ndarray) -> None:
        self.data.qpos[self._block] = np.concatenate([xyz, quat_wxyz])

    def update(self) -> None:
        self._mujoco.mj_kinematics(self.model, self.data)

    def body_poses(self) -> tuple[np.ndarray, np.ndarray]:
        """(positions [nbody, 3], orientations wxyz [nbody, 4]) in the world frame."""
        return self.data.xpos.copy(), self.data.xquat.copy()
