"""Workers on another machine: simulator workers in one network namespace, the agent in another.

Two network namespaces created by this test stand in for two hosts: each has only its loopback and
one end of a veth pair, with a private address (10.231.N.1/24 and 10.231.N.2/24) that exists only
inside them. Nothing is shared but that link, so DDS discovery and data must cross it, as between
two machines on one subnet (ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET, multicast discovery). Both
namespaces are deleted afterwards, also on failure. Skipped where namespaces cannot be created
(not root, no `ip`). Real processes: two sim_node workers "on host W", the agent "on host A".

What it proves: the agent trains across the link (a few hundred env steps from both workers, every
stored transition two consecutive steps of one worker's episode) and finishes normally.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from reliability_helpers import (
    ROW,
    legitimate_transitions,
    read_stream,
    record_figures,
    sim_parameters,
    small_agent,
    stored_transitions,
    wait_for,
)

pytestmark = pytest.mark.ros

pytest.importorskip("rclpy", reason="rclpy (ros-rclpy wheels) is not installed")

TOTAL_STEPS = 300


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)


@pytest.fixture
def two_hosts():
    """(worker namespace, agent namespace, worker address, agent address); removed at teardown."""
    if shutil.which("ip") is None:
        pytest.skip("the `ip` command (iproute2) is not installed")
    if os.geteuid() != 0:
        pytest.skip("creating network namespaces needs root")
    tag = os.getpid() % 100000
    worker_ns, agent_ns = f"sgr{tag}w", f"sgr{tag}a"
    worker_if, agent_if = f"sgw{tag}", f"sga{tag}"
    subnet = f"10.231.{20 + tag % 200}"
    worker_ip, agent_ip = f"{subnet}.1", f"{subnet}.2"
    created = []
    try:
        for ns in (worker_ns, agent_ns):
            result = _ip("netns", "add", ns)
            if result.returncode != 0:
                pytest.skip(f"cannot create a network namespace here: {result.stderr.strip()}")
            created.append(ns)
        commands = [
            ("link", "add", worker_if, "type", "veth", "peer", "name", agent_if),
            ("link", "set", worker_if, "netns", worker_ns),
            ("link", "set", agent_if, "netns", agent_ns),
        ]
        for ns, dev, address in ((worker_ns, worker_if, worker_ip), (agent_ns, agent_if, agent_ip)):
            commands += [
                ("-n", ns, "addr", "add", f"{address}/24", "dev", dev),
                ("-n", ns, "link", "set", dev, "up", "multicast", "on"),
                ("-n", ns, "link", "set", "lo", "up"),
                ("-n", ns, "route", "add", "224.0.0.0/4", "dev", dev),  # DDS multicast discovery
            ]
        for command in commands:
            result = _ip(*command)
            assert result.returncode == 0, f"ip {' '.join(command)}: {result.stderr}"
        yield worker_ns, agent_ns, worker_ip, agent_ip, agent_if
    finally:
        for ns in created:  # deleting a namespace deletes its end of the veth pair, and so the pair
            _ip("netns", "delete", ns)


def _start(ns: str, node: str, namespace: str, params: dict, env: dict, tmp_path: Path, label: str):
    params_file = tmp_path / f"{label}.yaml"
    params_file.write_text(yaml.safe_dump({f"{namespace.rstrip('/')}/{node}": {"ros__parameters": params}}))
    log_path = tmp_path / f"{label}.log"
    command = [
        "ip", "netns", "exec", ns, sys.executable, "-m", f"sac_grasp_ros.nodes.{node}",
        "--ros-args", "-r", f"__ns:={namespace}", "--params-file", str(params_file),
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env), log_path


def test_agent_trains_workers_in_another_network_namespace(two_hosts, ros_env, tmp_path: Path):
    worker_ns, agent_ns, worker_ip, agent_ip, agent_if = two_hosts
    env = dict(ros_env, ROS_AUTOMATIC_DISCOVERY_RANGE="SUBNET")
    records = [tmp_path / f"worker_{i}.npy" for i in range(2)]
    checkpoint = tmp_path / "checkpoint"
    processes = []
    try:
        for i in range(2):
            params = sim_parameters(seed=i, record_steps=str(records[i]))
            processes.append(_start(worker_ns, "sim_node", f"/worker_{i}", params, env, tmp_path, f"w{i}"))
        agent_params = small_agent(
            workers=["worker_0", "worker_1"],
            checkpoint_dir=str(checkpoint),
            total_steps=TOTAL_STEPS,
            on_finish="exit",
        )
        agent, agent_log = _start(agent_ns, "agent_node", "/", agent_params, env, tmp_path, "agent")
        processes.append((agent, agent_log))
        wait_for(
            lambda: agent.poll() is not None, 240, f"the agent to finish {TOTAL_STEPS} steps ({agent_log})"
        )
        assert agent.returncode == 0, agent_log.read_text()
    finally:
        for process, _ in processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    # The step messages really crossed the link (not shared memory): the agent end received at least
    # one full step message (ROW float64 values) per transition.
    link = json.loads(_ip("-n", agent_ns, "-j", "-s", "link", "show", "dev", agent_if).stdout)[0]
    received = int(link["stats64"]["rx"]["bytes"])
    counters = json.loads((checkpoint / "checkpoint.json").read_text())["counters"]
    stored = stored_transitions(checkpoint / "buffer.npz")
    produced = [legitimate_transitions(read_stream(Path(f"{path}.stream"))) for path in records]
    per_worker = [sum(key in rows for key in stored) for rows in produced]
    assert counters["env_steps"] >= TOTAL_STEPS and len(stored) == counters["env_steps"]
    assert all(any(key in rows for rows in produced) for key in stored)
    assert all(count > TOTAL_STEPS // 5 for count in per_worker), per_worker
    assert received > counters["env_steps"] * ROW * 8, received
    record_figures(
        "multi_host",
        worker_host=worker_ip,
        agent_host=agent_ip,
        discovery="ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET (multicast)",
        env_steps=counters["env_steps"],
        transitions_per_worker=per_worker,
        bytes_received_over_link_by_agent=received,
    )
