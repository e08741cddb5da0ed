"""Deploy mode of the graph (config/deploy.yaml -> node specs) and its pip-world launcher command lines."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from cli_helpers import planned_specs

from sac_grasp_ros import launcher, paths
from sac_grasp_ros.graph.arguments import LaunchArguments, node_specs
from sac_grasp_ros.graph.spec import DEPLOY_COMMAND_TOPIC, build_node_specs, load_config


def test_deploy_graph_is_a_realtime_robot_stand_in_plus_the_policy_node():
    config = load_config(paths.config_file("deploy"))
    sim, policy = build_node_specs(
        config,
        "deploy",
        {"seed": 4},
        sim_overrides={"step_mode": "lockstep"},
        policy_overrides={"policy": "/p"},
    )
    assert (sim.executable, sim.namespace, policy.executable, policy.namespace) == (
        "sim_node", "/", "policy_node", "/"
    )  # fmt: skip
    assert sim.parameters["step_mode"] == "realtime" and sim.parameters["seed"] == 4  # always realtime
    assert sim.remappings == {"velocity_controller/commands": "/velocity_controller/commands"}
    assert policy.parameters["command_topic"] == DEPLOY_COMMAND_TOPIC  # the config says the default
    assert policy.parameters["policy"] == "/p" and policy.parameters["rate"] == 20.0
    custom = build_node_specs(config, "deploy", policy_overrides={"command_topic": "/arm/commands"})
    assert custom[0].remappings == {"velocity_controller/commands": "/arm/commands"}
    # The other roles have no remappings and no policy node.
    assert all(not spec.remappings for spec in build_node_specs(config, "worker"))


def test_launcher_deploy_command_lines_and_missing_policy(tmp_path: Path):
    policy = tmp_path / "policy.pt"
    policy.write_bytes(b"")
    args = launcher.parse_args(
        ["deploy", "--policy", str(policy), "--command-topic", "/arm/commands", "--out", str(tmp_path)]
    )
    supervisor = launcher.Supervisor(planned_specs(LaunchArguments.from_options(args)), tmp_path, {})
    sim, node = supervisor.nodes
    assert sim.command[:3] == [sys.executable, "-m", "sac_grasp_ros.nodes.sim_node"]
    assert "velocity_controller/commands:=/arm/commands" in sim.command
    assert node.command[:3] == [sys.executable, "-m", "sac_grasp_ros.nodes.policy_node"]
    params = yaml.safe_load(Path(node.command[-1]).read_text())["/policy_node"]["ros__parameters"]
    assert params["policy"] == str(policy.resolve()) and params["command_topic"] == "/arm/commands"
    missing = launcher.parse_args(["deploy", "--policy", str(tmp_path / "nope"), "--out", str(tmp_path)])
    with pytest.raises(FileNotFoundError, match="no policy at"):
        node_specs(LaunchArguments.from_options(missing))


def test_policy_node_settings_are_validated():
    pytest.importorskip("rclpy", reason="rclpy (ros-rclpy wheels) is not installed")
    from sac_grasp_ros.nodes.policy_node import PolicyNodeSettings

    PolicyNodeSettings(policy="p").validate()
    for bad, message in [
        ({}, "policy must name"),
        ({"rate": float("inf")}, "rate"),
        ({"stale_timeout": 0.0}, "stale_timeout"),
        ({"max_acceleration": -1.0}, "max_acceleration"),
        ({"command_topic": " "}, "command_topic"),
        ({"torch_threads": 0}, "torch_threads"),
    ]:
        values = {"policy": "p", **bad} if bad else {}
        with pytest.raises(ValueError, match=message):
            PolicyNodeSettings(**values).validate()


def _header(session: int, episode: int, step: int, done: bool = False, success: bool = False) -> list[float]:
    """A step message's header (protocol.HEADER_FIELDS order)."""
    return [
        session,
        episode,
        step,
        0.0,
        float(done and success),
        float(done and not success),
        float(success),
        0.0,
    ]


def test_the_episode_tally_counts_only_episodes_it_saw_whole():
    from sac_grasp_ros.graph.episodes import EpisodeTally

    tally = EpisodeTally()
    for step in (7, 8, 9):  # joined mid-episode: not counted
        tally.observe(_header(1, 0, step, done=step == 9))
    for step in range(4):  # a grasp at step 3
        tally.observe(_header(1, 1, step, done=step == 3, success=step == 3))
    for step in range(3):  # cut by a simulator restart (new session): not counted
        tally.observe(_header(1, 2, step))
    for step in (0, 1, 3, 4):  # a lost message: not whole, not counted
        tally.observe(_header(2, 0, step, done=step == 4, success=True))
    for step in range(6):  # a timeout
        tally.observe(_header(2, 1, step, done=step == 5))
    assert tally.summary() == {
        "episodes": 2, "success_rate": 0.5, "mean_steps_to_grasp": 3.0, "mean_length": 4.0
    }  # fmt: skip
