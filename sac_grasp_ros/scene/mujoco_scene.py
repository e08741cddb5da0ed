"""MuJoCo backend of the grasp scene (the default): Sawyer + Rethink gripper + table + a block.

The step path is kept lean because it bounds learning throughput: element ids, qpos/qvel slices and
contact sensors are resolved once at launch, and one control period is one `mj_step(model, data, n)`
call with the arm actuators holding a joint-velocity command.
"""

from __future__ import annotations

import copy
import functools
import math

import mujoco
import numpy as np

from sac_grasp_ros.scene import mujoco_model as mm
from sac_grasp_ros.scene.base import HOME_POSTURE, BlockProperties, GraspScene, ServoProperties
from sac_grasp_ros.scene.kinematics import (
    damped_pinv,
    euler_from_matrix,
    pointing_down_error,
    yaw_from_quaternion,
)

# Warnings MuJoCo raises (and then auto-resets mjData) when the state holds NaN/inf/huge values.
_BAD_STATE_WARNINGS = tuple(
    int(w)
    for w in (
        mujoco.mjtWarning.mjWARN_BADQPOS,
        mujoco.mjtWarning.mjWARN_BADQVEL,
        mujoco.mjtWarning.mjWARN_BADQACC,
    )
)

# Targets are placed in this box (world frame; z = block centre resting on the table, here for the
# default 4 cm block: a scene moves it with the block's edge). It is the original's box (x 0.10..0.45,
# y -0.30..0.30 in its scene frame) moved 0.35 m further along x, so that it lies on this table in front
# of the arm and every point is reachable with the gripper pointing down.
WORKSPACE_LOW = np.array([0.45, -0.30, mm.TABLE_TOP + mm.BLOCK_HALF_SIZE])
WORKSPACE_HIGH = np.array([0.80, 0.30, mm.TABLE_TOP + mm.BLOCK_HALF_SIZE])
INITIAL_TARGET_XYZ = np.array([0.60, 0.0, mm.TABLE_TOP + mm.BLOCK_HALF_SIZE])

# Proximity "sensor": the block centre must lie in this box of the tool frame (x = finger closing axis,
# y = across the narrow pads, z = out of the gripper). It is the space between the open pads where a
# closing grip catches the block's upper half.
SENSOR_HALF_X = 0.02
SENSOR_HALF_Y = 0.02
SENSOR_Z_RANGE = (-0.03, 0.02)
SENSOR_RADIUS_SQUARED = SENSOR_HALF_X**2 + SENSOR_HALF_Y**2 + max(abs(z) for z in SENSOR_Z_RANGE) ** 2
"""Bounding sphere of the sensor box: a cheap first test."""

CLOSE_TIME = 0.3
"""Seconds the fingers get to close on the block before the lift."""
LIFT_TIME = 0.4
HOLD_TIME = 0.1
OPEN_TIME = 0.2


def _contact_sensor(
    spec: mujoco.MjSpec, name: str, geom1: str, geom2: str, objtype: mujoco.mjtObj = mujoco.mjtObj.mjOBJ_GEOM
) -> None:
    """A sensor reading > 0 when `geom1` (or body, per `objtype`) touches `geom2`: read from sensordata,
    it costs nothing on the step path compared with scanning the contact list."""
    sensor = spec.add_sensor()
    sensor.name = name
    sensor.type = mujoco.mjtSensor.mjSENS_CONTACT
    sensor.objtype = objtype
    sensor.objname = geom1
    sensor.reftype = mujoco.mjtObj.mjOBJ_GEOM
    sensor.refname = geom2
    sensor.intprm = [1, 0, 1]  # data="found", no reduction, one match is enough


@functools.cache
def _compiled_model() -> mujoco.MjModel:
    """Compile the scene once per process (loading the meshes takes about a second)."""
    spec = mm.build_spec()
    names = mm.NAMES
    _contact_sensor(
        spec, "left_pad_table", names.left_fingertip_body, names.table_geom, mujoco.mjtObj.mjOBJ_BODY
    )
    _contact_sensor(spec, "left_pad_block", names.left_pad, names.block_geom)
    _contact_sensor(spec, "right_pad_block", names.right_pad, names.block_geom)
    return spec.compile()


