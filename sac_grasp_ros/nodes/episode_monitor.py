"""The deployed simulator's episodes seen from the launcher: a small rclpy subscriber of its `step`
topic that feeds `graph.episodes.EpisodeTally` once the policy has started commanding (the episodes
before it are not the policy's)."""

from __future__ import annotations

from typing import Any


class EpisodeMonitor:
    """Counts whole episodes on `step_topic` after the first non-zero command on `command_topic`."""

    def __init__(self, step_topic: str, command_topic: str) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from std_msgs.msg import Float64MultiArray

        from sac_grasp_ros.graph.episodes import EpisodeTally
        from sac_grasp_ros.graph.protocol import HEADER_SIZE
        from sac_grasp_ros.nodes.common import COMMAND_QOS, STEP_QOS

        self._rclpy = rclpy
        self._header_size = HEADER_SIZE
        self.context = rclpy.Context()
        rclpy.init(context=self.context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
        self.node = rclpy.create_node("sac_grasp_episodes", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.tally = EpisodeTally()
        self.commanding = False
        self.node.create_subscription(Float64MultiArray, step_topic, self._on_step, STEP_QOS)
        self.node.create_subscription(Float64MultiArray, command_topic, self._on_command, COMMAND_QOS)

    def _on_command(self, msg: Any) -> None:
        self.commanding = self.commanding or any(value != 0.0 for value in msg.data)

    def _on_step(self, msg: Any) -> None:
        if self.commanding:
            self.tally.observe(msg.data[: self._header_size])

    def poll(self, max_callbacks: int = 50) -> None:
        """Handle what arrived since the last call (spin_once runs one callback); never blocks."""
        for _ in range(max_callbacks):
            self.executor.spin_once(timeout_sec=0.0)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self._rclpy.try_shutdown(context=self.context)
