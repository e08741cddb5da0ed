"""Nodes stop cleanly however often they are signalled: a terminal's Ctrl-C reaches a node twice.

The terminal sends SIGINT to the whole process group and ros2 launch then sends its own SIGINT
(escalating to SIGTERM) to each node; the second signal used to land in `close()` and end a worker
with a KeyboardInterrupt traceback from GraspEnv.close() and exit code -2 (seen with ros2 launch).
Real node processes, real signals; the signals are spread over the time `close()` takes.
"""

from __future__ import annotations

import signal
import time

import pytest
from reliability_helpers import sim_parameters, wait_for

from sac_grasp_ros import paths
from sac_grasp_ros.paths import SHIPPED_POLICY

BURST = 8
"""signals sent after the first, BURST_GAP apart: they cover the node's close()"""
BURST_GAP = 0.02


def _signal_burst(process, first: int, then: int) -> int:
    process.send_signal(first)
    for _ in range(BURST):
        time.sleep(BURST_GAP)
        if process.poll() is not None:
            break
        process.send_signal(then)
    return process.wait(timeout=30)


@pytest.mark.parametrize(
    ("first", "then"),
    [(signal.SIGINT, signal.SIGINT), (signal.SIGINT, signal.SIGTERM), (signal.SIGTERM, signal.SIGINT)],
    ids=["ctrl-c-then-launch", "sigint-then-escalation", "sigterm-then-ctrl-c"],
)
def test_a_simulator_interrupted_again_while_closing_exits_cleanly(start_node, first, then):
    sim = start_node("sim_node", "/worker_0", sim_parameters(seed=5))
    wait_for(lambda: "ready:" in sim.log() or not sim.alive(), 60, "the simulator to start")
    assert sim.alive(), sim.log()
    code = _signal_burst(sim.process, first, then)
    log = sim.log()
    assert code == 0, log
    assert "Traceback" not in log and "KeyboardInterrupt" not in log, log


def test_the_policy_node_interrupted_again_while_closing_exits_cleanly(start_node):
    """policy_node stops gracefully (a last zero command in close()): repeated signals change nothing."""
    node = start_node("policy_node", "/", {"policy": str(paths.models_dir() / SHIPPED_POLICY)})
    wait_for(lambda: "ready:" in node.log() or not node.alive(), 60, "the policy node to start")
    assert node.alive(), node.log()
    code = _signal_burst(node.process, signal.SIGINT, signal.SIGINT)
    log = node.log()
    assert code == 0, log
    assert "Traceback" not in log and "KeyboardInterrupt" not in log, log
