"""Fixtures for tests that start real rclpy nodes in real processes.

Each test gets its own ROS_DOMAIN_ID (1..232) with discovery limited to this host, and a writable
ROS_HOME/ROS_LOG_DIR under tmp_path, so parallel or repeated runs never see each other's nodes.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

_domain_counter = itertools.count()


def _next_domain_id() -> int:
    # Spread by pid so two pytest processes on one machine are unlikely to pick the same id.
    return 1 + (os.getpid() * 37 + next(_domain_counter)) % 232


@pytest.fixture
def ros_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment (also applied to this process) isolating the ROS graph of one test."""
    values = {
        "ROS_DOMAIN_ID": str(_next_domain_id()),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "ROS_HOME": str(tmp_path / "ros_home"),
        "ROS_LOG_DIR": str(tmp_path / "ros_log"),
        "AMENT_PREFIX_PATH": sys.prefix,
        "PYTHONUNBUFFERED": "1",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return {**os.environ, **values}


@dataclass
class NodeProcess:
    """A node started as `python -m <module> --ros-args ...` with its output in a log file."""

    name: str
    process: subprocess.Popen
    log_path: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM (not SIGINT: background jobs may ignore it), then SIGKILL; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@pytest.fixture
def start_node(ros_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., NodeProcess]]:
    """Start a node of this package; every node still running is stopped at teardown."""
    started: list[NodeProcess] = []

    def start(node: str, namespace: str = "/", parameters: dict[str, Any] | None = None) -> NodeProcess:
        label = f"{namespace.strip('/').replace('/', '_') or 'root'}_{node}_{len(started)}"
        params_file = tmp_path / f"{label}.yaml"
        fqn = f"{namespace.rstrip('/')}/{node}"
        params_file.write_text(yaml.safe_dump({fqn: {"ros__parameters": parameters or {}}}))
        log_path = tmp_path / f"{label}.log"
        command = [
            sys.executable,
            "-m",
            f"sac_grasp_ros.nodes.{node}",
            "--ros-args",
            "-r",
            f"__ns:={namespace}",
            "--params-file",
            str(params_file),
        ]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=ros_env)
        handle = NodeProcess(fqn, process, log_path)
        started.append(handle)
        return handle

    yield start
    for handle in started:
        handle.stop()


class RosClient:
    """An rclpy node living in the test process (own context), spun in the foreground on demand."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
        self.node = rclpy.create_node("test_client", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_until(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
            self.executor.spin_once(timeout_sec=0.02)

    def spin_for(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.02)

    def call(self, srv_type: Any, name: str, request: Any = None, timeout: float = 30.0) -> Any:
        client = self.node.create_client(srv_type, name)
        try:
            self.spin_until(client.service_is_ready, timeout, f"service {name}")
            future = client.call_async(request if request is not None else srv_type.Request())
            self.spin_until(future.done, timeout, f"answer of {name}")
            return future.result()
        finally:
            self.node.destroy_client(client)

    def close(self) -> None:
        self.node.destroy_node()
        self.rclpy.try_shutdown(context=self.context)


@pytest.fixture
def ros_client(ros_env: dict[str, str]) -> Iterator[RosClient]:
    client = RosClient()
    yield client
    client.close()
