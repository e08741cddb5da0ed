"""The graph lives and ends as one, under the pip launcher as under `ros2 launch`: a required node's
death ends it with exit status 1, Ctrl-C ends it with 0, and a node outlives no launcher, even one
that, like `ros2 launch`, starts it without any parent-death setting and is then killed outright.
Real processes: the `sac-grasp` launcher, simulator and agent nodes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from reliability_helpers import children, gone, wait_for

pytestmark = pytest.mark.ros

pytest.importorskip("rclpy", reason="rclpy (ros-rclpy wheels) is not installed")


def _launch(ros_env: dict[str, str], out: Path, *options: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sac_grasp_ros.cli", *options, "--domain-id", ros_env["ROS_DOMAIN_ID"],
         "--out", str(out)],
        env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_a_required_node_dying_ends_sac_grasp_test_with_status_1(ros_env: dict[str, str], tmp_path: Path):
    """config/test.yaml does not respawn its simulator: killed during the evaluation, the graph ends
    (the agent is stopped) and the launcher exits 1 naming the node, as ros2 launch does."""
    out = tmp_path / "test"
    launcher = _launch(ros_env, out, "test", "--eval-episodes", "50")
    log = out / "logs" / "worker_0__sim_node.log"
    wait_for(lambda: log.exists() and "ready" in log.read_text(), 120, "the simulator")
    (sim,) = [pid for pid in children(launcher.pid) if "sim_node" in Path(f"/proc/{pid}/cmdline").read_text()]
    os.kill(sim, signal.SIGKILL)
    _, stderr = launcher.communicate(timeout=60)
    assert launcher.returncode == 1, stderr
    assert "required node /worker_0/sim_node exited with -9" in stderr


def test_ctrl_c_ends_a_training_with_status_0(ros_env: dict[str, str], tmp_path: Path):
    """ros2 launch returns 0 after Ctrl-C; so does sac-grasp, with every node stopped cleanly."""
    out = tmp_path / "train"
    launcher = _launch(ros_env, out, "train", "--quick", "--no-progress")
    agent_log = out / "logs" / "agent_node.log"
    wait_for(lambda: agent_log.exists() and "env_steps=" in agent_log.read_text(), 180, "training")
    nodes = children(launcher.pid)
    launcher.send_signal(signal.SIGINT)
    _, stderr = launcher.communicate(timeout=60)
    assert launcher.returncode == 0, stderr
    assert all(gone(pid) for pid in nodes)
    assert "exited with" not in stderr  # stopped, not crashed


def test_a_node_dies_with_a_launcher_that_did_not_ask_for_it(ros_env: dict[str, str], tmp_path: Path):
    """`ros2 launch` starts nodes without a parent-death signal and, sent SIGTERM, dies at once: the
    node sets its own, so killing its parent outright stops it instead of leaving it running."""
    parent_script = (
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-m', 'sac_grasp_ros.nodes.sim_node', '--ros-args', '-r', "
        "'__ns:=/worker_0'], stdout=open(sys.argv[1], 'wb'), stderr=subprocess.STDOUT)\n"
        "time.sleep(600)\n"
    )
    log = tmp_path / "sim.log"
    parent = subprocess.Popen([sys.executable, "-c", parent_script, str(log)], env=ros_env)
    nodes: list[int] = []
    try:
        wait_for(lambda: log.exists() and "ready" in log.read_text(), 120, "the simulator")
        nodes = children(parent.pid)
        assert len(nodes) == 1
        parent.kill()
        parent.wait(timeout=10)
        wait_for(lambda: gone(nodes[0]), 20, "the orphaned node to stop")
    finally:
        if parent.poll() is None:
            parent.kill()
        for pid in nodes:  # an orphan left by a failure here must not run on
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)
