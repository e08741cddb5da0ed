"""`/evaluate` called from the launcher process: a small rclpy client, so `sac-grasp test` needs no
ros2cli (`ros2 service call /evaluate std_srvs/srv/Trigger` does the same)."""

from __future__ import annotations

import time
from typing import Any

import rclpy
from rclpy.executors import SingleThreadedExecutor
from std_srvs.srv import Trigger

DISCOVERY_SETTLE = 1.0
"""s between seeing /evaluate and calling it: the client sees the server before the server has matched
the client's reply reader, and a reply sent before that match is lost (the call then never returns;
seen with several callers at a graph's start)"""


def call_evaluate(timeout: float, interrupted: Any = lambda: False) -> tuple[bool, str]:
    """Call /evaluate from this process as a small rclpy client (`sac-grasp test`); the caller has
    given this process the nodes' ROS environment (domain, discovery range)."""

    context = rclpy.Context()
    rclpy.init(context=context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    try:
        node = rclpy.create_node("sac_grasp_launcher", context=context)
        client = node.create_client(Trigger, "/evaluate")
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        deadline = time.monotonic() + timeout
        while not client.service_is_ready():
            if time.monotonic() > deadline or interrupted():
                return False, "/evaluate did not come up"
            executor.spin_once(timeout_sec=0.1)
        settle = time.monotonic() + DISCOVERY_SETTLE
        while time.monotonic() < settle:
            executor.spin_once(timeout_sec=0.05)
        future = client.call_async(Trigger.Request())
        while not future.done():
            if time.monotonic() > deadline or interrupted():
                return False, "/evaluate did not answer (timeout or interrupted)"
            executor.spin_once(timeout_sec=0.1)
        result = future.result()
        return bool(result.success), result.message
    finally:
        rclpy.try_shutdown(context=context)
