"""What a simulator node shows of its scene, beside the step messages: `joint_states` with
`target_pose` (what a deployed policy_node reads when the node plays the robot) and `markers` (RViz).

joint_states lists right_j0..right_j6, then (MuJoCo) r_finger_joint, l_finger_joint, with the
encoders' noise when randomized; target_pose is the block pose the observation reports (bias and
noise included); the markers show the truth: the block, the pre-grasp point and a text.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from sensor_msgs.msg import JointState
from visualization_msgs.msg import Marker, MarkerArray

from sac_grasp_ros.nodes.common import STATUS_QOS
from sac_grasp_ros.scene.base import FINGER_JOINT_NAMES
from sac_grasp_ros.scene.kinematics import quaternion_from_yaw


class SceneTopics:
    """The joint_states, target_pose and markers publishers of one simulator node."""

    def __init__(self, node: Node, env: Any) -> None:
        """`env`: the node's GraspEnv."""
        self.node, self.env = node, env
        self.joint_pub = node.create_publisher(JointState, "joint_states", STATUS_QOS)
        self.target_pub = node.create_publisher(PoseStamped, "target_pose", STATUS_QOS)
        self.marker_pub = node.create_publisher(MarkerArray, "markers", STATUS_QOS)

    def after_step(self, step_index: int, settings: Any, text: str) -> None:
        """joint_states every `settings.joint_states_every` steps, markers every `markers_every`
        (0: never); `settings`: the node's SimNodeSettings, `text`: the markers' text."""
        every = settings.joint_states_every
        if every and step_index % every == 0:
            self.publish_joint_states(settings.frame_id)
        every = settings.markers_every
        if every and step_index % every == 0:
            self.publish_markers(settings.frame_id, text)

    def publish_joint_states(self, frame_id: str) -> None:
        """joint_states, and with it target_pose, both stamped now."""
        msg = JointState()
        msg.header.stamp = self.node.get_clock().now().to_msg()
        msg.name = list(self.env.joint_names)
        positions, velocities = self.env.observed_joint_state()  # with the encoders' noise, if any
        msg.position = [float(v) for v in positions]
        msg.velocity = [float(v) for v in velocities]
        fingers = self.env.finger_joint_state()  # after the arm joints: the documented order stays
        if fingers is not None:
            msg.name = [*msg.name, *FINGER_JOINT_NAMES]
            msg.position = [*msg.position, *fingers[0]]
            msg.velocity = [*msg.velocity, *fingers[1]]
        self.joint_pub.publish(msg)
        self._publish_target_pose(msg.header.stamp, frame_id)

    def _publish_target_pose(self, stamp: Any, frame_id: str) -> None:
        """The block pose, as a perception system would give it to a deployed policy_node: the one the
        observation reports (randomization's bias and noise included)."""
        xyz, yaw = self.env.observed_target_pose()
        msg = PoseStamped()
        msg.header.stamp = stamp
        msg.header.frame_id = frame_id
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in xyz)
        o = msg.pose.orientation
        o.x, o.y, o.z, o.w = quaternion_from_yaw(float(yaw))
        self.target_pub.publish(msg)

    def publish_markers(self, frame_id: str, text: str) -> None:
        """The block, the pre-grasp point and `text` above the block (nothing without a subscriber)."""
        if self.marker_pub.get_subscription_count() == 0:
            return
        stamp = self.node.get_clock().now().to_msg()
        target_xyz, target_yaw = self.env.target_pose()
        pregrasp = self.env.pregrasp_point()
        block = self._marker(Marker.CUBE, 0, stamp, frame_id, target_xyz, (0.9, 0.2, 0.2))
        o = block.pose.orientation
        o.x, o.y, o.z, o.w = quaternion_from_yaw(float(target_yaw))
        block.scale.x = block.scale.y = block.scale.z = self.env.perturbation.block.edge
        point = self._marker(Marker.SPHERE, 1, stamp, frame_id, pregrasp, (0.2, 0.8, 0.2))
        point.scale.x = point.scale.y = point.scale.z = 0.02
        above = np.asarray(target_xyz) + np.array([0.0, 0.0, 0.25])
        label = self._marker(Marker.TEXT_VIEW_FACING, 2, stamp, frame_id, above, (1, 1, 1))
        label.scale.z = 0.05
        label.text = text
        self.marker_pub.publish(MarkerArray(markers=[block, point, label]))

    def _marker(
        self, kind: int, marker_id: int, stamp: Any, frame_id: str, xyz: np.ndarray, rgb: tuple[float, ...]
    ) -> Marker:
        marker = Marker()
        marker.header.frame_id = frame_id
        marker.header.stamp = stamp
        marker.ns = self.node.get_namespace().strip("/") or "sim"
        marker.id = marker_id
        marker.type = kind
        marker.action = Marker.ADD
        marker.pose.position.x, marker.pose.position.y, marker.pose.position.z = (float(v) for v in xyz)
        marker.pose.orientation.w = 1.0
        marker.color.r, marker.color.g, marker.color.b = (float(c) for c in rgb)
        marker.color.a = 1.0
        return marker
