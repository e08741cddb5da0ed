"""`/evaluate` serves every caller, and a policy test started with `evaluate:=true` evaluates and exits.

Real processes throughout: the `sac-grasp test` launcher, the shipped policy in the agent node, a
MuJoCo simulator node, and independent rclpy client processes (an operator's `ros2 service call`, a
dashboard) calling `/evaluate` while the launcher's own call is being served.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from reliability_helpers import wait_for

pytestmark = pytest.mark.ros

pytest.importorskip("rclpy", reason="rclpy (ros-rclpy wheels) is not installed")

from cli_helpers import planned_specs  # noqa: E402

from sac_grasp_ros.graph.arguments import LaunchArguments  # noqa: E402
from sac_grasp_ros.launcher import Supervisor  # noqa: E402

CLIENT = """
import json, sys
from sac_grasp_ros.nodes.evaluate_client import call_evaluate
print(json.dumps(call_evaluate(float(sys.argv[1]))))
"""
"""An independent /evaluate caller: its own process, its own rclpy context."""


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def test_concurrent_callers_share_the_running_evaluation(ros_env: dict[str, str], tmp_path: Path):
    """`sac-grasp test` and two independent clients (an operator, a dashboard) call /evaluate at once:
    none is refused; the first call starts an evaluation and the others get its result, so all three
    answers are the same JSON, and only one evaluation ran."""
    out = tmp_path / "test"
    # The clients start first and wait for /evaluate to come up; the launcher's own call comes at about
    # the same moment. Realtime stepping (test.yaml): 5 episodes take seconds, so the calls overlap.
    clients = [
        subprocess.Popen(
            [sys.executable, "-c", CLIENT, "240"], env=ros_env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )
        for _ in range(2)
    ]  # fmt: skip
    launcher = subprocess.Popen(
        [sys.executable, "-m", "sac_grasp_ros.cli", "test", "--eval-episodes", "5", "--seed", "3",
         "--domain-id", ros_env["ROS_DOMAIN_ID"], "--out", str(out)],
        env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    agent_log = out / "logs" / "agent_node.log"
    try:
        answers = []
        for client in clients:
            stdout, stderr = client.communicate(timeout=300)
            assert client.returncode == 0, stderr
            ok, message = json.loads(stdout.strip().splitlines()[-1])
            assert ok, message + _text(agent_log)[-3000:]
            answers.append(json.loads(message))
        stdout, stderr = launcher.communicate(timeout=300)
    finally:
        for process in (launcher, *clients):
            if process.poll() is None:
                process.kill()
                process.wait()
    assert launcher.returncode == 0, stderr[-3000:] + _text(agent_log)[-3000:]
    answers.append(json.loads(stdout.strip().splitlines()[-1]))
    assert answers[0]["episodes"] == 5 and {"success_rate", "mean_return", "mean_length"} <= set(answers[0])
    assert answers[1] == answers[0] and answers[2] == answers[0]
    assert _text(agent_log).count("evaluation of 5 episodes started") == 1


def test_a_policy_test_with_evaluate_true_evaluates_once_and_exits(ros_env: dict[str, str], tmp_path: Path):
    """`ros2 launch sac_grasp_ros test.launch.py evaluate:=true eval_episodes:=3`: the nodes that launch
    file starts (the same translation of its arguments), run as processes: the agent evaluates the
    shipped policy once, writes result.json and exits 0 without anyone calling /evaluate; nothing is
    learned (the policy's counters are those it was trained with)."""
    from sac_grasp_ros import paths

    out = tmp_path / "evaluate"
    arguments = LaunchArguments.from_strings(
        "test",
        {"config": str(paths.config_file("test")), "evaluate": "true", "eval_episodes": "3",
         "step_mode": "lockstep", "seed": "11", "out": str(out)},
    )  # fmt: skip
    supervisor = Supervisor(planned_specs(arguments), out, ros_env)
    supervisor.start_all()
    try:
        (agent,) = [n for n in supervisor.nodes if n.spec.executable == "agent_node"]
        wait_for(lambda: agent.process.poll() is not None, 240, "the agent to exit")
        assert agent.process.returncode == 0, _text(agent.log_path)[-3000:]
    finally:
        supervisor.stop()
    result = json.loads((out / "result.json").read_text())
    assert result["episodes"] == 3 and 0.0 <= result["success_rate"] <= 1.0
    trained = json.loads((arguments.policy_path() / "checkpoint.json").read_text())["counters"]
    assert (result["updates"], result["env_steps"]) == (trained["num_updates"], trained["env_steps"])
    assert not (out / "checkpoints" / "latest").exists()  # the tested policy is not re-saved


def test_a_caller_during_a_periodic_evaluation_gets_an_evaluation_of_its_own(start_node, ros_client):
    """A periodic evaluation measures a policy still learning, on fewer episodes: a caller that comes
    during one waits for it to end, then gets the eval_episodes evaluation it asked for."""
    from std_srvs.srv import Trigger

    start_node("sim_node", "/worker_0", {"random_target": True, "max_episode_steps": 20, "seed": 0,
                                          "step_mode": "lockstep"})  # fmt: skip
    agent = start_node(
        "agent_node",
        "/",
        {
            "workers": ["worker_0"],
            "eval_episodes": 2,
            "eval_every": 200,
            "periodic_eval_episodes": 3,
            "seed": 5,
            "sac": {"hidden_size": 32, "batch_size": 32, "learning_starts": 100, "buffer_capacity": 5000,
                    "device": "cpu", "torch_threads": 1},
        },
    )  # fmt: skip
    ros_client.spin_until(
        lambda: "periodic evaluation of 3 episodes started" in _text(agent.log_path),
        120,
        "a periodic evaluation",
    )
    result = ros_client.call(Trigger, "/evaluate", timeout=120)
    assert result.success, result.message
    assert json.loads(result.message)["episodes"] == 2
    log = _text(agent.log_path)
    periodic_done = log.index("periodic evaluation at")
    assert log.index("service evaluation of 2 episodes started") > periodic_done, log[-3000:]
