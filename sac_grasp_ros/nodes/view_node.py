"""View node: the live browser view of a running graph (`sac-grasp view`, or `--view` on train, test
and deploy). Subscribes to what any ROS tool sees and feeds `view.page.LivePage`:

- every worker's `joint_states`, `target_pose` (the block) and `markers` (grasp point, episode text),
  workers found by their `<ns>/joint_states` topics (checked every 2 s: workers may join later);
- the agent's `~/episode_return`, `~/success_rate`, `~/eval_success_rate` and `~/env_steps`.

Cheap for the graph it watches: the high-rate topics are taken best-effort with a queue of one (the
publishers never wait for the viewer and only the newest state is kept), the callbacks only store
values, and the page is redrawn at `rate_hz` at most.
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, Int64
from visualization_msgs.msg import MarkerArray

from sac_grasp_ros.nodes.common import RESULT_QOS, StartupError, run_node, spin_until
from sac_grasp_ros.nodes.params import declare_dataclass
from sac_grasp_ros.view.feed import WorkerFeed

LATEST_ONLY = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
EVERY_EPISODE = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50, reliability=ReliabilityPolicy.RELIABLE)
DISCOVERY_PERIOD = 2.0
"""s between looks for new workers"""


@dataclass
class ViewSettings:
    port: int = 8080
    """HTTP port of the page (the next free one if taken; the log says which)"""
    host: str = "0.0.0.0"
    """address to listen on (0.0.0.0: reachable from other hosts; 127.0.0.1: this host only)"""
    rate_hz: float = 20.0
    """most page redraws per second"""
    agent: str = "/agent_node"
    """the agent node whose progress topics give the curves"""

    def validate(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0..65535, got {self.port}")
        if not 0 < self.rate_hz <= 120:
            raise ValueError(f"rate_hz must be in (0, 120], got {self.rate_hz}")


class ViewNode(Node):
    """Subscriptions -> LivePage (see the module docstring)."""

    def __init__(self, **node_options: Any) -> None:
        super().__init__("view", **node_options)
        self.started = time.monotonic()
        try:
            self.settings = ViewSettings(**declare_dataclass(self, ViewSettings))
            self.settings.validate()
        except (ValueError, TypeError) as error:
            raise StartupError(f"{self.get_fully_qualified_name()}: invalid parameters: {error}") from error
        from sac_grasp_ros.view.page import LivePage

        try:
            self.page = LivePage(self.settings.host, self.settings.port)
        except OSError as error:
            raise StartupError(f"view: cannot serve on port {self.settings.port}: {error}") from error
        self.workers: set[str] = set()
        self.feed = WorkerFeed(self.page)
        agent = self.settings.agent.rstrip("/")
        self.create_subscription(Float64, f"{agent}/episode_return", self._on_return, EVERY_EPISODE)
        self.create_subscription(Float64, f"{agent}/success_rate", self._on_success, EVERY_EPISODE)
        self.create_subscription(Float64, f"{agent}/eval_success_rate", self._on_eval, RESULT_QOS)
        self.create_subscription(Int64, f"{agent}/env_steps", self._on_env_steps, LATEST_ONLY)
        self.create_timer(DISCOVERY_PERIOD, self._discover)
        self.create_timer(1.0 / self.settings.rate_hz, self.page.flush)
        self._discover()
        url = f"http://localhost:{self.page.port}"
        self.get_logger().info(f"live view at {url}")
        print(f"[view] live view at {url}", file=sys.stderr, flush=True)

    def _discover(self) -> None:
        for topic, types in self.get_topic_names_and_types():
            if not topic.endswith("/joint_states") or "sensor_msgs/msg/JointState" not in types:
                continue
            worker = topic[: -len("/joint_states")] or "/"
            if worker in self.workers:
                continue
            self.workers.add(worker)
            name = worker.strip("/") or "robot"
            feed, prefix = self.feed, worker.rstrip("/")
            self.create_subscription(JointState, topic, partial(feed.joint_states, name), LATEST_ONLY)
            block = partial(feed.target_pose, name)
            self.create_subscription(PoseStamped, f"{prefix}/target_pose", block, LATEST_ONLY)
            self.create_subscription(
                MarkerArray, f"{prefix}/markers", partial(feed.markers, name), LATEST_ONLY
            )
            self.get_logger().info(f"watching {worker}")

    def _on_return(self, msg: Float64) -> None:
        self.page.add_episode(msg.data)

    def _on_success(self, msg: Float64) -> None:
        self.page.set_success_rate(msg.data)

    def _on_eval(self, msg: Float64) -> None:
        self.page.add_evaluation(msg.data)

    def _on_env_steps(self, msg: Int64) -> None:
        self.page.set_env_steps(msg.data)

    def loop(self) -> int:
        spin_until(self)
        return 0

    def close(self) -> None:
        """Also logs this process's CPU time: what the view cost the machine (bench/view_overhead.py)."""
        self.page.close()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        wall = time.monotonic() - self.started
        cpu = usage.ru_utime + usage.ru_stime
        print(f"[view] cpu {cpu:.2f} s in {wall:.2f} s", file=sys.stderr, flush=True)


def main(args: list[str] | None = None) -> int:
    return run_node(ViewNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
