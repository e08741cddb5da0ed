"""The ROS graph with real processes: rclpy nodes, MuJoCo physics and torch, nothing mocked.

Each test runs in its own ROS domain (see conftest.py). Worker-side truth comes from the simulator
node's `record_steps` file (every step message it published) and from messages captured here.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip("rclpy", reason="rclpy (ros-rclpy wheels) is not installed")

from reliability_helpers import children, gone, set_parameters, stored_transitions, transition_key, wait_for  # noqa: E402
from std_msgs.msg import Float64MultiArray, Int64  # noqa: E402
from std_srvs.srv import SetBool, Trigger  # noqa: E402

from sac_grasp_ros import paths  # noqa: E402
from sac_grasp_ros.graph import protocol  # noqa: E402
from sac_grasp_ros.nodes.common import COMMAND_QOS, STEP_QOS  # noqa: E402

ACT, OBS = 7, 17


def sim_parameters(**overrides):
    params = {
        "random_target": True,
        "max_episode_steps": 20,
        "reward": "shaped",
        "step_mode": "lockstep",
        "markers_every": 5,
        "joint_states_every": 1,
    }
    params.update(overrides)
    return params


def expected_transitions(record: np.ndarray) -> dict[bytes, int]:
    """Every (obs, applied action, reward, next_obs, terminated) row a worker really produced."""
    rows: dict[bytes, int] = {}
    steps = [protocol.decode(row, ACT, OBS) for row in record]
    for previous, current in itertools.pairwise(steps):
        same_episode = (previous.session, previous.episode) == (current.session, current.episode)
        if same_episode and current.step == previous.step + 1:
            key = transition_key(
                previous.observation, current.action, current.reward, current.observation, current.terminated
            )
            rows[key] = rows.get(key, 0) + 1
    return rows


def test_two_workers_train_pair_correctly_save_load_and_evaluate(start_node, ros_client, tmp_path: Path):
    from sac_grasp_ros.sac import load_checkpoint, save_demos

    records = [tmp_path / f"worker_{i}.npy" for i in range(2)]
    sims = [
        start_node("sim_node", f"/worker_{i}", sim_parameters(seed=i, record_steps=str(records[i])))
        for i in range(2)
    ]
    checkpoint = tmp_path / "checkpoint"
    rng = np.random.default_rng(0)
    demo_file = save_demos(
        tmp_path / "demos.npz",
        rng.normal(size=(64, OBS)),
        rng.uniform(-1, 1, (64, ACT)),
        rng.normal(size=64),
        rng.normal(size=(64, OBS)),
        np.zeros(64, bool),
    )
    agent = start_node(
        "agent_node",
        "/",
        {
            "workers": ["worker_0", "worker_1"],
            "checkpoint_dir": str(checkpoint),
            "eval_episodes": 2,
            "demo_file": str(demo_file),
            "progress_every": 50,
            "seed": 3,
            "sac": {
                "hidden_size": 32,
                "batch_size": 32,
                "learning_starts": 100,
                "utd_ratio": 0.5,
                "buffer_capacity": 20000,
                "device": "cpu",
                "torch_threads": 1,
            },
        },
    )
    env_steps = [0]
    ros_client.node.create_subscription(
        Int64, "/agent_node/env_steps", lambda m: env_steps.__setitem__(0, m.data), 10
    )
    ros_client.spin_until(lambda: env_steps[0] >= 300, 120, f"300 env steps (agent log: {agent.log_path})")

    saved = ros_client.call(Trigger, "/save")
    assert saved.success, saved.message
    saved_at = env_steps[0]
    ros_client.spin_until(lambda: env_steps[0] >= saved_at + 100, 60, "more training after the save")
    assert ros_client.call(SetBool, "/train", SetBool.Request(data=False)).success
    loaded = ros_client.call(Trigger, "/load")
    assert loaded.success, loaded.message

    # After the load, with learning off, every command must be the saved policy's deterministic action.
    steps: list[protocol.StepMessage] = []
    ros_client.node.create_subscription(
        Float64MultiArray,
        "/worker_0/step",
        lambda m: steps.append(protocol.decode(m.data, ACT, OBS)),
        STEP_QOS,
    )
    ros_client.spin_for(0.5)
    skip_before = len(steps) + 2  # commands already in flight when the load happened
    ros_client.spin_until(lambda: len(steps) >= skip_before + 30, 30, "steps driven by the loaded policy")
    saved_policy = load_checkpoint(checkpoint, device="cpu").sac
    pairs = [
        (a, b)
        for a, b in itertools.pairwise(steps[skip_before:])
        if (a.session, a.episode) == (b.session, b.episode) and b.step == a.step + 1
    ]
    assert len(pairs) >= 20
    expected = saved_policy.act(np.stack([a.observation for a, _ in pairs]), deterministic=True)
    applied = np.stack([b.action for _, b in pairs])
    np.testing.assert_allclose(applied, expected, atol=1e-5)

    # Run-time parameters: validated, applied, or refused when they need a restart.
    results = set_parameters(ros_client, "/agent_node", eval_episodes=4, seed=5)
    assert not results[1].successful and "cannot change at run time" in results[1].reason
    assert not set_parameters(ros_client, "/agent_node", eval_episodes=0)[0].successful
    assert set_parameters(ros_client, "/agent_node", eval_episodes=4)[0].successful

    result = ros_client.call(Trigger, "/evaluate", timeout=120)
    assert result.success, result.message
    summary = json.loads(result.message)
    assert summary["episodes"] == 4
    assert {"success_rate", "mean_return", "mean_length"} <= set(summary)
    assert 1 <= summary["mean_length"] <= 20 and 0.0 <= summary["success_rate"] <= 1.0

    # A corrupt checkpoint is refused with the reason; the node keeps serving.
    buffer_file = checkpoint / "buffer.npz"
    buffer_copy = tmp_path / "buffer.npz"
    buffer_copy.write_bytes(buffer_file.read_bytes())
    (checkpoint / "learner.pt").write_bytes(b"not a checkpoint")
    refused = ros_client.call(Trigger, "/load")
    assert not refused.success and "learner.pt" in refused.message
    assert ros_client.call(SetBool, "/train", SetBool.Request(data=True)).success

    for sim in sims:
        assert sim.stop() == 0, sim.log()
    assert agent.stop() == 0, agent.log()
    assert "64 demonstration transitions" in agent.log()

    # Every stored transition is one that a worker really produced, paired within one worker.
    stored = stored_transitions(buffer_copy)
    assert len(stored) >= 300
    produced = [expected_transitions(np.load(path, allow_pickle=False)) for path in records]
    per_worker = [sum(key in rows for key in stored) for rows in produced]
    unmatched = [key for key in stored if not any(key in rows for rows in produced)]
    assert not unmatched, f"{len(unmatched)} stored transitions match no worker's consecutive steps"
    assert all(count > 50 for count in per_worker), per_worker
    assert len(set(stored)) == len(stored)  # nothing stored twice


def test_simulator_rejects_bad_input_clamps_and_watchdog_stops_the_arm(start_node, ros_client):
    from sensor_msgs.msg import JointState

    lockstep = start_node("sim_node", "/lock", sim_parameters(seed=0))
    realtime = start_node(
        "sim_node",
        "/rt",
        sim_parameters(seed=1, step_mode="realtime", watchdog_timeout=0.3, max_episode_steps=10000),
    )
    misconfigured = start_node("sim_node", "/bad", sim_parameters(step_mode="fast"))
    node = ros_client.node
    steps: dict[str, list[protocol.StepMessage]] = {"lock": [], "rt": []}
    for ns in steps:
        node.create_subscription(
            Float64MultiArray,
            f"/{ns}/step",
            lambda m, ns=ns: steps[ns].append(protocol.decode(m.data, ACT, OBS)),
            STEP_QOS,
        )
    joints: list[JointState] = []
    node.create_subscription(JointState, "/rt/joint_states", joints.append, 10)
    commands = {
        ns: node.create_publisher(Float64MultiArray, f"/{ns}/velocity_controller/commands", COMMAND_QOS)
        for ns in steps
    }
    ros_client.spin_until(
        lambda: all(p.get_subscription_count() > 0 for p in commands.values()) and steps["lock"] and joints,
        60,
        "simulators up",
    )

    bad = [[float("nan")] * 7, [0.1, 0.2, float("inf"), 0, 0, 0, 0], [0.5] * 6, [0.5] * 8]
    for values in bad:
        for publisher in commands.values():
            publisher.publish(Float64MultiArray(data=values))
    ros_client.spin_for(1.0)
    assert lockstep.alive() and realtime.alive()
    assert len(steps["lock"]) == 1  # lockstep: no step taken for a rejected command
    assert all(not np.any(s.action) for s in steps["rt"])  # realtime: the held command stayed zero
    for sim in (lockstep, realtime):
        assert sim.log().count("rejected command") == len(bad), sim.log()
    reply = ros_client.call(Trigger, "/lock/reset")
    assert reply.success and json.loads(reply.message)["episode"] == 1

    # A valid command still steps once, clamped to the velocity limit (1 rad/s).
    commands["lock"].publish(Float64MultiArray(data=[2.0, -3.0, 0.5, 0.0, 0.0, 0.0, 0.0]))
    ros_client.spin_until(lambda: steps["lock"][-1].step == 1, 10, "a lockstep step after the reset")
    np.testing.assert_allclose(steps["lock"][-1].action, [1.0, -1.0, 0.5, 0, 0, 0, 0])

    # Realtime: move joint 0, stop commanding, the watchdog zeroes the velocities.
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        commands["rt"].publish(Float64MultiArray(data=[0.8, 0, 0, 0, 0, 0, 0]))
        ros_client.spin_for(0.05)
    assert abs(joints[-1].velocity[0]) > 0.3, joints[-1].velocity
    episode = steps["rt"][-1].episode
    ros_client.spin_for(0.3 + 0.7)  # watchdog_timeout + margin
    assert np.max(np.abs(joints[-1].velocity)) < 0.05, joints[-1].velocity
    assert steps["rt"][-1].episode == episode and steps["rt"][-1].step > 20  # stopped, not reset
    assert "joint velocities zeroed" in realtime.log()
    # Run-time parameters are validated; env parameters need a restart.
    assert not set_parameters(ros_client, "/rt/sim_node", watchdog_timeout=-1.0)[0].successful
    refused = set_parameters(ros_client, "/rt/sim_node", backend="pyrep")[0]
    assert not refused.successful and "restart" in refused.reason
    assert set_parameters(ros_client, "/rt/sim_node", markers_every=3)[0].successful
    # Bad parameters: the node refuses to start and says which one.
    assert misconfigured.process.wait(timeout=30) == 1
    assert "step_mode must be one of" in misconfigured.log(), misconfigured.log()


def _assert_run_reports(out: Path, summary: dict, stderr: str, total_steps: int) -> None:
    """What a user watches and keeps from a training run: the progress bar, TensorBoard scalars,
    CSVs and PNGs, periodic evaluations and the best policy that the final evaluation measured."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert f"/{total_steps}" in stderr and "training:" in stderr, stderr[-2000:]  # tqdm bar, with total
    with open(out / "eval_curve.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    every = 500  # config/train_quick.yaml eval_every
    steps = [int(float(row["env_steps"])) for row in rows]
    assert steps[0] == 0 and len(steps) >= total_steps // every  # ~ every 500 env steps, from 0 on
    assert f"periodic evaluation {len(rows)}: success rate" in stderr  # each one reached the bar
    assert all(0 <= float(row["eval_success_rate"]) <= 1 for row in rows)
    best = max(rows, key=lambda r: (float(r["eval_success_rate"]), float(r["eval_mean_return"])))
    assert summary["policy"] == "best"
    assert summary["selected_at_env_steps"] == int(float(best["env_steps"]))
    assert summary["selection_success_rate"] == float(best["eval_success_rate"])
    assert summary["steps_seen"] > summary["env_steps"] >= total_steps  # evaluation steps are counted too
    assert (out / "checkpoints" / "best" / "checkpoint.json").is_file()
    assert (out / "checkpoints" / "best" / "env.yaml").is_file()
    for png in ("learning_curve.png", "eval_curve.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    with open(out / "rewards.csv", newline="") as file:
        episodes = list(csv.DictReader(file))
    assert len(episodes) >= 10 and int(episodes[-1]["env_steps"]) > int(episodes[0]["env_steps"])
    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    wanted = {
        "episode/return", "episode/success_rate", "train/q_loss", "train/policy_loss", "train/alpha",
        "train/env_steps_per_s", "train/updates_per_s", "eval/success_rate", "eval/mean_return",
    }  # fmt: skip
    assert wanted <= tags, wanted - tags
    assert len(events.Scalars("eval/success_rate")) == len(rows)


def test_launcher_train_respawn_test_and_clean_shutdown(ros_env, tmp_path: Path):
    """The README command path (`sac-grasp train --quick`, shortened), a worker crash in the middle,
    then `sac-grasp test` on the policy it produced, and `sac-grasp worker` stopped by SIGTERM."""
    cli = [sys.executable, "-m", "sac_grasp_ros.cli"]
    domain = ["--domain-id", ros_env["ROS_DOMAIN_ID"]]
    out = tmp_path / "run"
    train = subprocess.Popen(
        [
            *cli,
            "train",
            "--quick",
            "--total-steps",
            "1500",
            "--eval-episodes",
            "2",
            "--progress",  # the bar is drawn from the agent's topics even though stderr is a pipe
            *domain,
            "--out",
            str(out),
        ],
        env=ros_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    agent_log = out / "logs" / "agent_node.log"
    wait_for(lambda: agent_log.exists() and "env_steps=500" in agent_log.read_text(), 120, "500 env steps")
    (victim,) = [
        pid for pid in children(train.pid) if "/worker_1" in Path(f"/proc/{pid}/cmdline").read_text()
    ]
    os.kill(victim, signal.SIGKILL)  # a crashed worker: respawned, the agent carries on
    stdout, stderr = train.communicate(timeout=300)
    logs = "\n".join(p.read_text() for p in sorted((out / "logs").glob("*.log")))
    assert train.returncode == 0, stderr + logs
    assert "respawning /worker_1/sim_node" in stderr
    assert logs.count("[worker_1.sim_node]: ready") == 2
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["episodes"] == 2 and {"success_rate", "mean_return", "mean_length"} <= set(summary)
    policy = out / "checkpoints" / "latest"
    meta = json.loads((policy / "checkpoint.json").read_text())
    assert meta["counters"]["env_steps"] >= 1500 and meta["counters"]["num_updates"] > 0
    _assert_run_reports(out, summary, stderr, total_steps=1500)

    # Deployment: one realtime worker + the agent with learning off, evaluated through /evaluate.
    test = subprocess.run(
        [
            *cli,
            "test",
            "--policy",
            str(policy),
            "--eval-episodes",
            "1",
            "--out",
            str(tmp_path / "test"),
            *domain,
        ],
        env=ros_env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert test.returncode == 0, test.stderr
    assert json.loads(test.stdout.strip().splitlines()[-1])["episodes"] == 1

    # `worker` runs until told to stop; SIGTERM reaches the nodes and everything exits cleanly.
    worker_out = tmp_path / "worker"
    launcher = subprocess.Popen(
        [*cli, "worker", "--num-workers", "1", "--first-index", "3", "--out", str(worker_out)],
        env=ros_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = worker_out / "logs" / "worker_3__sim_node.log"
    wait_for(lambda: log.exists() and "ready" in log.read_text(), 60, "the worker to start")
    os.kill(launcher.pid, signal.SIGTERM)
    _, stderr = launcher.communicate(timeout=30)
    assert launcher.returncode == 0, stderr
    assert "exited with" not in stderr  # not mistaken for a crash to respawn


def test_nodes_do_not_outlive_a_killed_launcher(ros_env, tmp_path: Path):
    """A launcher killed outright (SIGKILL: a CI timeout, the OOM killer) cannot stop its nodes in
    order; they get SIGTERM from the kernel instead of running on as orphans."""
    out = tmp_path / "worker"
    launcher = subprocess.Popen(
        [sys.executable, "-m", "sac_grasp_ros.cli", "worker", "--num-workers", "1", "--out", str(out),
         "--domain-id", ros_env["ROS_DOMAIN_ID"]],
        env=ros_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    log = out / "logs" / "worker_0__sim_node.log"
    wait_for(lambda: log.exists() and "ready" in log.read_text(), 60, "the worker to start")
    (node,) = children(launcher.pid)
    os.kill(launcher.pid, signal.SIGKILL)
    launcher.wait(timeout=10)
    wait_for(lambda: gone(node), 15, "the node to stop")


def test_launcher_train_drives_remote_workers_started_by_another_launcher(ros_env, tmp_path: Path):
    """`sac-grasp train --remote-workers 1` + `sac-grasp worker --first-index 1` (as on a second host,
    same ROS domain): the agent learns from both workers, the training launcher starts only its own."""
    cli = [sys.executable, "-m", "sac_grasp_ros.cli"]
    domain = ["--domain-id", ros_env["ROS_DOMAIN_ID"]]
    config = str(paths.config_file("train_quick"))
    remote = subprocess.Popen(
        [*cli, "worker", "--config", config, "--num-workers", "1", "--first-index", "1",
         "--out", str(tmp_path / "remote"), *domain],
        env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        train = subprocess.run(
            [*cli, "train", "--quick", "--num-workers", "1", "--remote-workers", "1", "--total-steps", "400",
             "--eval-episodes", "2", "--out", str(tmp_path / "train"), *domain],
            env=ros_env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    finally:
        os.kill(remote.pid, signal.SIGTERM)
        remote.communicate(timeout=30)
    assert train.returncode == 0, train.stderr
    assert "/worker_1/sim_node" not in train.stderr.split("output in")[0]  # not started by this launcher
    counters = json.loads((tmp_path / "train" / "checkpoints" / "latest" / "checkpoint.json").read_text())[
        "counters"
    ]
    for worker in ("worker_0", "worker_1"):  # step messages of both workers were paired and stored
        assert counters.get(f"last_key.{worker}.step", -1) >= 0, counters
    assert counters["env_steps"] >= 400
