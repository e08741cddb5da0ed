"""Worker topics -> the live page: one reading of joint_states, target_pose and markers for both
feeders, the view node (rclpy messages) and the replay (messages decoded from an MCAP file), which
have the same field names."""

from __future__ import annotations

from typing import Any

MARKER_SPHERE, MARKER_TEXT = 2, 9
"""visualization_msgs/Marker types: the simulator's grasp point and its episode text"""


class WorkerFeed:
    """Passes one worker's messages to a page (view.page.LivePage)."""

    def __init__(self, page: Any) -> None:
        self.page = page

    def joint_states(self, worker: str, msg: Any) -> None:
        self.page.set_joints(worker, list(msg.name), list(msg.position))

    def target_pose(self, worker: str, msg: Any) -> None:
        p, o = msg.pose.position, msg.pose.orientation
        self.page.set_block(worker, (p.x, p.y, p.z), (o.w, o.x, o.y, o.z))

    def markers(self, worker: str, msg: Any) -> None:
        grasp, text = None, None
        for marker in msg.markers:
            if marker.type == MARKER_SPHERE:
                grasp = (marker.pose.position.x, marker.pose.position.y, marker.pose.position.z)
            elif marker.type == MARKER_TEXT:
                text = marker.text
        self.page.set_marker_state(worker, grasp, text)
