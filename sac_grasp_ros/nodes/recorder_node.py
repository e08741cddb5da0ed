"""Recorder node: writes the simulator workers' topics to an MCAP file, like `ros2 bag record -s mcap`
(which a pip install lacks): `sac-grasp test --record DIR` starts one beside the graph.

Per worker (`workers`, e.g. "worker_0,worker_1") it records `step` (std_msgs/Float64MultiArray),
`joint_states` (sensor_msgs/JointState), `markers` (visualization_msgs/MarkerArray) and `target_pose`
(geometry_msgs/PoseStamped), subscribed raw: the CDR bytes go to the file as they travelled, never
deserialized (`recording.mcap_file` writes them). On SIGINT/SIGTERM it first takes what is still
queued (up to `drain_s`), then finishes the file: it appears complete or not at all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from visualization_msgs.msg import MarkerArray

from sac_grasp_ros.nodes.common import STATUS_QOS, STEP_QOS, STEP_TOPIC, StartupError, run_node, spin_until
from sac_grasp_ros.nodes.params import declare_dataclass
from sac_grasp_ros.recording.mcap_file import McapRecording

RECORDED_DEPTH = 200
"""queue depth of the recorder's subscriptions: writing is fast, but a keep_last queue that fills
drops the oldest messages silently"""

WORKER_TOPICS: dict[str, tuple[type, str, QoSProfile]] = {
    STEP_TOPIC: (Float64MultiArray, "std_msgs/msg/Float64MultiArray", STEP_QOS),
    "joint_states": (JointState, "sensor_msgs/msg/JointState", STATUS_QOS),
    "markers": (MarkerArray, "visualization_msgs/msg/MarkerArray", STATUS_QOS),
    "target_pose": (PoseStamped, "geometry_msgs/msg/PoseStamped", STATUS_QOS),
}
"""topic (relative to a worker's namespace) -> message class, type name, the publisher's QoS"""


@dataclass
class RecorderSettings:
    path: str = ""
    """the MCAP file to write (required)"""
    workers: str = "worker_0"
    """comma-separated worker namespaces to record"""
    drain_s: float = 0.5
    """s spent taking queued messages after a stop request, before the file is finished"""

    def validate(self) -> None:
        if not self.path:
            raise ValueError("path is empty: name the MCAP file to write")
        if not self.worker_names():
            raise ValueError(f"workers names no worker: {self.workers!r}")
        if not self.drain_s >= 0:
            raise ValueError(f"drain_s must be >= 0, got {self.drain_s!r}")

    def worker_names(self) -> list[str]:
        return [name.strip().strip("/") for name in self.workers.split(",") if name.strip().strip("/")]


class RecorderNode(Node):
    """Subscribes to the workers' topics and appends every message to one MCAP recording."""

    def __init__(self, **node_options: Any) -> None:
        super().__init__("recorder", **node_options)
        try:
            self.settings = RecorderSettings(**declare_dataclass(self, RecorderSettings))
            self.settings.validate()
        except (ValueError, TypeError) as error:
            raise StartupError(f"{self.get_fully_qualified_name()}: invalid parameters: {error}") from error
        self.stop_requested = False
        self.recording = McapRecording(self.settings.path)
        for worker in self.settings.worker_names():
            for relative, (message_class, type_name, qos) in WORKER_TOPICS.items():
                topic = f"/{worker}/{relative}"
                deep = QoSProfile(
                    history=qos.history,
                    depth=RECORDED_DEPTH,
                    reliability=qos.reliability,
                    durability=qos.durability,
                )
                self.create_subscription(message_class, topic, self._writer(topic, type_name), deep, raw=True)
        self.get_logger().info(
            f"recording {len(self.settings.worker_names())} worker(s) to {self.settings.path}"
        )

    def _writer(self, topic: str, type_name: str) -> Any:
        def write(data: bytes) -> None:
            self.recording.add(topic, type_name, data, time.time_ns())

        return write

    def loop(self) -> int:
        import rclpy

        executor = spin_until(self, lambda: self.stop_requested)
        deadline = time.monotonic() + self.settings.drain_s  # what was sent before the stop still counts
        while rclpy.ok() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        return 0

    def close(self) -> None:
        path = self.recording.close()
        counts = ", ".join(f"{topic}: {n}" for topic, n in sorted(self.recording.counts.items()))
        self.get_logger().info(f"wrote {path} ({counts or 'no messages'})")


def main(args: list[str] | None = None) -> int:
    return run_node(RecorderNode, args, graceful_stop=True)


if __name__ == "__main__":
    raise SystemExit(main())
