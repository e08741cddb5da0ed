"""Training progress in the terminal: a tqdm bar fed by the agent node's progress topics.

`sac-grasp train` runs the nodes as child processes whose output goes to log files; this small
rclpy subscriber is how the launcher shows what the agent does, the way any ROS tool watching
topics would (`ros2 topic echo /agent_node/env_steps` shows the same numbers).
"""

from __future__ import annotations

import sys
from typing import Any

AGENT_NODE = "/agent_node"


class ProgressMonitor:
    """Subscribes to the agent's ~/env_steps, ~/success_rate and ~/eval_success_rate; draws a bar."""

    def __init__(self, total_steps: int, agent: str = AGENT_NODE, stream: Any = None) -> None:
        from std_msgs.msg import Float64, Int64
        from tqdm import tqdm

        from sac_grasp_ros.nodes.common import RESULT_QOS, STATUS_QOS, PolledNode

        self._ros = PolledNode("sac_grasp_progress")
        self.node = self._ros.node
        self.stream = stream or sys.stderr
        self.bar = tqdm(
            total=total_steps or None,
            unit="step",
            desc="training",
            dynamic_ncols=True,
            mininterval=0.5,
            file=self.stream,
        )
        self.env_steps = 0
        self.success_rate: float | None = None
        self.eval_success_rate: float | None = None
        self.evaluations = 0
        self.node.create_subscription(Int64, f"{agent}/env_steps", self._on_env_steps, STATUS_QOS)
        self.node.create_subscription(Float64, f"{agent}/success_rate", self._on_success, STATUS_QOS)
        self.node.create_subscription(
            Float64, f"{agent}/eval_success_rate", self._on_eval, RESULT_QOS
        )  # latched

    def _on_env_steps(self, msg: Any) -> None:
        steps = int(msg.data)
        if steps > self.env_steps:
            self.bar.update(steps - self.env_steps)
            self.env_steps = steps

    def _on_success(self, msg: Any) -> None:
        self.success_rate = float(msg.data)
        self._postfix()

    def _on_eval(self, msg: Any) -> None:
        self.eval_success_rate = float(msg.data)
        self.evaluations += 1
        # tqdm.write defaults to stdout, where the launcher prints its result: keep it on the bar's stream
        self.bar.write(
            f"periodic evaluation {self.evaluations}: success rate {msg.data:.2f}", file=self.stream
        )
        self._postfix()

    def _postfix(self) -> None:
        values = {}
        if self.success_rate is not None:
            values["train_success"] = f"{self.success_rate:.2f}"
        if self.eval_success_rate is not None:
            values["eval_success"] = f"{self.eval_success_rate:.2f}"
        self.bar.set_postfix(values, refresh=False)

    def poll(self, max_callbacks: int = 50) -> None:
        """Handle what arrived since the last call (spin_once runs one callback); never blocks."""
        self._ros.poll(max_callbacks)

    def close(self) -> None:
        """Show what is still queued (the agent's last evaluation comes just before it exits), then stop."""
        self._ros.poll(20, timeout=0.01)
        self.bar.close()
        self._ros.close()
