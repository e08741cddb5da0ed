"""policy_node driving a velocity controller played by the simulator node: real processes, real rclpy,
MuJoCo and torch, nothing mocked. Each test runs in its own ROS domain (see conftest.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip("rclpy", reason="rclpy (ros-rclpy wheels) is not installed")

from geometry_msgs.msg import PoseStamped  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_msgs.msg import Float64MultiArray  # noqa: E402

from sac_grasp_ros import deploy  # noqa: E402
from sac_grasp_ros.graph import protocol  # noqa: E402
from sac_grasp_ros.nodes.common import STEP_QOS  # noqa: E402
from sac_grasp_ros.policy import load_policy  # noqa: E402
from sac_grasp_ros.scene import FINGER_JOINT_NAMES, JOINT_NAMES  # noqa: E402
from sac_grasp_ros.scene.kinematics import yaw_from_quaternion  # noqa: E402

COMMAND_TOPIC = "/arm_controller/commands"  # not the sim's default: the remapping is part of the test
CLAMP = 0.5  # rad/s
ACCELERATION = 2.0  # rad/s^2
RATE = 20.0  # Hz


def make_policy(path: Path) -> Path:
    """A tiny extended-observation policy whose output depends on the state, saturated on two joints."""
    import torch

    from sac_grasp_ros.sac import SAC, SACConfig, save_checkpoint

    sac = SAC(
        29, 7, SACConfig(hidden_size=16, q_hidden_layers=1, policy_hidden_layers=1, device="cpu", seed=5)
    )
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():
        head = sac.policy.net[-1]
        head.weight[:7] = torch.randn(7, 16, generator=generator) * 0.05
        head.bias[:7] = torch.tensor([1.5, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0])
    save_checkpoint(path, sac)
    (path / "env.yaml").write_text(yaml.safe_dump({"observation": "extended", "max_joint_velocity": 1.0}))
    return path


def start_sim(ros_env: dict[str, str], tmp_path: Path):
    """The simulator at the root namespace (like a robot driver), its command topic remapped."""
    from conftest import NodeProcess

    params = {
        "random_target": False,
        "max_episode_steps": 100000,
        "step_mode": "realtime",
        "watchdog_timeout": 0.5,
        "markers_every": 0,
        "joint_states_every": 1,
        "seed": 0,
    }
    params_file = tmp_path / "sim.yaml"
    params_file.write_text(yaml.safe_dump({"/sim_node": {"ros__parameters": params}}))
    log_path = tmp_path / "sim.log"
    command = [
        sys.executable, "-m", "sac_grasp_ros.nodes.sim_node", "--ros-args",
        "-r", f"velocity_controller/commands:={COMMAND_TOPIC}", "--params-file", str(params_file),
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=ros_env)
    return NodeProcess("/sim_node", process, log_path)


def expected_commands(policy, states: list[JointState], target: PoseStamped) -> np.ndarray:
    """Clamped policy command (action times the velocity scale) for each recorded joint state (the rate
    limit does not bind in steady state)."""
    builder = deploy.ObservationBuilder("extended")
    reader = deploy.JointStateReader(need_fingers=True)
    p, o = target.pose.position, target.pose.orientation
    xyz, yaw = np.array([p.x, p.y, p.z]), yaw_from_quaternion(o.x, o.y, o.z, o.w)
    out = []
    for state in states:
        q, qd, fingers = reader.read(list(state.name), state.position, state.velocity)
        action = policy.act(builder.build(q, qd, xyz, yaw, fingers))
        out.append(np.clip(action * policy.max_joint_velocity, -CLAMP, CLAMP))
    return np.stack(out)


def test_policy_node_drives_the_simulated_robot_and_stops_it(start_node, ros_client, ros_env, tmp_path: Path):
    from test_ros_graph import set_parameters

    policy_dir = make_policy(tmp_path / "policy")
    sim = start_sim(ros_env, tmp_path)
    policy_node = start_node(
        "policy_node",
        "/",
        {
            "policy": str(policy_dir),
            "command_topic": COMMAND_TOPIC,
            "rate": RATE,
            "max_joint_velocity": CLAMP,
            "max_acceleration": ACCELERATION,
            "stale_timeout": 0.3,
        },
    )
    node = ros_client.node
    states: list[JointState] = []
    targets: list[PoseStamped] = []
    commands: list[np.ndarray] = []
    steps: list[protocol.StepMessage] = []
    node.create_subscription(
        JointState, "/joint_states", lambda m: states.append(m) if "right_j0" in m.name else None, 1000
    )
    node.create_subscription(PoseStamped, "/target_pose", targets.append, 1000)
    node.create_subscription(
        Float64MultiArray, COMMAND_TOPIC, lambda m: commands.append(np.array(m.data)), 1000
    )
    node.create_subscription(
        Float64MultiArray, "/step", lambda m: steps.append(protocol.decode(m.data, 7, 17)), STEP_QOS
    )

    # 1. The arm moves under the policy: clamped, rate limited, and equal to the policy's output.
    ros_client.spin_until(
        lambda: len(commands) > 0 and abs(commands[-1][0]) >= CLAMP - 1e-9,
        90,
        f"commands reaching the clamp (logs: {sim.log_path}, {policy_node.log_path})",
    )
    start_count, start_q0 = len(commands), states[-1].position[0]
    ros_client.spin_until(lambda: len(commands) >= start_count + 30, 30, "30 more commands")
    moving = np.stack(commands)
    assert np.abs(moving).max() <= CLAMP + 1e-12
    assert np.abs(np.diff(moving, axis=0)).max() <= ACCELERATION * 2.0 / RATE + 1e-9
    assert abs(states[-1].position[0] - start_q0) > 0.3  # ~0.5 rad/s for >= 1.5 s on joint 0
    assert list(states[-1].name) == [*JOINT_NAMES, *FINGER_JOINT_NAMES]
    policy = load_policy(policy_dir)
    expected = expected_commands(policy, states, targets[-1])
    steady = moving[start_count:]
    errors = np.array([np.abs(expected - command).max(axis=1).min() for command in steady])
    assert errors.max() < 1e-6, errors  # each command is the policy's answer to a state the sim published
    assert np.ptp(steady[:, 1:5], axis=0).max() > 1e-3  # and that answer changes with the state
    # The simulator applied exactly those commands (its step messages carry the held action).
    applied = [s.action for s in steps[-20:]]
    assert all(np.abs(moving - a).max(axis=1).min() < 1e-6 for a in applied)

    # 2. Bad input is ignored, logged once, and does not stop the node.
    bad_states = node.create_publisher(JointState, "/joint_states", 10)
    for _ in range(3):
        bad_states.publish(JointState(name=["head_pan"], position=[0.0], velocity=[0.0]))
    ros_client.spin_for(0.5)
    assert policy_node.alive() and policy_node.log().count("lacks joint(s)") == 1, policy_node.log()

    # 3. Stale inputs (the robot stops publishing joint_states): zeros, and the arm stops.
    assert set_parameters(ros_client, "/sim_node", joint_states_every=0)[0].successful
    ros_client.spin_until(
        lambda: len(commands) > 5 and not np.any(np.stack(commands[-5:])), 15, "zero commands"
    )
    ros_client.spin_until(
        lambda: np.abs(steps[-1].observation[7:14]).max() < 0.02, 15, "the arm at rest (stale inputs)"
    )
    assert "commanding zero velocity" in policy_node.log()
    assert not np.any(steps[-1].action)

    # 4. Fresh inputs again: the policy takes over, ramping up from rest.
    stale_count = len(commands)
    assert set_parameters(ros_client, "/sim_node", joint_states_every=1)[0].successful
    ros_client.spin_until(lambda: np.any(np.stack(commands[stale_count:] or [np.zeros(7)])), 15, "commands")
    first = next(c for c in commands[stale_count:] if np.any(c))
    assert np.abs(first).max() <= ACCELERATION * 2.0 / RATE + 1e-9

    # 5. SIGTERM: the node sends a final stop and exits cleanly; the arm comes to rest.
    ros_client.spin_until(lambda: abs(steps[-1].observation[7]) > 0.1, 15, "the arm moving again")
    assert policy_node.stop() == 0, policy_node.log()
    ros_client.spin_for(0.3)
    assert not np.any(commands[-1])
    ros_client.spin_until(
        lambda: np.abs(steps[-1].observation[7:14]).max() < 0.02, 15, "the arm at rest (node stopped)"
    )
    ros_client.spin_until(lambda: "joint velocities zeroed" in sim.log(), 15, "the sim watchdog")
    assert sim.alive()
    assert sim.stop() == 0, sim.log()


def test_policy_node_refuses_to_start_without_a_usable_policy(start_node, tmp_path: Path):
    missing = start_node("policy_node", "/", {"policy": str(tmp_path / "nowhere")})
    bad_rate = start_node("policy_node", "/other", {"policy": str(tmp_path), "rate": 0.0})
    assert missing.process.wait(timeout=60) == 1
    assert "does not exist" in missing.log(), missing.log()
    assert bad_rate.process.wait(timeout=60) == 1
    assert "rate must be a finite number > 0" in bad_rate.log(), bad_rate.log()


def test_launcher_deploys_an_exported_policy_until_interrupted(ros_env, ros_client, tmp_path: Path):
    """`sac-grasp deploy` (the launcher's deploy role) with a TorchScript export: the arm moves; SIGTERM
    stops both nodes cleanly."""
    import os
    import signal

    from sac_grasp_ros.export import export_policy

    export_policy(make_policy(tmp_path / "policy"), tmp_path / "export")
    out = tmp_path / "run"
    launcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sac_grasp_ros.launcher",
            "deploy",
            "--policy",
            str(tmp_path / "export" / "policy.pt"),
            "--domain-id",
            ros_env["ROS_DOMAIN_ID"],
            "--out",
            str(out),
        ],
        env=ros_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        positions: list[float] = []
        ros_client.node.create_subscription(
            JointState, "/joint_states", lambda m: positions.append(m.position[0]), 100
        )
        ros_client.spin_until(
            lambda: len(positions) > 1 and abs(positions[-1] - positions[0]) > 0.2,
            90,
            f"the deployed policy to turn joint 0 (logs in {out / 'logs'})",
        )
    finally:
        os.kill(launcher.pid, signal.SIGTERM)
        _, stderr = launcher.communicate(timeout=60)
    logs = "\n".join(p.read_text() for p in sorted((out / "logs").glob("*.log")))
    assert launcher.returncode == 0, stderr + logs
    assert "policy.pt (extended observation)" in logs and "exited with" not in stderr


def test_deploy_on_a_randomized_robot_counts_its_episodes_and_sees_a_perturbed_pose(
    ros_env, ros_client, tmp_path
):
    """`sac-grasp deploy --config config/deploy_randomized.yaml --episodes N`: the shipped policy on a
    robot stand-in whose block pose arrives biased and noisy; the launcher stops after N whole episodes
    and prints their success."""
    import json

    from visualization_msgs.msg import MarkerArray

    from sac_grasp_ros import paths

    out = tmp_path / "run"
    launcher = subprocess.Popen(
        [
            sys.executable, "-m", "sac_grasp_ros.launcher", "deploy",
            "--config", str(paths.config_file("deploy_randomized")), "--episodes", "3",
            "--domain-id", ros_env["ROS_DOMAIN_ID"], "--out", str(out), "--timeout", "300",
        ],
        env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    reported: list[PoseStamped] = []
    true_blocks: list = []
    node = ros_client.node
    node.create_subscription(PoseStamped, "/target_pose", reported.append, 100)
    node.create_subscription(
        MarkerArray, "/markers", lambda m: true_blocks.extend(k for k in m.markers if k.id == 0), 100
    )
    try:
        ros_client.spin_until(lambda: len(true_blocks) >= 10, 120, "block markers")
        stdout, stderr = launcher.communicate(timeout=300)
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.communicate()
    assert launcher.returncode == 0, stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["episodes"] == 3 and 0.0 <= summary["success_rate"] <= 1.0
    assert json.loads((out / "result.json").read_text()) == summary

    def seconds(msg) -> float:
        return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9

    offsets = []  # reported minus true block position, for a pose and a marker of the same step
    for marker in true_blocks:
        pose = min(reported, key=lambda p: abs(seconds(p) - seconds(marker)))
        if abs(seconds(pose) - seconds(marker)) < 0.02:
            seen, truth = pose.pose.position, marker.pose.position
            offsets.append([seen.x - truth.x, seen.y - truth.y, seen.z - truth.z])
    assert len(offsets) >= 3, (len(true_blocks), len(reported))
    offsets = np.abs(np.array(offsets))
    assert offsets.min(axis=1).max() > 0.0  # biased and noisy ...
    assert offsets.max() < 0.012  # ... by up to 5 mm plus 1 mm of noise per axis
