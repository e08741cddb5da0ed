"""Dataclass settings as ROS parameters (sac_grasp_ros.nodes.params) on real in-process rclpy nodes:
declaration (names, defaults, descriptions, overrides from the command line and params files, None
defaults, nested dataclasses, choice fields), run-time changes through rclpy's own set_parameters,
and the simulator node declaring every GraspEnvConfig field."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
import yaml

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip("rclpy", reason="rclpy (ros-rclpy wheels) is not installed")

from rcl_interfaces.msg import SetParametersResult  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402

from sac_grasp_ros.envs.config import GraspEnvConfig  # noqa: E402
from sac_grasp_ros.envs.randomization import DomainRandomization  # noqa: E402
from sac_grasp_ros.nodes.common import StartupError  # noqa: E402
from sac_grasp_ros.nodes.params import (  # noqa: E402
    accept_runtime_changes,
    apply_parameter_changes,
    coerce,
    declare_dataclass,
)
from sac_grasp_ros.sac import SACConfig  # noqa: E402


@dataclass
class Round:
    episodes: int = 3
    """episodes per round"""

    def validate(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}")


@dataclass
class Example:
    rate: float = 2.5
    """Hz of the loop"""
    count: int = 4
    label: str = "a"
    mode: Literal["fast", "slow"] = "fast"
    """a choice: a string parameter"""
    flag: bool = False
    seed: int | None = None
    """unset: unseeded"""
    target: float | None = None
    names: list[str] = field(default_factory=list)
    gains: list[float] = field(default_factory=lambda: [1.0, 2.0])
    round: Round = field(default_factory=Round)

    def validate(self) -> None:
        if self.rate <= 0:
            raise ValueError(f"rate must be > 0, got {self.rate}")
        if self.mode not in ("fast", "slow"):
            raise ValueError(f"mode must be one of ('fast', 'slow'), got {self.mode!r}")


@pytest.fixture
def make_node(ros_env) -> Iterator:
    """Nodes in a context of their own, started with the given command-line arguments."""
    context = rclpy.Context()
    rclpy.init(context=context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    nodes = []

    def make(*arguments: str, name: str = "params_test"):
        node = rclpy.create_node(name, context=context, cli_args=["--ros-args", *arguments])
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        node.destroy_node()
    rclpy.try_shutdown(context=context)


def test_declare_gives_defaults_overrides_and_descriptions(make_node) -> None:
    overrides = ["rate:=3", "target:=-7", "names:=[left, right]", "round.episodes:=5", "flag:=true"]
    overrides.append("mode:=slow")
    node = make_node(*(part for override in overrides for part in ("-p", override)))
    values = declare_dataclass(node, Example)
    assert values == {
        "rate": 3.0, "count": 4, "label": "a", "mode": "slow", "flag": True, "seed": None, "target": -7.0,
        "names": ["left", "right"], "gains": [1.0, 2.0], "round": {"episodes": 5},
    }  # fmt: skip
    assert type(values["rate"]) is float and type(values["target"]) is float  # YAML/CLI ints for floats
    assert node.describe_parameter("rate").description == "Hz of the loop"
    assert node.describe_parameter("round.episodes").description == "episodes per round"
    assert node.describe_parameter("seed").dynamic_typing  # settable although ROS has no None
    assert node.describe_parameter("mode").type == Parameter.Type.STRING
    assert node.get_parameter("rate").value == 3.0
    example = Example(**{**values, "round": Round(**values["round"])})
    assert example.round.episodes == 5


def test_prefixed_declaration_builds_the_learner_config(make_node, tmp_path: Path) -> None:
    """What the agent node does with SACConfig, with a params file as the launcher writes it."""
    params = tmp_path / "agent.yaml"
    params.write_text(
        yaml.safe_dump(
            {"/params_test": {"ros__parameters": {"sac": {"batch_size": 64, "target_entropy": -3}}}}
        )
    )
    values = declare_dataclass(make_node("--params-file", str(params)), SACConfig, prefix="sac.")
    config = SACConfig.from_dict(values)
    assert config.batch_size == 64 and config.target_entropy == -3.0 and config.seed is None
    assert dataclasses.replace(config, batch_size=128, target_entropy=None) == SACConfig()


def test_wrong_override_types_are_named(make_node) -> None:
    with pytest.raises(TypeError, match="parameter count"):
        declare_dataclass(make_node("-p", "count:=many"), Example)
    with pytest.raises(TypeError, match="seed must be an integer, got str 'abc'"):
        declare_dataclass(make_node("-p", "seed:=abc", name="other"), Example)
    with pytest.raises(TypeError, match="parameter mode"):
        declare_dataclass(make_node("-p", "mode:=3", name="third"), Example)


def test_changes_are_applied_or_refused_with_a_reason(make_node) -> None:
    node = make_node()
    current = Example(**{**declare_dataclass(node, Example), "round": Round()})
    node.settings = current
    accept_runtime_changes(node, {"rate", "seed", "mode", "round.episodes"})

    def set_one(name: str, value) -> SetParametersResult:
        return node.set_parameters([Parameter(name, value=value)])[0]

    assert set_one("rate", 4).successful  # an integer for a float field
    assert node.settings.rate == 4.0 and type(node.settings.rate) is float and current.rate == 2.5
    assert set_one("seed", 7).successful and node.settings.seed == 7
    assert set_one("round.episodes", 9).successful and node.settings.round.episodes == 9
    refused = set_one("count", 1)
    assert not refused.successful and "cannot change at run time" in refused.reason
    assert "restart" in refused.reason and "settable at run time" in refused.reason
    assert set_one("seed", "x").reason == "seed must be an integer, got str 'x'"
    assert set_one("rate", -1.0).reason == "rate must be > 0, got -1.0"
    assert set_one("round.episodes", 0).reason == "episodes must be >= 1, got 0"
    assert not set_one("mode", 3).successful  # rclpy keeps a string parameter a string
    with pytest.raises(TypeError, match="mode must be a string, got int 3"):
        coerce("mode", 3, Literal["fast", "slow"])
    assert set_one("mode", "odd").reason == "mode must be one of ('fast', 'slow'), got 'odd'"
    assert set_one("mode", "slow").successful and node.settings.mode == "slow"
    assert not set_one("use_sim_time", True).successful  # rclpy's own parameter: not ours to change
    assert node.settings == dataclasses.replace(current, rate=4.0, seed=7, mode="slow", round=Round(9))
    candidate, reason = apply_parameter_changes(current, [Parameter("ex.rate", value=1.0)], {"rate"}, "ex.")
    assert candidate.rate == 1.0 and reason == ""


@pytest.fixture
def sim_node(ros_env, tmp_path: Path) -> Iterator:
    """Builds an in-process sim_node from a params file (its own rclpy context)."""
    from sac_grasp_ros.nodes.sim_node import SimNode

    context = rclpy.Context()
    rclpy.init(context=context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    nodes = []

    def make(parameters: dict):
        params_file = tmp_path / f"sim_{len(nodes)}.yaml"
        params_file.write_text(yaml.safe_dump({"/sim_node": {"ros__parameters": parameters}}))
        node = SimNode(context=context, cli_args=["--ros-args", "--params-file", str(params_file)])
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        node.close()
        node.destroy_node()
    rclpy.try_shutdown(context=context)


def test_sim_node_declares_every_env_field_and_passes_it_to_the_env(sim_node) -> None:
    node = sim_node({"lift_height": 0.07, "end_position_scale": 1, "seed": 5, "markers_every": 0})
    names = [f.name for f in dataclasses.fields(GraspEnvConfig) if f.name != "randomization"]
    names += [f"randomization.{f.name}" for f in dataclasses.fields(DomainRandomization)]
    for name in names:
        assert node.has_parameter(name), name
        assert node.describe_parameter(name).description  # the field's docstring
    assert node.env.config.lift_height == 0.07 and node.env.config.end_position_scale == 1.0
    assert node.env.config.seed == 5 and node.get_parameter("max_episode_steps").value == 100
    assert node.env.config == dataclasses.replace(
        GraspEnvConfig(), lift_height=0.07, end_position_scale=1.0, seed=5
    )  # every other field at the dataclass default
    assert node.settings.markers_every == 0


def test_sim_node_takes_randomization_ranges_as_the_in_process_env_does(sim_node) -> None:
    """The `randomization:` block of a graph config reaches the worker's env: the same draws and the
    same observations as GraspEnv built from the same settings in this process."""
    from sac_grasp_ros.envs.grasp_env import GraspEnv

    ranges = {"block_mass_scale": [1, 4], "latency_steps": [0, 20], "pose_noise_position": 0.001}
    node = sim_node({"seed": 3, "random_target": True, "randomization": ranges, "markers_every": 0})
    expected = GraspEnvConfig.from_dict({"seed": 3, "random_target": True, "randomization": ranges})
    assert node.env.config == expected and node.env.config.randomization.block_mass_scale == [1.0, 4.0]
    assert list(node.get_parameter("randomization.latency_steps").value) == [0, 20]
    in_process = GraspEnv(config=expected)
    try:
        for seed in (3, 4):
            node_obs, node_info = node.env.reset(seed=seed)
            obs, info = in_process.reset(seed=seed)
            assert node_info["perturbation"] == info["perturbation"]
            np.testing.assert_array_equal(node_obs, obs)
    finally:
        in_process.close()
    with pytest.raises(StartupError, match=r"randomization\.latency_steps must be \[low, high\] integers"):
        sim_node({"randomization": {"latency_steps": [5, 1]}})


def test_sim_node_refuses_bad_env_parameters_by_name(sim_node) -> None:
    with pytest.raises(StartupError, match=r"GraspEnvConfig\.lift_height must be a positive number"):
        sim_node({"lift_height": -0.01})
    with pytest.raises(StartupError, match="seed must be an integer"):
        sim_node({"seed": "five"})
    with pytest.raises(StartupError, match=r"GraspEnvConfig\.seed must be an int >= 0"):
        sim_node({"seed": -1})