class MujocoGraspScene(GraspScene):
    """The grasp scene simulated by MuJoCo (2 ms steps, implicitfast, elliptic cones)."""

    def __init__(self, control_period: float = 0.05) -> None:
        substeps = control_period / mm.TIMESTEP
        if control_period <= 0 or abs(substeps - round(substeps)) > 1e-6:
            raise ValueError(
                f"control_period must be a positive multiple of the {mm.TIMESTEP} s physics step, "
                f"got {control_period}"
            )
        self.control_period = float(control_period)
        self.substeps = round(substeps)
        self.workspace_low = WORKSPACE_LOW.copy()
        self.workspace_high = WORKSPACE_HIGH.copy()
        self.initial_target = (INITIAL_TARGET_XYZ.copy(), 0.0)
        self.block = BlockProperties()
        self.servos = ServoProperties()
        self.model: mujoco.MjModel | None = None
        self.data: mujoco.MjData | None = None
        self._scratch: mujoco.MjData | None = None

    # ----------------------------------------------------------------- life cycle
    def launch(self) -> None:
        if self.model is not None:
            return
        names = mm.NAMES
        m = copy.deepcopy(_compiled_model())  # each scene owns its model: tests may change masses
        self.model = m
        self.data = mujoco.MjData(m)
        self._scratch = mujoco.MjData(m)

        arm_q = np.array([m.joint(j).qposadr[0] for j in names.arm_joints])
        arm_v = np.array([m.joint(j).dofadr[0] for j in names.arm_joints])
        arm_u = np.array([m.actuator(a).id for a in names.arm_actuators])
        for idx in (arm_q, arm_v, arm_u):  # slices are views: no per-step allocation or gather
            if not np.array_equal(idx, np.arange(idx[0], idx[0] + 7)):
                raise RuntimeError("arm joints/actuators are expected to be contiguous in the model")
        self._arm_q = slice(int(arm_q[0]), int(arm_q[0]) + 7)
        self._arm_v = slice(int(arm_v[0]), int(arm_v[0]) + 7)
        self._arm_u = slice(int(arm_u[0]), int(arm_u[0]) + 7)
        self._arm_act = slice(int(m.actuator_actadr[arm_u[0]]), int(m.actuator_actadr[arm_u[0]]) + 7)
        self._arm_dofs = arm_v
        self._finger_q = [int(m.joint(j).qposadr[0]) for j in names.finger_joints]
        self._finger_v = [int(m.joint(j).dofadr[0]) for j in names.finger_joints]
        self._finger_u = [int(m.actuator(a).id) for a in names.finger_actuators]
        block_joint = m.joint(names.block_joint)
        self._block_geom = int(m.geom(names.block_geom).id)
        self._block_body = int(m.body(names.block_body).id)
        self._nominal_servo = (
            m.actuator_gainprm[self._arm_u, 0].copy(),
            m.actuator_biasprm[self._arm_u, 2].copy(),
            m.dof_damping[arm_v].copy(),
        )
        self._block_q = slice(int(block_joint.qposadr[0]), int(block_joint.qposadr[0]) + 7)
        self._block_v = slice(int(block_joint.dofadr[0]), int(block_joint.dofadr[0]) + 6)
        self._grip_site = int(m.site(names.grip_site).id)
        self._sensor_adr = {
            name: int(m.sensor_adr[m.sensor(name).id])
            for name in ("left_pad_table", "left_pad_block", "right_pad_block")
        }
        self._left_table_adr = self._sensor_adr["left_pad_table"]
        self._left_pad_block_adr = self._sensor_adr["left_pad_block"]
        self._right_pad_block_adr = self._sensor_adr["right_pad_block"]
        self._sensordata = self.data.sensordata
        # Views into mjData (stay valid for the data's lifetime).
        d = self.data
        self._qpos_arm = d.qpos[self._arm_q]
        self._qvel_arm = d.qvel[self._arm_v]
        self._ctrl_arm = d.ctrl[self._arm_u]
        self._grip_xpos = d.site_xpos[self._grip_site]
        self._grip_xmat = d.site_xmat[self._grip_site]
        self._block_qpos = d.qpos[self._block_q]
        self._jacp = np.zeros((3, m.nv))
        self._jacr = np.zeros((3, m.nv))
        self._last_time = 0.0
        self._diverged = False
        self._apply_properties()

    def configure(self, block: BlockProperties, servos: ServoProperties) -> None:
        block.check()
        servos.check()
        self.block, self.servos = block, servos
        if self.model is not None:
            self._apply_properties()

    def _apply_properties(self) -> None:
        """Write the block and servo settings into the model, then recompute the constants derived from
        masses (the constraint solver's inverse weights): skipping mj_setConst makes heavier blocks
        blow up."""
        m = self.model
        block, h = self.block, self.block.edge / 2
        geom, body = self._block_geom, self._block_body
        m.geom_size[geom] = h
        m.geom_rbound[geom] = math.sqrt(3.0) * h
        m.geom_aabb[geom] = (0.0, 0.0, 0.0, h, h, h)
        m.geom_friction[geom, 0] = block.friction
        m.body_mass[body] = block.mass
        m.body_inertia[body] = block.mass * block.edge**2 / 6.0  # a solid cube
        kp, kv, damping = self._nominal_servo
        m.actuator_gainprm[self._arm_u, 0] = kp * self.servos.gain
        m.actuator_biasprm[self._arm_u, 1] = -kp * self.servos.gain
        m.actuator_biasprm[self._arm_u, 2] = kv * self.servos.damping
        m.dof_damping[self._arm_dofs] = damping * self.servos.damping
        mujoco.mj_setConst(m, self._scratch)
        resting = mm.TABLE_TOP + h
        self.workspace_low[2] = self.workspace_high[2] = resting
        self.initial_target[0][2] = resting

    def set_arm_state(self, positions: np.ndarray, velocities: np.ndarray | None = None) -> None:
        """Put the arm at these joint positions (and velocities, else at rest), servos holding them:
        how tests and benches start from a chosen posture."""
        m, d = self._require()
        d.qpos[self._arm_q] = positions
        d.qvel[self._arm_v] = 0.0 if velocities is None else velocities
        d.act[self._arm_act] = positions
        mujoco.mj_forward(m, d)

    def set_target_pose(self, xyz: np.ndarray, yaw: float) -> None:
        """Put the block at this pose, at rest, without simulating the way there."""
        m, d = self._require()
        self._place_block(d, np.asarray(xyz, dtype=float), float(yaw))
        mujoco.mj_forward(m, d)

    def arm_controls(self) -> np.ndarray:
        """The joint velocities (rad/s) last written to the arm's servos, shape (7,); MuJoCo clamps
        them to the velocity limit (`set_velocity_limit`) as it steps."""
        self._require()
        return self._ctrl_arm.copy()

    def servo_targets(self) -> np.ndarray:
        """The arm servos' position targets (rad), shape (7,): each integrates its joint's commanded
        velocity (the integrated-velocity actuators' activation) and the joint follows it."""
        _, d = self._require()
        return d.act[self._arm_act].copy()

    def joint_limits(self) -> tuple[np.ndarray, np.ndarray]:
        m, _ = self._require()
        limits = m.jnt_range[[m.joint(j).id for j in mm.NAMES.arm_joints]]
        return limits[:, 0].copy(), limits[:, 1].copy()

    def shutdown(self) -> None:
        self.model = None
        self.data = None
        self._scratch = None

    def _require(self) -> tuple[mujoco.MjModel, mujoco.MjData]:
        if self.model is None or self.data is None:
            raise RuntimeError("the MuJoCo scene is not launched: call launch() first")
        return self.model, self.data

    # ----------------------------------------------------------------- state
    def reset(self, target_xyz: np.ndarray, target_yaw: float) -> None:
        m, d = self._require()
        mujoco.mj_resetData(m, d)
        d.qpos[self._arm_q] = HOME_POSTURE
        d.act[self._arm_act] = HOME_POSTURE  # the velocity servos integrate from the current posture
        for joint_adr, actuator, opened in zip(self._finger_q, self._finger_u, mm.GRIPPER_OPEN, strict=True):
            d.qpos[joint_adr] = opened
            d.ctrl[actuator] = opened
        self._place_block(d, np.asarray(target_xyz, dtype=float), float(target_yaw))
        mujoco.mj_forward(m, d)
        self._last_time = d.time
        self._diverged = False

    @staticmethod
    def _yaw_quat(yaw: float) -> np.ndarray:
        return np.array([math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)])

    def _place_block(self, d: mujoco.MjData, xyz: np.ndarray, yaw: float) -> None:
        d.qpos[self._block_q] = np.concatenate([xyz, self._yaw_quat(yaw)])
        d.qvel[self._block_v] = 0.0

    def _select_solver(self, m: mujoco.MjModel) -> None:
        """Noslip iterations only while both pads touch the block: their one job is a held block's
        creep, and run on every step (the block always rests on something) they cost about 20 %."""
        sensors = self._sensordata
        holding = sensors[self._left_pad_block_adr] > 0.0 and sensors[self._right_pad_block_adr] > 0.0
        m.opt.noslip_iterations = mm.NOSLIP_ITERATIONS if holding else 0

    def step(self, joint_velocities: np.ndarray) -> None:
        self.advance(joint_velocities, self.substeps)

    def advance(self, joint_velocities: np.ndarray, physics_steps: int) -> None:
        m, d = self._require()
        self._ctrl_arm[:] = joint_velocities
        self._select_solver(m)
        mujoco.mj_step(m, d, physics_steps)
        self._check_time(d, physics_steps)

    def set_velocity_limit(self, limit: float) -> None:
        m, _ = self._require()
        # MuJoCo clamps ctrl to ctrlrange inside mj_step: the clip costs nothing on the Python side.
        m.actuator_ctrlrange[self._arm_u] = (-limit, limit)

    def write_observation(self, out: np.ndarray) -> None:
        out[0:7] = self._qpos_arm
        out[7:14] = self._qvel_arm
        out[14:17] = self._block_qpos[:3]

    def _check_time(self, d: mujoco.MjData, substeps: int) -> None:
        # MuJoCo resets mjData (time back to 0) when it meets NaN/huge values: a time short of the expected
        # one is the cheap, allocation-free sign of a blow-up.
        # The time test misses a blow-up on the first step after a reset (time 0 again either way);
        # MuJoCo's bad-state warning counters survive its auto-reset and catch that case.
        now = d.time
        if now < self._last_time + (substeps - 0.5) * mm.TIMESTEP or any(
            d.warning[index].number for index in _BAD_STATE_WARNINGS
        ):
            self._diverged = True
        self._last_time = now

    def _run(self, seconds: float) -> None:
        m, d = self._require()
        substeps = max(1, round(seconds / mm.TIMESTEP))
        # Closing, lifting and holding: in steps of 10 ms so that noslip starts once the pads close.
        done = 0
        while done < substeps:
            chunk = min(5, substeps - done)
            self._select_solver(m)
            mujoco.mj_step(m, d, chunk)
            done += chunk
        self._check_time(d, substeps)

    def joint_positions(self) -> np.ndarray:
        return self._qpos_arm.copy()

    def joint_velocities(self) -> np.ndarray:
        return self._qvel_arm.copy()

    def gripper_position(self) -> np.ndarray:
        if self._diverged:
            return np.full(3, np.nan)
        return self._grip_xpos.copy()

    def gripper_euler(self) -> np.ndarray:
        return euler_from_matrix(self._grip_xmat)

    def gripper_opening(self) -> float:
        _, d = self._require()
        return float(d.qpos[self._finger_q[1]] - d.qpos[self._finger_q[0]])

    def finger_joint_state(self) -> tuple[list[float], list[float]]:
        _, d = self._require()
        return [float(d.qpos[i]) for i in self._finger_q], [float(d.qvel[i]) for i in self._finger_v]

    def target_pose(self) -> tuple[np.ndarray, float]:
        q = self._block_qpos
        w, x, y, z = q[3:7].tolist()
        return q[:3].copy(), yaw_from_quaternion(x, y, z, w)

    def target_position(self) -> np.ndarray:
        return self._block_qpos[:3].copy()

    def target_in_sensor(self) -> bool:
        # Scalar math on Python floats: the env asks this on most steps near the block.
        gx, gy, gz = self._grip_xpos.tolist()
        bx, by, bz = self._block_qpos[:3].tolist()
        dx, dy, dz = bx - gx, by - gy, bz - gz
        if dx * dx + dy * dy + dz * dz > SENSOR_RADIUS_SQUARED:
            return False
        r = self._grip_xmat.tolist()  # row-major world-from-tool rotation: local = R^T (b - g)
        local_x = r[0] * dx + r[3] * dy + r[6] * dz
        local_y = r[1] * dx + r[4] * dy + r[7] * dz
        local_z = r[2] * dx + r[5] * dy + r[8] * dz
        return (
            abs(local_x) < SENSOR_HALF_X
            and abs(local_y) < SENSOR_HALF_Y
            and SENSOR_Z_RANGE[0] < local_z < SENSOR_Z_RANGE[1]
        )

    def left_pad_touches_table(self) -> bool:
        return bool(self._sensordata[self._left_table_adr] > 0.0)

    def pads_touch_target(self) -> tuple[bool, bool]:
        _, d = self._require()
        return (
            bool(d.sensordata[self._sensor_adr["left_pad_block"]] > 0.0),
            bool(d.sensordata[self._sensor_adr["right_pad_block"]] > 0.0),
        )

    # ----------------------------------------------------------------- grasp primitives
    def _set_fingers(self, targets: tuple[float, float]) -> None:
        _, d = self._require()
        for actuator, target in zip(self._finger_u, targets, strict=True):
            d.ctrl[actuator] = target

    def attempt_grasp(self, lift_height: float) -> bool:
        self._require()
        self._ctrl_arm[:] = 0.0
        self._set_fingers(mm.GRIPPER_CLOSED)
        self._run(CLOSE_TIME)
        if not all(self.pads_touch_target()):
            return False
        block_z0 = float(self._block_qpos[2])
        # Lift with the tool's linear Jacobian (orientation held), re-solved every 0.1 s.
        chunks = max(1, round(LIFT_TIME / 0.1))
        velocity = np.array([0.0, 0.0, lift_height / LIFT_TIME, 0.0, 0.0, 0.0])
        for _ in range(chunks):
            self._ctrl_arm[:] = damped_pinv(self.tool_jacobian()) @ velocity
            self._run(LIFT_TIME / chunks)
        self._ctrl_arm[:] = 0.0
        self._run(HOLD_TIME)
        rose = float(self._block_qpos[2]) - block_z0 > 0.5 * lift_height
        return bool(rose and all(self.pads_touch_target()) and not self._diverged)

    def open_gripper(self) -> None:
        self._ctrl_arm[:] = 0.0
        self._set_fingers(mm.GRIPPER_OPEN)
        self._run(OPEN_TIME)

    # ----------------------------------------------------------------- kinematics
    def tool_jacobian(self) -> np.ndarray:
        m, d = self._require()
        mujoco.mj_jacSite(m, d, self._jacp, self._jacr, self._grip_site)
        return np.vstack([self._jacp[:, self._arm_dofs], self._jacr[:, self._arm_dofs]])

    def solve_ik(
        self,
        position: np.ndarray,
        yaw: float,
        gain: float,
        max_iterations: int,
        tolerance: float,
        yaw_weight: float,
    ) -> np.ndarray:
        m, d = self._require()
        s = self._scratch
        s.qpos[:] = d.qpos
        goal = np.asarray(position, dtype=float)
        jacp = np.zeros((3, m.nv))
        jacr = np.zeros((3, m.nv))
        first_error = None
        for _ in range(max_iterations):
            mujoco.mj_kinematics(m, s)
            mujoco.mj_comPos(m, s)
            mujoco.mj_jacSite(m, s, jacp, jacr, self._grip_site)
            jac = np.vstack([jacp[:, self._arm_dofs], jacr[:, self._arm_dofs]])
            error, task_jac = pointing_down_error(
                goal - s.site_xpos[self._grip_site],
                euler_from_matrix(s.site_xmat[self._grip_site]),
                yaw,
                jac,
                yaw_weight,
            )
            norm = float(np.linalg.norm(error))
            first_error = norm if first_error is None else first_error
            if norm <= tolerance * max(first_error, 1e-9):
                break
            s.qpos[self._arm_q] += gain * (damped_pinv(task_jac) @ error)
        return s.qpos[self._arm_q].copy()

    def diverged(self) -> bool:
        if not self._diverged and not math.isfinite(
            self._grip_xpos[0] + self._grip_xpos[1] + self._grip_xpos[2]
        ):
            self._diverged = True
        return self._diverged
