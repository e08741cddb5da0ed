"""Pieces shared by the nodes: QoS profiles, the executor loop, topic names (parameters: nodes.params)."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions

from sac_grasp_ros.graph.lifetime import die_with_parent

STEP_TOPIC = "step"
COMMAND_TOPIC = "velocity_controller/commands"
RESET_SERVICE = "reset"

# Lockstep exchanges must not lose a message (best effort lost the first one in measurements), and
# the simulator's step topic is transient-local so an agent that (re)joins late still gets the
# newest observation; duplicates this causes are dropped by the keyed protocol.
STEP_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=16,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)
COMMAND_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=16, reliability=ReliabilityPolicy.RELIABLE)
STATUS_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE)
# Rare results a late subscriber still wants (each periodic evaluation): latched, the last 20 kept.
RESULT_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=20,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)


def make_executor(node: Node, kind: str | None = None) -> Any:
    """EventsExecutor by default (measured ~1.7x the lockstep rate of SingleThreadedExecutor here).

    Its spin() hangs in the PyPI build, so callers drive it with spin_once() only. The environment
    variable SAC_GRASP_EXECUTOR=single selects SingleThreadedExecutor as a fallback.
    """
    kind = kind or os.environ.get("SAC_GRASP_EXECUTOR", "events")
    if kind == "events":
        from rclpy.experimental import EventsExecutor

        executor = EventsExecutor()
    elif kind == "single":
        executor = SingleThreadedExecutor()
    else:
        raise ValueError(f"SAC_GRASP_EXECUTOR must be 'events' or 'single', got {kind!r}")
    executor.add_node(node)
    return executor


def spin_until(node: Node, stop: Callable[[], bool] = lambda: False, period: float = 0.1) -> Any:
    """The plain node loop: spin (make_executor's executor) until rclpy shuts down or `stop()`;
    returns the executor, for a node that still takes what is queued after a stop."""
    executor = make_executor(node)
    while rclpy.ok() and not stop():
        executor.spin_once(timeout_sec=period)
    return executor


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _StopSignals:
    """SIGINT/SIGTERM of a node process: the first one stops the node, any later one is ignored.

    A terminal's Ctrl-C reaches a node twice (the terminal signals the whole process group, then
    ros2 launch signals each node); the second must not interrupt close(): it did, a KeyboardInterrupt
    traceback from GraspEnv.close() and exit -2 instead of a clean 0. Once closing has begun for any
    reason (`stopping`), signals are ignored too.
    """

    def __init__(self, graceful: bool) -> None:
        self.graceful = graceful
        self.node: Any = None
        self.stopping = False

    def __call__(self, signum: int, frame: Any) -> None:
        if self.stopping:
            return
        self.stopping = True
        if self.graceful and self.node is not None:
            self.node.stop_requested = True  # the loop ends on it; the context stays up for close()
            return
        if signum == signal.SIGTERM and not self.graceful:
            return  # rclpy's handler (run first) shut the context down: the loop ends at rclpy.ok()
        raise KeyboardInterrupt


def run_node(factory: Callable[[], Any], args: list[str] | None = None, graceful_stop: bool = False) -> int:
    """Init rclpy, build the node, run its `loop()`, and shut down cleanly on SIGINT/SIGTERM.

    `graceful_stop`: a signal only sets the node's `stop_requested` (its loop must end on it), so the
    context is still up after the loop: policy_node sends a last zero command, the agent answers its
    waiting /evaluate callers. Otherwise rclpy's
    handlers shut the context down and `loop()` ends with an exception.

    This is a process's main: the stop signals stay ignored after it returns (the process exits), so
    a late signal cannot turn a clean exit into a traceback or a death by signal.

    Returns the process exit code: 0 on a clean stop, 1 when the node could not start (bad
    parameters: the message was logged).
    """
    if die_with_parent is not None:
        die_with_parent()  # ros2 launch starts nodes without it: a launch killed outright takes them along
    stop = _StopSignals(graceful_stop)
    for sig in STOP_SIGNALS:  # before rclpy.init: rclpy's own handlers chain to these
        signal.signal(sig, stop)
    if graceful_stop:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    else:
        rclpy.init(args=args)
    node = None
    code = 0
    try:
        node = factory()
        stop.node = node
        code = int(node.loop() or 0)
    except (KeyboardInterrupt, ExternalShutdownException):
        code = 0
    except StartupError as error:
        print(f"[ERROR] {error}", file=sys.stderr, flush=True)
        code = 1
    except Exception:
        # A signal can invalidate the context while a callback is publishing: that is a clean
        # stop, not a crash (a crash makes the launcher respawn the node).
        if rclpy.ok():
            stop.stopping = True
            raise
        code = 0
    finally:
        stop.stopping = True
        _ignore_stop_signals()
        if node is not None:
            try:
                node.close()
            except Exception as error:
                print(f"[WARN] error while closing: {error}", file=sys.stderr)
            node.destroy_node()
        rclpy.try_shutdown()
        _ignore_stop_signals()  # try_shutdown put back the handlers rclpy found: ignore again
    return code


def _ignore_stop_signals() -> None:
    """SIG_IGN for the stop signals: unlike a Python handler, Python's finalization keeps it, so a
    signal during interpreter exit cannot kill the process with -2 (it did, without a message)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


class PolledNode:
    """An rclpy node in a context of its own, polled without blocking: how the launcher process
    watches a graph's topics (the progress bar, deploy's episode count) between its other work."""

    def __init__(self, name: str) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context, signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def poll(self, max_callbacks: int = 50, timeout: float = 0.0) -> None:
        """Handle what arrived since the last call (spin_once runs one callback)."""
        for _ in range(max_callbacks):
            self.executor.spin_once(timeout_sec=timeout)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


class StartupError(RuntimeError):
    """A node cannot start (invalid parameters, missing files): reported without a traceback."""
