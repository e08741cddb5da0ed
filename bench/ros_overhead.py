"""ROS overhead: env steps/s of N simulator workers driven through the ROS graph by the agent,
against the same envs and the same deterministic policy stepped in this process, in one run.

    .venv/bin/python bench/ros_overhead.py [--workers 1 2 4] [--seconds 2] [--rounds 3]

Both paths: GraspEnv (MuJoCo, lockstep), the SAC policy of the quick config (deterministic, no
learning), one batched forward pass per step of all N envs. The ROS path is sim_node processes +
agent_node (learning off) over Fast DDS on localhost; its rate is read from the agent's
`~/steps_seen` counter. The two paths take turns (the ROS processes are paused with SIGSTOP while
the in-process reference runs) so that load from other programs hits both alike. Warm-up (start-up,
discovery, first steps) is excluded. Printed: steps/s of both and the ratio ROS / in-process
(target >= 0.70). On a 2-core machine N worker processes share the cores with the agent.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

SAC_SETTINGS = {"hidden_size": 128, "device": "cpu", "torch_threads": 1, "seed": 0}
ENV_SETTINGS = {"max_episode_steps": 50, "reward": "shaped", "random_target": True}


class InProcess:
    """Reference: N envs and one batched policy call per step, all in this process."""

    def __init__(self, workers: int) -> None:
        from sac_grasp_ros.envs.grasp_env import GraspEnv
        from sac_grasp_ros.sac import SAC, SACConfig

        self.envs = [GraspEnv(**ENV_SETTINGS) for _ in range(workers)]
        self.obs = np.stack([env.reset(seed=i)[0] for i, env in enumerate(self.envs)])
        self.policy = SAC(self.obs.shape[1], self.envs[0].action_space.shape[0], SACConfig(**SAC_SETTINGS))
        self.run(0.2)  # warm-up

    def run(self, seconds: float) -> tuple[int, float]:
        steps, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            actions = self.policy.act(self.obs, deterministic=True)
            for i, env in enumerate(self.envs):
                next_obs, _, terminated, truncated, _ = env.step(actions[i].astype(np.float32))
                self.obs[i] = env.reset()[0] if terminated or truncated else next_obs
            steps += len(self.envs)
        return steps, time.perf_counter() - started

    def close(self) -> None:
        for env in self.envs:
            env.close()


class RosGraph:
    """N sim_node processes + agent_node (learning off); progress read from ~/steps_seen."""

    def __init__(self, workers: int, domain_id: int, tmp: Path, batch_wait: float) -> None:
        import rclpy
        from std_msgs.msg import Int64

        env = dict(os.environ)
        env.update(
            ROS_DOMAIN_ID=str(domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", PYTHONUNBUFFERED="1"
        )
        env.setdefault("ROS_LOG_DIR", str(tmp / "ros_log"))
        env["AMENT_PREFIX_PATH"] = sys.prefix
        # Publishing rates of config/train_quick.yaml: joint_states every 5th step, markers when watched.
        sim = {**ENV_SETTINGS, "markers_every": 10, "joint_states_every": 5}
        nodes = [(f"/worker_{i}", "sim_node", {**sim, "seed": i}) for i in range(workers)]
        agent = {"workers": [f"worker_{i}" for i in range(workers)], "learning": False, "progress_every": 50}
        agent["batch_wait"] = batch_wait
        nodes.append(("/", "agent_node", {**agent, "sac": SAC_SETTINGS}))
        self.processes: list[subprocess.Popen] = []
        self.logs = []
        for namespace, node, params in nodes:
            params_file = tmp / f"{domain_id}_{node}_{namespace.strip('/') or 'root'}.yaml"
            params_file.write_text(
                yaml.safe_dump({f"{namespace.rstrip('/')}/{node}": {"ros__parameters": params}})
            )
            module = f"sac_grasp_ros.nodes.{node}"
            command = [
                sys.executable,
                "-m",
                module,
                "--ros-args",
                "-r",
                f"__ns:={namespace}",
                "--params-file",
            ]
            log = open(tmp / f"{params_file.stem}.log", "wb")  # noqa: SIM115 - closed in close()
            self.logs.append(log)
            self.processes.append(
                subprocess.Popen([*command, str(params_file)], env=env, stdout=log, stderr=subprocess.STDOUT)
            )
        os.environ.update(ROS_DOMAIN_ID=str(domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
        self.rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("ros_overhead_bench", context=self.context)
        self.samples: list[tuple[float, int]] = []
        self.node.create_subscription(
            Int64, "/agent_node/steps_seen", lambda m: self.samples.append((time.perf_counter(), m.data)), 10
        )
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        deadline = time.perf_counter() + 60
        while not self.samples or self.samples[-1][1] < 200:
            if time.perf_counter() > deadline:
                raise RuntimeError(f"ROS graph made no progress; logs in {tmp}")
            self.executor.spin_once(timeout_sec=0.05)

    def pause(self, paused: bool) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGSTOP if paused else signal.SIGCONT)

    def run(self, seconds: float) -> tuple[int, float]:
        """Steps and time between two counter samples at least `seconds` apart (after a settle)."""
        settle = time.perf_counter() + 0.3
        while time.perf_counter() < settle:
            self.executor.spin_once(timeout_sec=0.02)
        count = len(self.samples)
        while len(self.samples) == count:
            self.executor.spin_once(timeout_sec=0.02)
        first = self.samples[-1]
        while self.samples[-1][0] - first[0] < seconds:
            self.executor.spin_once(timeout_sec=0.02)
        last = self.samples[-1]
        return last[1] - first[1], last[0] - first[0]

    def close(self) -> None:
        self.pause(False)
        self.node.destroy_node()
        self.rclpy.try_shutdown(context=self.context)
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in self.logs:
            log.close()


def measure(
    workers: int, seconds: float, rounds: int, domain_id: int, tmp: Path, batch_wait: float
) -> tuple[float, float]:
    reference = InProcess(workers)
    graph = RosGraph(workers, domain_id, tmp, batch_wait)
    totals = {"in_process": [0, 0.0], "ros": [0, 0.0]}
    try:
        for _ in range(rounds):
            graph.pause(True)
            steps, elapsed = reference.run(seconds)
            totals["in_process"][0] += steps
            totals["in_process"][1] += elapsed
            graph.pause(False)
            steps, elapsed = graph.run(seconds)
            totals["ros"][0] += steps
            totals["ros"][1] += elapsed
    finally:
        graph.close()
        reference.close()
    return totals["in_process"][0] / totals["in_process"][1], totals["ros"][0] / totals["ros"][1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one measurement window")
    parser.add_argument("--rounds", type=int, default=3, help="alternating windows per path")
    parser.add_argument("--domain-id", type=int, default=150 + os.getpid() % 60)
    parser.add_argument("--batch-wait", type=float, default=0.005, help="agent batch_wait (s)")
    args = parser.parse_args(argv)
    print(f"{'workers':>7} {'in-process steps/s':>19} {'ROS steps/s':>12} {'ratio':>6}")
    with tempfile.TemporaryDirectory(prefix="ros_overhead_") as tmp:
        for workers in args.workers:
            reference, through_ros = measure(
                workers, args.seconds, args.rounds, args.domain_id, Path(tmp), args.batch_wait
            )
            print(
                f"{workers:>7} {reference:>19.0f} {through_ros:>12.0f} {through_ros / reference:>6.2f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
