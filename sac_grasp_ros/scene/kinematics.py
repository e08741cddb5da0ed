"""Small rotation and Jacobian helpers shared by the backends, the env's end_position mode, the
scripted controller and the ROS nodes (intrinsic x-y-z Euler angles, CoppeliaSim's convention;
quaternions in ROS's (x, y, z, w) order)."""

from __future__ import annotations

import math

import numpy as np


def wrap_angle(angle: float, period: float = 2.0 * math.pi) -> float:
    """Map an angle (difference) to [-period/2, period/2)."""
    half = period / 2.0
    return (angle + half) % period - half


QUARTER_TURN = math.pi / 2.0
"""The block is a cube: it looks the same after every quarter turn about z."""


def tool_heading(euler: np.ndarray) -> float:
    """World yaw (atan2 in the table plane) of the tool x axis, along which the fingers close, from the
    tool's Euler angles (R = Rx(a) Ry(b) Rz(c)). Pointing down (a = pi, b = 0) it is -c, not c: the
    Euler yaw turns about the tool's own z axis, which then points down."""
    a, b, c = (float(v) for v in euler)
    sin_c, cos_c = math.sin(c), math.cos(c)
    return math.atan2(math.sin(a) * math.sin(b) * cos_c + math.cos(a) * sin_c, math.cos(b) * cos_c)


def face_yaw_error(heading: float, block_yaw: float) -> float:
    """Angle (rad, in [-pi/4, pi/4)) from the fingers' closing axis (`heading`, world yaw) to the
    nearest face normal of the block: zero when the fingers close squarely on a pair of faces."""
    return wrap_angle(heading - block_yaw, QUARTER_TURN)


def quaternion_from_yaw(yaw: float) -> tuple[float, float, float, float]:
    """(x, y, z, w) of a rotation by `yaw` about world z."""
    return (0.0, 0.0, math.sin(yaw / 2.0), math.cos(yaw / 2.0))


def yaw_from_quaternion(x: float, y: float, z: float, w: float) -> float:
    """Rotation about world z of a quaternion (the block's yaw)."""
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def euler_from_matrix(r: np.ndarray) -> np.ndarray:
    """Euler angles (a, b, c) of a rotation R = Rx(a) Ry(b) Rz(c), given as 3x3 or row-major 9 values:
    R[0,2] = sin b, R[1,2] = -sin a cos b, R[2,2] = cos a cos b, R[0,1] = -cos b sin c,
    R[0,0] = cos b cos c."""
    r00, r01, r02, _, _, r12, _, _, r22 = np.asarray(r).reshape(-1).tolist()  # Python floats: fast math
    beta = math.asin(max(-1.0, min(1.0, r02)))
    return np.array([math.atan2(-r12, r22), beta, math.atan2(-r01, r00)])


def euler_to_matrix(euler: np.ndarray) -> np.ndarray:
    """Rotation R = Rx(a) Ry(b) Rz(c)."""
    a, b, c = (float(x) for x in euler)
    ca, sa, cb, sb, cc, sc = math.cos(a), math.sin(a), math.cos(b), math.sin(b), math.cos(c), math.sin(c)
    rx = np.array([[1.0, 0.0, 0.0], [0.0, ca, -sa], [0.0, sa, ca]])
    ry = np.array([[cb, 0.0, sb], [0.0, 1.0, 0.0], [-sb, 0.0, cb]])
    rz = np.array([[cc, -sc, 0.0], [sc, cc, 0.0], [0.0, 0.0, 1.0]])
    return rx @ ry @ rz


def euler_rate_matrix(euler: np.ndarray) -> np.ndarray:
    """Matrix mapping world angular velocity to Euler angle rates (inverse of omega = E @ rates)."""
    a, b = float(euler[0]), float(euler[1])
    cb = math.cos(b)
    cb = cb if abs(cb) > 1e-6 else 1e-6  # gimbal lock never happens with the tool pointing down
    e = np.array(
        [
            [1.0, 0.0, math.sin(b)],
            [0.0, math.cos(a), -math.sin(a) * cb],
            [0.0, math.sin(a), math.cos(a) * cb],
        ]
    )
    return np.linalg.inv(e)


def damped_pinv(jac: np.ndarray, damping: float = 1e-4) -> np.ndarray:
    """Damped least-squares pseudo-inverse: stays bounded near singular postures."""
    return jac.T @ np.linalg.inv(jac @ jac.T + damping * np.eye(jac.shape[0]))


def pointing_down_error(
    position_error: np.ndarray, euler: np.ndarray, yaw: float, jacobian: np.ndarray, yaw_weight: float
) -> tuple[np.ndarray, np.ndarray]:
    """Task error and Jacobian (6x7) for "tool at a point, pointing down (roll pi, pitch 0), turned to
    `yaw`", with the yaw row weighted by `yaw_weight`; angular rows are expressed as Euler rates."""
    error = np.concatenate(
        [
            position_error,
            [
                wrap_angle(math.pi - float(euler[0])),
                -float(euler[1]),
                yaw_weight * wrap_angle(yaw - float(euler[2])),
            ],
        ]
    )
    task_jac = np.vstack([jacobian[:3], euler_rate_matrix(euler) @ jacobian[3:]])
    task_jac[5] *= yaw_weight
    return error, task_jac
