"""The deployed simulator's episodes seen from the launcher: a small rclpy subscriber of its `step`
topic that feeds `graph.episodes.EpisodeTally` once the policy has started commanding (the episodes
before it are not the policy's)."""

from __future__ import annotations

from typing import Any

from std_msgs.msg import Float64MultiArray

from sac_grasp_ros.graph.episodes import EpisodeTally
from sac_grasp_ros.graph.protocol import HEADER_SIZE
from sac_grasp_ros.nodes.common import COMMAND_QOS, STEP_QOS, PolledNode


class EpisodeMonitor:
    """Counts whole episodes on `step_topic` after the first non-zero command on `command_topic`."""

    def __init__(self, step_topic: str, command_topic: str) -> None:
        self._ros = PolledNode("sac_grasp_episodes")
        self.tally = EpisodeTally()
        self.commanding = False
        node = self._ros.node
        node.create_subscription(Float64MultiArray, step_topic, self._on_step, STEP_QOS)
        node.create_subscription(Float64MultiArray, command_topic, self._on_command, COMMAND_QOS)

    def _on_command(self, msg: Any) -> None:
        self.commanding = self.commanding or any(value != 0.0 for value in msg.data)

    def _on_step(self, msg: Any) -> None:
        if self.commanding:
            self.tally.observe(msg.data[:HEADER_SIZE])

    def poll(self) -> None:
        """Handle what arrived since the last call; never blocks."""
        self._ros.poll()

    def close(self) -> None:
        self._ros.close()
