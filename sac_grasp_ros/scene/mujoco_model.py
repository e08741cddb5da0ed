"""Build the MuJoCo Sawyer grasp scene with `mujoco.MjSpec` from the model files in the robosuite wheel.

The scene is composed at start-up and never saved to XML: a saved composite loses the per-part mesh
directories. robosuite is only a source of model files here and is never imported.

World frame: floor at z = 0, arm base on a pedestal at the origin (z = 0.912, as in robosuite's table
arena), table top at z = 0.8 in front of the arm (+x), block resting on the table.

Contact and solver settings, chosen by measurement (`bench/grasp_physics.py`: the scripted grasper
closes, lifts the block 10 cm and holds it 10 s, over random placements at the corners of block mass
20 g - 1 kg, edge 3 - 5 cm, friction 0.3 - 1.5):
- Elliptic friction cones with `impratio` 10 and stiff finger contacts (solref 0.004 1, solimp 0.95
  0.99 0.001, as MuJoCo Menagerie's parallel grippers): with MuJoCo's default impratio 1 and soft
  contacts a held block creeps 1.5-2.5 mm over 10 s; with these about 0.5-1.5 mm.
- 3 noslip iterations while both pads touch the block: the residual creep of soft contacts drops to
  about 0.25 mm (max 0.55-0.9 mm) over 10 s, against 1.3 mm without. Run on every step they would
  cost about 20 % (the block always rests on something), so the scene switches them on only then.
- Coupled fingers (an equality l = -r), as one motor drives both on the real gripper: with two free
  slides the fingers and a held 1 kg block drifted together along the closing axis, up to 14 mm in
  10 s, and a policy could close one finger while the other was stopped.
- Finger servos at kp 5000 (robosuite's file has 1000) saturate at their 20 N limit on any block the
  fingers can close on: at kp 1000 a 3 cm block got only 16 N and a 1 kg block at friction 0.3 fell.
The implicit integrator (instead of implicitfast) also prevents blow-ups, but halves the step rate.
Block mass, edge and friction are set per scene (`BlockProperties`) on the compiled model followed by
`mj_setConst`: without it the constraint solver keeps the compiled block's inverse weights and a block
changed to 150 g blew up ("Nan, Inf or huge value in QACC") in about half the grasps.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from sac_grasp_ros.scene.base import GRIP_FORCE, BlockProperties

TIMESTEP = 0.002
"""Physics step (s)."""
ARM_BASE_HEIGHT = 0.912
"""Height of the arm base above the floor (m)."""
TABLE_TOP = 0.8
"""Height of the table top (m)."""
TABLE_CENTER_XY = (0.75, 0.0)
TABLE_HALF_SIZE = (0.40, 0.60)
BLOCK_HALF_SIZE = BlockProperties().edge / 2
"""Half edge of the default cubic block (m): a 4 cm cube."""
BLOCK_MASS = BlockProperties().mass
BLOCK_FRICTION = BlockProperties().friction
"""The finger collision geoms have zero friction and MuJoCo takes the larger of two geoms' friction, so
the block's friction is the pad-block coefficient (against the table it is at least the table's 1.0)."""

ARM_JOINTS = tuple(f"right_j{i}" for i in range(7))
# Per-joint stiffness of the integrated-velocity actuators and the torque limits of the Sawyer motors.
ARM_KP = (600.0, 600.0, 300.0, 300.0, 60.0, 60.0, 30.0)
ARM_TORQUE_LIMIT = (80.0, 80.0, 40.0, 40.0, 9.0, 9.0, 9.0)
ARM_DAMPING_RATIO = 0.1
"""kv = 0.1 kp: without damping the arm oscillates while reaching."""
GRIPPER_OPEN = (-0.0115, 0.0115)
"""(r_finger, l_finger) slide positions with the gripper open (m)."""
GRIPPER_CLOSED = (0.020833, -0.020833)
FINGER_KP = 5000.0
"""N/m of the finger position servos: high enough to saturate at GRIP_FORCE on any block >= 2 cm."""
IMPRATIO = 10.0
NOSLIP_ITERATIONS = 3
"""Noslip iterations while the pads hold the block (the scene switches them on and off)."""
FINGER_SOLREF = (0.004, 1.0)
FINGER_SOLIMP = (0.95, 0.99, 0.001, 0.5, 2.0)

ROBOT_PREFIX = "sawyer/"
GRIPPER_PREFIX = "gripper/"


def robosuite_assets() -> Path:
    """Directory `robosuite/models/assets` of the installed robosuite wheel, found without importing it
    (importing robosuite pulls heavy dependencies this project does not install)."""
    spec = importlib.util.find_spec("robosuite")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the MuJoCo scene needs the Sawyer model files of the robosuite wheel: "
            "pip install --no-deps robosuite==1.5.2"
        )
    for location in spec.submodule_search_locations:
        assets = Path(location) / "models" / "assets"
        if (assets / "robots" / "sawyer" / "robot.xml").is_file():
            return assets
    raise FileNotFoundError(
        f"robosuite is installed but has no models/assets/robots/sawyer/robot.xml in "
        f"{list(spec.submodule_search_locations)}"
    )


@dataclass(frozen=True)
class SceneNames:
    """Full (prefixed) names of the model elements the scene code looks up."""

    arm_joints: tuple[str, ...] = tuple(ROBOT_PREFIX + j for j in ARM_JOINTS)
    arm_actuators: tuple[str, ...] = tuple(f"{ROBOT_PREFIX}vel_{j}" for j in ARM_JOINTS)
    finger_joints: tuple[str, str] = (GRIPPER_PREFIX + "r_finger_joint", GRIPPER_PREFIX + "l_finger_joint")
    finger_actuators: tuple[str, str] = (
        GRIPPER_PREFIX + "gripper_r_finger_joint",
        GRIPPER_PREFIX + "gripper_l_finger_joint",
    )
    grip_site: str = GRIPPER_PREFIX + "grip_site"
    left_pad: str = GRIPPER_PREFIX + "l_fingerpad_g0"
    left_fingertip_body: str = GRIPPER_PREFIX + "l_finger_tip"
    """The original's "left pad" is the bottom of the left finger: here the fingertip body (its tip box
    reaches 4 mm lower than the pad box, so it is what meets the table)."""
    right_pad: str = GRIPPER_PREFIX + "r_fingerpad_g0"
    block_body: str = "block"
    block_geom: str = "block_geom"
    block_joint: str = "block_free"
    table_geom: str = "table_top"


NAMES = SceneNames()


def _load_robot(assets: Path) -> mujoco.MjSpec:
    robot = mujoco.MjSpec.from_file(str(assets / "robots" / "sawyer" / "robot.xml"))
    for actuator in list(robot.actuators):  # torque motors are replaced by velocity servos
        robot.delete(actuator)
    for body in robot.bodies:
        if body.name != "world":
            body.gravcomp = 1.0  # otherwise the arm sags at zero command
    for name, kp, limit in zip(ARM_JOINTS, ARM_KP, ARM_TORQUE_LIMIT, strict=True):
        joint = robot.joint(name)
        actuator = robot.add_actuator()
        actuator.name = f"vel_{name}"
        actuator.target = name
        actuator.trntype = mujoco.mjtTrn.mjTRN_JOINT
        actuator.set_to_intvelocity(kp=kp, kv=ARM_DAMPING_RATIO * kp)
        # The integrated target never leaves the joint range, so it cannot wind up past a limit.
        actuator.actlimited = mujoco.mjtLimited.mjLIMITED_TRUE
        actuator.actrange = joint.range
        actuator.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
        actuator.ctrlrange = [-3.0, 3.0]
        actuator.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
        actuator.forcerange = [-limit, limit]
    hand = robot.body("right_hand")
    hand.add_site(name="gripper_mount")
    return robot


def _load_gripper(assets: Path) -> mujoco.MjSpec:
    gripper = mujoco.MjSpec.from_file(str(assets / "grippers" / "rethink_gripper.xml"))
    for body in gripper.bodies:
        if body.name != "world":
            body.gravcomp = 1.0
    for geom in gripper.geoms:  # the finger collision boxes: stiff contacts (see the module docstring)
        if geom.conaffinity or geom.contype:
            geom.solref = FINGER_SOLREF
            geom.solimp = FINGER_SOLIMP
    for actuator in gripper.actuators:
        actuator.gainprm[0] = FINGER_KP
        actuator.biasprm[1] = -FINGER_KP
        actuator.forcerange = [-GRIP_FORCE, GRIP_FORCE]
    for site in gripper.sites:  # visual helper sites (one is a 20 m green line): hide from renders
        site.group = 4
    for sensor in list(gripper.sensors):  # force/torque sensors are unused: skip their cost
        gripper.delete(sensor)
    return gripper


def build_spec(assets: Path | None = None, block: BlockProperties | None = None) -> mujoco.MjSpec:
    """Compose the scene: floor, pedestal, Sawyer arm, Rethink gripper, table and a free block (the
    default one unless `block` says otherwise)."""
    block_properties = BlockProperties() if block is None else block
    assets = robosuite_assets() if assets is None else assets
    spec = mujoco.MjSpec()
    spec.modelname = "sawyer_grasp"
    spec.option.timestep = TIMESTEP
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.impratio = IMPRATIO
    spec.visual.global_.offwidth = 640
    spec.visual.global_.offheight = 480

    world = spec.worldbody
    spec.visual.headlight.ambient = [0.4, 0.4, 0.4]
    spec.visual.headlight.diffuse = [0.5, 0.5, 0.5]
    world.add_light(pos=[0.5, 0.0, 3.0], dir=[0.0, 0.0, -1.0], diffuse=[0.6, 0.6, 0.6])
    world.add_geom(
        name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[3, 3, 0.1], rgba=[0.85, 0.85, 0.8, 1]
    )
    world.add_geom(
        name="pedestal",
        type=mujoco.mjtGeom.mjGEOM_CYLINDER,
        size=[0.16, ARM_BASE_HEIGHT / 2, 0],
        pos=[0, 0, ARM_BASE_HEIGHT / 2],
        rgba=[0.2, 0.2, 0.2, 1],
    )
    tx, ty = TABLE_CENTER_XY
    hx, hy = TABLE_HALF_SIZE
    table = world.add_body(name="table", pos=[tx, ty, 0])
    table.add_geom(
        name="table_top",
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[hx, hy, 0.025],
        pos=[0, 0, TABLE_TOP - 0.025],
        rgba=[0.6, 0.45, 0.3, 1],
        friction=[1.0, 0.005, 0.0001],
    )
    for i, (sx, sy) in enumerate(((1, 1), (1, -1), (-1, 1), (-1, -1))):
        table.add_geom(
            name=f"table_leg{i}",
            type=mujoco.mjtGeom.mjGEOM_BOX,
            size=[0.025, 0.025, (TABLE_TOP - 0.05) / 2],
            pos=[sx * (hx - 0.05), sy * (hy - 0.05), (TABLE_TOP - 0.05) / 2],
            rgba=[0.4, 0.3, 0.2, 1],
            contype=0,
            conaffinity=0,
        )

    h = block_properties.edge / 2
    block = world.add_body(name=NAMES.block_body, pos=[0.625, 0.0, TABLE_TOP + h])
    block.add_freejoint(name=NAMES.block_joint)
    block.add_geom(
        name=NAMES.block_geom,
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[h, h, h],
        mass=block_properties.mass,
        friction=[block_properties.friction, 0.005, 0.0001],
        rgba=[0.1, 0.4, 0.9, 1],
        condim=4,
    )
    camera_pos, look_at = np.array([1.75, -1.35, 1.75]), np.array([0.35, 0.0, 0.95])
    forward = (look_at - camera_pos) / np.linalg.norm(look_at - camera_pos)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    world.add_camera(name="overview", pos=camera_pos, xyaxes=[*right, *np.cross(right, forward)])

    mount = world.add_frame(pos=[0, 0, ARM_BASE_HEIGHT])
    spec.attach(_load_robot(assets), prefix=ROBOT_PREFIX, frame=mount)
    spec.attach(_load_gripper(assets), prefix=GRIPPER_PREFIX, site=spec.site(ROBOT_PREFIX + "gripper_mount"))

    # One motor drives both fingers of the real gripper: coupled, they close symmetrically and cannot
    # drift sideways together (two free slides let a held block creep along the closing axis, up to
    # 14 mm in 10 s at 1 kg).
    coupling = spec.add_equality()
    coupling.type = mujoco.mjtEq.mjEQ_JOINT
    coupling.name1, coupling.name2 = NAMES.finger_joints
    coupling.data[:5] = [0.0, -1.0, 0.0, 0.0, 0.0]
    coupling.solref = FINGER_SOLREF

    # The fixed base sits inside the pedestal and overlaps the first links: without these excludes joint 0
    # jams against constant contacts.
    world_name = "world"
    near_base = ("base", "right_arm_base_link", "right_l0", "right_l1", "right_l1_2", "head")
    for first in (world_name, *[ROBOT_PREFIX + b for b in near_base[:2]]):
        for second in near_base:
            if first != ROBOT_PREFIX + second:
                exclude = spec.add_exclude()
                exclude.bodyname1 = first
                exclude.bodyname2 = ROBOT_PREFIX + second
    return spec


def build_model(assets: Path | None = None, block: BlockProperties | None = None) -> mujoco.MjModel:
    """Compile the scene (about 0.1 s)."""
    return build_spec(assets, block).compile()
