"""Policy node: drives a ros2_control joint velocity controller with a trained policy.

Interfaces:
- sub `joint_states` (sensor_msgs/JointState): right_j0..right_j6 in any order, with positions and
  velocities (plus r_finger_joint/l_finger_joint for an "extended" or "symmetric" policy). Messages
  without them are ignored (logged once per kind of problem).
- sub `target_pose` (geometry_msgs/PoseStamped): the block centre and its yaw, world frame.
- pub `command_topic` (std_msgs/Float64MultiArray, default /velocity_controller/commands): seven
  joint velocities in rad/s, every 1/`rate` s, clamped to `max_joint_velocity` and rate limited to
  `max_acceleration`; zeros whenever an input is older than `stale_timeout` (or was never
  received) and once more on shutdown (SIGINT/SIGTERM), since a velocity controller holds its
  last command.

The observation and the command filter are the ROS-free `sac_grasp_ros.deploy`, the policy
`sac_grasp_ros.policy.load_policy`; its action becomes a command here, times `max_joint_velocity`.
"""

from __future__ import annotations

import array
import math
import time
from dataclasses import dataclass

import numpy as np
import rclpy
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from sac_grasp_ros import deploy
from sac_grasp_ros.graph.spec import DEPLOY_COMMAND_TOPIC
from sac_grasp_ros.nodes.common import COMMAND_QOS, STATUS_QOS, StartupError, make_executor, run_node
from sac_grasp_ros.nodes.params import accept_runtime_changes, declare_dataclass
from sac_grasp_ros.policy import load_policy
from sac_grasp_ros.scene.kinematics import yaw_from_quaternion


@dataclass
class PolicyNodeSettings:
    """Parameters of the policy node (same names as the ROS parameters)."""

    policy: str = ""
    """checkpoint directory (sac_grasp_ros.sac) or TorchScript file from `sac-grasp export`"""
    command_topic: str = DEPLOY_COMMAND_TOPIC
    """ros2_control JointGroupVelocityController command topic"""
    joint_states_topic: str = "joint_states"
    """sensor_msgs/JointState source (joint_state_broadcaster)"""
    target_pose_topic: str = "target_pose"
    """geometry_msgs/PoseStamped of the block (perception, or the simulator)"""
    rate: float = 20.0
    """Hz at which commands are computed and published (the policy was trained at 1/control_period)"""
    max_joint_velocity: float = 0.0
    """rad/s clamp per joint; 0: the velocity limit the policy was trained with"""
    max_acceleration: float = 10.0
    """rad/s^2: largest change of a joint's command per second; 0 disables the rate limit"""
    stale_timeout: float = 0.25
    """s: inputs older than this stop the arm (zeros published)"""
    torch_threads: int = 1
    """torch CPU threads for the policy"""

    def validate(self) -> None:
        if not self.policy:
            raise ValueError("policy must name a checkpoint directory or an exported .pt file")
        for name in ("command_topic", "joint_states_topic", "target_pose_topic"):
            if not getattr(self, name).strip():
                raise ValueError(f"{name} must not be empty")
        for name, minimum_exclusive in (
            ("rate", True),
            ("stale_timeout", True),
            ("max_joint_velocity", False),
            ("max_acceleration", False),
        ):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0 or (minimum_exclusive and value == 0):
                relation = "> 0" if minimum_exclusive else ">= 0"
                raise ValueError(f"{name} must be a finite number {relation}, got {value!r}")
        if self.torch_threads < 1:
            raise ValueError(f"torch_threads must be >= 1, got {self.torch_threads!r}")


RUNTIME_SETTABLE = {"stale_timeout"}
"""PolicyNodeSettings fields that take effect at run time; the others are refused (restart the node)."""


