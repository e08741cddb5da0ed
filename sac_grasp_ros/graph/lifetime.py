"""How long the graph and its nodes live, the same under `ros2 launch` and `sac-grasp`.

`graph_end_reason` decides when a node's exit ends the whole graph (the launch files' exit handlers
and the pip launcher's supervisor both ask it); `die_with_parent` ties a node process to whatever
started it, so a launcher killed outright (SIGKILL, a CI timeout; SIGTERM to `ros2 launch`, which
then dies at once) does not leave nodes training on as orphans.
"""

from __future__ import annotations

import ctypes
import signal
import sys
from collections.abc import Callable

from sac_grasp_ros.graph.spec import NodeSpec

MAIN_EXECUTABLES = ("agent_node", "policy_node")
"""the node whose end is the end of the run (train/test: the agent; deploy: the policy)"""
PR_SET_PDEATHSIG = 1


def graph_end_reason(spec: NodeSpec, returncode: int) -> str | None:
    """Why `spec`'s process exiting with `returncode` ends the whole graph, or None if it goes on.

    The main node (agent: training or evaluation done or crashed; policy_node) ends the run, unless
    it is respawned after a crash (graph.respawn_agent: it resumes); any other node of ours that is
    not respawned is required: the graph cannot do its job without it. Respawned workers never end it.
    """
    if spec.executable in MAIN_EXECUTABLES:
        if spec.respawn and returncode != 0:
            return None
        done = "finished" if returncode == 0 else f"exited with {returncode}"
        return f"{spec.fqn} {done}: the graph ends with it"
    if spec.respawn:
        return None
    return f"required node {spec.fqn} exited with {returncode} (not respawned): the graph ends"


def _parent_death_signal() -> Callable[[], int] | None:
    """The prctl call that makes the kernel send SIGTERM when the parent dies (Linux; None elsewhere).
    Resolved at import, so a child between fork and exec (preexec_fn) only calls into libc."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


die_with_parent = _parent_death_signal()
"""None where the platform has no parent-death signal."""
