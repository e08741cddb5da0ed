"""The agent's progress topics: the numbers under `~/` for plotting, a text marker for RViz, a log line.

Episode returns and the success rate go out as episodes end; the counts (`~/env_steps`,
`~/steps_seen`, `~/rejected_steps`), the learner's losses and temperature, the marker and the log
line every `progress_every` steps seen, also while not learning, so throughput can be followed in
deployment. `~/eval_success_rate` (each periodic evaluation) is latched for late subscribers.
"""

from __future__ import annotations

from rclpy.node import Node
from std_msgs.msg import Float64, Int64
from visualization_msgs.msg import Marker, MarkerArray

from sac_grasp_ros.graph.workers import PoolCounts
from sac_grasp_ros.nodes import common
from sac_grasp_ros.training.session import TrainingSession

METRICS = ("q_loss", "policy_loss", "alpha")


class ProgressTopics:
    """The `~/...` publishers of one agent node and what it last published."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self._floats = {
            topic: node.create_publisher(Float64, f"~/{topic}", common.STATUS_QOS)
            for topic in ("episode_return", "success_rate", *METRICS)
        }
        self._eval_success_rate = node.create_publisher(Float64, "~/eval_success_rate", common.RESULT_QOS)
        self._counts = {name: node.create_publisher(Int64, f"~/{name}", common.STATUS_QOS)
                        for name in ("env_steps", "steps_seen", "rejected_steps")}  # fmt: skip
        self._marker = node.create_publisher(MarkerArray, "~/progress_markers", common.STATUS_QOS)
        self.episodes_published = self.last_progress_step = 0

    def restart(self, episodes: int, steps_seen: int) -> None:
        """After a load: go on from the loaded run's episodes and steps."""
        self.episodes_published, self.last_progress_step = episodes, steps_seen

    def evaluation(self, success_rate: float) -> None:
        self._eval_success_rate.publish(Float64(data=success_rate))

    def publish(self, session: TrainingSession, counts: PoolCounts) -> None:
        """What is new since the last call (called every loop turn)."""
        if len(session.curve) > self.episodes_published:  # every loop turn: no list copy when none is new
            for record in session.curve.records[self.episodes_published :]:
                self._floats["episode_return"].publish(Float64(data=record.episode_return))
                self._floats["success_rate"].publish(Float64(data=session.success_rate()))
            self.episodes_published = len(session.curve)
        if counts.steps_seen - self.last_progress_step < session.config.progress_every:
            return
        self.last_progress_step = counts.steps_seen
        for name, value in (("env_steps", session.env_steps), ("steps_seen", counts.steps_seen),
                            ("rejected_steps", counts.rejected)):  # fmt: skip
            self._counts[name].publish(Int64(data=value))
        metrics = session.progress()
        for name in METRICS:
            if name in metrics:
                self._floats[name].publish(Float64(data=metrics[name]))
        self._publish_marker(session)
        self.node.get_logger().info(
            f"env_steps={session.env_steps} updates={session.updates_done} episodes={len(session.curve)} "
            f"success_rate={session.success_rate():.2f} rejected={counts.rejected} "
            f"abandoned={counts.abandoned} commands={counts.commands_sent} "
            f"seen={counts.steps_seen} "
            + " ".join(f"{k}={v:.3g}" for k, v in metrics.items() if k in METRICS)
        )

    def _publish_marker(self, session: TrainingSession) -> None:
        """Training progress as a text in RViz (the numbers are also on the ~/ topics, for plotting)."""
        if self._marker.get_subscription_count() == 0:
            return
        marker = Marker(type=Marker.TEXT_VIEW_FACING, action=Marker.ADD, ns="progress", id=0)
        marker.header.frame_id = "world"
        marker.header.stamp = self.node.get_clock().now().to_msg()
        marker.pose.position.x, marker.pose.position.z, marker.pose.orientation.w = 0.5, 1.7, 1.0
        marker.scale.z = 0.06
        marker.color.r = marker.color.g = marker.color.b = marker.color.a = 1.0
        curve = session.curve
        last = curve.records[-1].episode_return if len(curve) else float("nan")
        marker.text = (
            f"env steps {session.env_steps}  episodes {len(curve)}  "
            f"success {session.success_rate():.0%}  last return {last:.2f}"
        )
        self._marker.publish(MarkerArray(markers=[marker]))
