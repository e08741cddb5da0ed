"""The agent's links to each simulator worker: what it publishes, subscribes and calls per worker.

For every worker namespace `/<worker>`: a publisher on `velocity_controller/commands`, a subscription
to `step` and a client of `reset` (names and QoS in nodes.common).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from rclpy.node import Node
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import Trigger

from sac_grasp_ros.nodes import common

StepCallback = Callable[[str, Float64MultiArray], None]


class WorkerLinks:
    """The per-worker publishers, subscriptions and reset clients of one agent node."""

    def __init__(
        self, node: Node, names: list[str], on_step: Callable[[str, Float64MultiArray], None]
    ) -> None:
        """`on_step(worker, msg)` gets every step message of every worker."""
        self.names = list(names)
        self._commands, self._steps, self._resets = {}, {}, {}
        for name in self.names:
            topic = f"/{name}/{common.COMMAND_TOPIC}"
            self._commands[name] = node.create_publisher(Float64MultiArray, topic, common.COMMAND_QOS)
            self._steps[name] = node.create_subscription(
                Float64MultiArray, f"/{name}/{common.STEP_TOPIC}", partial(on_step, name), common.STEP_QOS
            )
            self._resets[name] = node.create_client(Trigger, f"/{name}/{common.RESET_SERVICE}")

    def publish_command(self, name: str, command: Float64MultiArray) -> None:
        self._commands[name].publish(command)

    def connected(self) -> set[str]:
        """Workers connected both ways: lockstep needs both before the first command (else it is lost)."""
        return {
            name
            for name in self.names
            if self._commands[name].get_subscription_count() > 0
            and self._steps[name].get_publisher_count() > 0
        }

    def reset(self, name: str, answered: Callable[[str | None], None]) -> bool:
        """Call /<name>/reset, False when its service is not there; `answered(message)` gets the
        reply's message later (None when the call failed)."""
        client = self._resets[name]
        if not client.service_is_ready():
            return False
        future = client.call_async(Trigger.Request())
        future.add_done_callback(
            lambda done: answered(None if done.exception() else getattr(done.result(), "message", None))
        )
        return True