class PolicyNode(Node):
    """See the module docstring."""

    def __init__(self) -> None:
        super().__init__("policy_node")
        try:
            self.settings = PolicyNodeSettings(**declare_dataclass(self, PolicyNodeSettings))
            self.settings.validate()
            self.policy = load_policy(
                self.settings.policy, self.settings.torch_threads, velocity_controller=True
            )
        except (ValueError, TypeError) as error:  # PolicyError is a ValueError
            raise StartupError(f"{self.get_fully_qualified_name()}: invalid parameters: {error}") from error
        accept_runtime_changes(self, RUNTIME_SETTABLE)
        settings = self.settings
        limit = settings.max_joint_velocity or self.policy.max_joint_velocity
        self.builder = deploy.ObservationBuilder(self.policy.observation)
        self.reader = deploy.JointStateReader(need_fingers=self.builder.needs_fingers)
        self.filter = deploy.VelocityCommandFilter(
            num_joints=self.policy.act_dim,
            max_velocity=limit,
            max_acceleration=settings.max_acceleration or math.inf,
            max_interval=2.0 / settings.rate,
        )
        self.joints: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None
        self.joints_time = -math.inf
        self.target: tuple[np.ndarray, float] | None = None
        self.target_time = -math.inf
        self.stale = True
        self.logged_problems: set[str] = set()
        self.commands_sent = 0

        self.command_pub = self.create_publisher(Float64MultiArray, settings.command_topic, COMMAND_QOS)
        self.create_subscription(JointState, settings.joint_states_topic, self._on_joint_states, STATUS_QOS)
        self.create_subscription(PoseStamped, settings.target_pose_topic, self._on_target_pose, STATUS_QOS)
        self.create_timer(1.0 / settings.rate, self._on_tick)
        self.stop_requested = False
        self.get_logger().info(
            f"ready: policy {self.policy.source} ({self.policy.observation} observation), "
            f"commands on {self.command_pub.topic_name} at {settings.rate:g} Hz, "
            f"|v| <= {limit:g} rad/s, |dv/dt| <= {settings.max_acceleration or math.inf:g} rad/s^2, "
            f"stale after {settings.stale_timeout:g} s"
        )

    # -- inputs ----------------------------------------------------------------------------------
    def _log_once(self, kind: str, message: str) -> None:
        if kind not in self.logged_problems:
            self.logged_problems.add(kind)
            self.get_logger().error(f"{message} (ignored; logged once)")

    def _on_joint_states(self, msg: JointState) -> None:
        try:
            self.joints = self.reader.read(list(msg.name), msg.position, msg.velocity)
        except ValueError as error:
            kind = "lacks" if "lacks" in str(error) else "malformed"
            self._log_once(f"joint_states:{kind}", f"bad joint_states message: {error}")
            return
        self.joints_time = time.monotonic()

    def _on_target_pose(self, msg: PoseStamped) -> None:
        p, o = msg.pose.position, msg.pose.orientation
        values = [p.x, p.y, p.z, o.x, o.y, o.z, o.w]
        if not all(math.isfinite(v) for v in values) or o.x * o.x + o.y * o.y + o.z * o.z + o.w * o.w < 1e-12:
            self._log_once(
                "target_pose", f"bad target_pose message (non-finite or zero quaternion): {values}"
            )
            return
        self.target = (np.array([p.x, p.y, p.z]), yaw_from_quaternion(o.x, o.y, o.z, o.w))
        self.target_time = time.monotonic()

    # -- output ----------------------------------------------------------------------------------
    def _wanted(self, now: float) -> np.ndarray | None:
        """The policy's joint velocities (rad/s: its action times the velocity scale it was trained
        with) for the newest inputs, or None (stop) when they are stale."""
        timeout = self.settings.stale_timeout
        stale = self.joints is None or self.target is None
        stale = stale or now - self.joints_time > timeout or now - self.target_time > timeout
        if stale != self.stale:
            self.stale = stale
            if stale:
                self.get_logger().warning(f"inputs older than {timeout:g} s: commanding zero velocity")
            else:
                self.get_logger().info("inputs fresh: policy in control")
        if stale:
            return None
        q, qd, fingers = self.joints
        target_xyz, target_yaw = self.target
        try:
            obs = self.builder.build(q, qd, target_xyz, target_yaw, fingers)
            return self.policy.act(obs) * self.policy.max_joint_velocity
        except Exception as error:  # never crash on input the policy cannot take: stop instead
            self._log_once(
                f"policy:{type(error).__name__}", f"policy failed ({error}): commanding zero velocity"
            )
            return None

    def _on_tick(self) -> None:
        now = time.monotonic()
        self._publish(self.filter.update(self._wanted(now), now))

    def _publish(self, command: np.ndarray) -> None:
        msg = Float64MultiArray()
        msg.data = array.array("d", command.tolist())
        self.command_pub.publish(msg)
        self.commands_sent += 1

    # -- loop ------------------------------------------------------------------------------------
    def loop(self) -> int:
        executor = make_executor(self)
        while rclpy.ok() and not self.stop_requested:
            executor.spin_once(timeout_sec=0.1)
        return 0

    def close(self) -> None:
        """Leave the controller at rest: it would hold the last command forever."""
        if rclpy.ok():
            self.filter.reset()
            self._publish(np.zeros(self.policy.act_dim))
            time.sleep(0.05)  # let the reliable publisher hand the message over before the process ends


def main(args: list[str] | None = None) -> int:
    # Signals only end the loop: the context stays up for the final stop command in close().
    return run_node(PolicyNode, args, graceful_stop=True)


if __name__ == "__main__":
    raise SystemExit(main())
