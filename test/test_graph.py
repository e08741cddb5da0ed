"""Config -> node specs, launch arguments -> node specs (the same for launch files and launcher), and
the launcher's translation into processes, parameter files and environment."""

from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path

import pytest
import yaml
from cli_helpers import planned_specs

from sac_grasp_ros import launcher, paths
from sac_grasp_ros.graph.arguments import ROLE_ARGUMENTS, LaunchArguments
from sac_grasp_ros.graph.spec import ROLES, DemoSettings, build_node_specs, graph_config, load_config
from sac_grasp_ros.paths import SHIPPED_POLICY
from sac_grasp_ros.sac import SACConfig


@pytest.mark.parametrize("name", ["train", "train_quick", "train_demos", "train_original", "test"])
def test_shipped_configs_build_a_graph(name):
    config = load_config(paths.config_file(name))
    specs = build_node_specs(config, "train")
    sims = [s for s in specs if s.executable == "sim_node"]
    (agent,) = [s for s in specs if s.executable == "agent_node"]
    assert len(sims) == config["graph"]["num_workers"]
    assert agent.namespace == "/" and agent.parameters["workers"] == [s.namespace.strip("/") for s in sims]
    assert len({s.parameters["seed"] for s in sims}) == len(sims)  # every worker its own seed


@pytest.mark.parametrize("name", ["train", "train_quick", "train_demos", "train_original"])
def test_shipped_learner_settings_are_valid(name):
    agent = load_config(paths.config_file(name))["agent_node"]["ros__parameters"]
    SACConfig.from_dict(agent.get("sac", {}))  # raises naming the field on a typo or bad value


def test_the_scratch_recipe_learns_without_any_demonstration():
    config = load_config(paths.config_file("train"))
    agent = config["agent_node"]["ros__parameters"]
    assert "demos" not in config["graph"] and not agent.get("demo_file")
    assert not any(agent.get(stage) for stage in ("bc_steps", "prefill_from_demos", "bc_per_update"))


def test_overrides_seeds_and_worker_ranges():
    config = load_config(paths.config_file("train"))
    specs = build_node_specs(config, "worker", {"num_workers": 3, "first_index": 4, "seed": 10})
    assert [s.namespace for s in specs] == ["/worker_4", "/worker_5", "/worker_6"]
    assert [s.parameters["seed"] for s in specs] == [14, 15, 16]
    assert all(s.respawn and s.module == "sac_grasp_ros.nodes.sim_node" for s in specs)
    train = build_node_specs(config, "train", {"num_workers": 2}, {"total_steps": 7})
    assert train[-1].parameters["total_steps"] == 7 and train[-1].parameters["seed"] == 0
    assert (
        train[-1].parameters["command_scale"] == config["sim_node"]["ros__parameters"]["max_joint_velocity"]
    )


def test_remote_workers_are_driven_by_the_agent_but_not_started_here():
    config = load_config(paths.config_file("train"))
    specs = build_node_specs(config, "train", {"num_workers": 2, "remote_workers": 3})
    assert [s.namespace for s in specs if s.executable == "sim_node"] == ["/worker_0", "/worker_1"]
    agent = specs[-1].parameters
    assert agent["workers"] == ["worker_0", "worker_1", "worker_2", "worker_3", "worker_4"]
    args = launcher.parse_args(["train", "--num-workers", "1", "--remote-workers", "2"])
    assert graph_config(config, num_workers=1, remote_workers=args.remote_workers).remote_workers == 2


@pytest.mark.parametrize(
    ("section", "error"),
    [
        ({"graph": {"num_workers": 0}}, "num_workers"),
        ({"graph": {"remote_workers": -1}}, "remote_workers must be an integer >= 0"),
        ({"graph": {"remote_workers": "4"}}, "remote_workers must be an integer"),
        ({"graph": {"bogus": 1}}, "bogus"),
        ({"sim_nod": {}}, "unknown top-level"),
    ],
)
def test_bad_configs_are_named(tmp_path: Path, section, error):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(section))
    with pytest.raises(ValueError, match=error):
        build_node_specs(load_config(path), "train")


def test_launcher_writes_params_files_and_commands(tmp_path: Path):
    args = launcher.parse_args(
        ["train", "--quick", "--num-workers", "3", "--total-steps", "50", "--out", str(tmp_path)]
    )
    specs = planned_specs(LaunchArguments.from_options(args))
    supervisor = launcher.Supervisor(specs, tmp_path, {})
    agent = supervisor.nodes[-1]
    assert agent.command[:3] == [sys.executable, "-m", "sac_grasp_ros.nodes.agent_node"]
    assert "__ns:=/" in agent.command and "__node:=agent_node" in agent.command
    params = yaml.safe_load(Path(agent.command[-1]).read_text())
    agent_params = params["/agent_node"]["ros__parameters"]
    assert agent_params["total_steps"] == 50 and agent_params["workers"] == [
        "worker_0",
        "worker_1",
        "worker_2",
    ]
    assert agent_params["result_file"] == str((tmp_path / "result.json").resolve())
    worker = yaml.safe_load(Path(supervisor.nodes[1].command[-1]).read_text())
    assert worker["/worker_1/sim_node"]["ros__parameters"]["seed"] == 1
    assert args.localhost and 0 <= args.domain_id <= 232


def test_launcher_environment_for_pip_venvs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HOME", "/nonexistent")
    monkeypatch.delenv("ROS_LOG_DIR", raising=False)
    monkeypatch.delenv("ROS_HOME", raising=False)
    env = launcher.node_environment(tmp_path, 17, localhost=True)
    assert env["ROS_LOG_DIR"].startswith(str(tmp_path.resolve()))
    assert sys.prefix in env["AMENT_PREFIX_PATH"].split(":")
    assert env["ROS_DOMAIN_ID"] == "17" and env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"


def test_test_role_without_policy_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    code = launcher.main(["test", "--policy", str(tmp_path / "missing"), "--out", str(tmp_path / "out")])
    assert code == 2
    assert "no policy checkpoint" in capsys.readouterr().err


def test_graph_demos_are_a_typed_setting():
    config = {"graph": {"demos": {"episodes": 3, "seed": 9}}}
    assert graph_config(config).demos == DemoSettings(episodes=3, seed=9)
    assert graph_config({"graph": {"demos": {"episodes": 3}}}).demos == DemoSettings(episodes=3, seed=None)
    assert graph_config({"graph": {"demos": None}}).demos is None
    for demos, message in (
        ({}, "graph.demos.episodes is missing"),
        ({"episodes": True}, "graph.demos.episodes must be an integer >= 1"),
        ({"episodes": 2, "seed": -1}, "graph.demos.seed must be an integer >= 0"),
        ({"episodes": 2, 7: 1}, r"unknown graph.demos option\(s\) \[7\]"),
        ([2], "graph.demos must be a mapping"),
    ):
        with pytest.raises(ValueError, match=message):
            graph_config({"graph": {"demos": demos}})


SHIPPED = str(paths.models_dir() / SHIPPED_POLICY)


def _small_training_config(tmp_path: Path) -> str:
    """train_quick.yaml with two demo episodes: the preparation records them in a few seconds."""
    config = load_config(paths.config_file("train_quick"))
    config["graph"]["demos"] = {"episodes": 2}
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def _launch_values(role: str, **values: str) -> dict[str, str]:
    """What ros2 launch hands graph_actions: every declared argument (strings, empty = unset)."""
    declared = {name: "" for name in ROLE_ARGUMENTS[role]}
    return {**declared, "rviz": "false", "robot_state_publisher": "true", **values}


def _launched_specs(role: str, values: dict[str, str]) -> list:
    """The nodes `ros2 launch sac_grasp_ros <role>.launch.py` starts (graph_actions' translation)."""
    return planned_specs(LaunchArguments.from_strings(role, values))


def _launcher_specs(argv: list[str]) -> list:
    """The nodes `sac-grasp <argv>` starts (launcher.main's translation, without starting them)."""
    return planned_specs(LaunchArguments.from_options(launcher.parse_args(argv)))


def test_launch_files_and_launcher_start_the_same_training_nodes(tmp_path: Path):
    config, out = _small_training_config(tmp_path), str(tmp_path / "run")
    options = ["--num-workers", "3", "--seed", "5", "--remote-workers", "1", "--total-steps", "40"]
    options += ["--eval-episodes", "4", "--step-mode", "realtime", "--out", out]
    launched = _launched_specs(
        "train",
        _launch_values(
            "train", config=config, num_workers="3", seed="5", remote_workers="1", total_steps="40",
            eval_episodes="4", step_mode="realtime", out=out,
        ),
    )  # fmt: skip
    started = _launcher_specs(["train", "--config", config, *options])
    assert started == launched
    agent = launched[-1].parameters
    run = (tmp_path / "run").resolve()
    assert agent["report_dir"] == str(run) and agent["result_file"] == str(run / "result.json")
    assert agent["checkpoint_dir"] == str(run / "checkpoints" / "latest")
    assert agent["env_file"] == str(run / "env.yaml") and agent["demo_file"] == str(run / "demos.npz")
    assert (run / "env.yaml").is_file() and (run / "demos.npz").is_file()  # a visible run directory
    assert (agent["total_steps"], agent["eval_episodes"], agent["seed"]) == (40, 4, 5)
    assert [s.parameters["step_mode"] for s in launched[:-1]] == ["realtime"] * 3


def test_launch_files_and_launcher_start_the_same_test_worker_and_deploy_nodes(tmp_path: Path):
    out = str(tmp_path / "run")
    cases = [
        (
            ["test", "--policy", SHIPPED, "--eval-episodes", "3", "--seed", "7", "--out", out],
            _launch_values(
                "test", config=str(paths.config_file("test")), policy=SHIPPED, evaluate="false",
                eval_episodes="3", seed="7", out=out,
            ),
        ),
        (
            ["worker", "--num-workers", "2", "--first-index", "4", "--step-mode", "lockstep"],
            _launch_values(
                "worker", config=str(paths.config_file("train")), num_workers="2", first_index="4",
                step_mode="lockstep",
            ),
        ),
        (
            ["deploy", "--policy", SHIPPED, "--command-topic", "/arm/commands", "--seed", "2"],
            _launch_values(
                "deploy", config=str(paths.config_file("deploy")), policy=SHIPPED,
                command_topic="/arm/commands", seed="2",
            ),
        ),
    ]  # fmt: skip
    for argv, values in cases:
        started = _launcher_specs(argv)
        assert started == _launched_specs(argv[0], values), argv[0]
    test_agent = _launcher_specs(cases[0][0])[-1].parameters
    run = (tmp_path / "run").resolve()
    assert test_agent["checkpoint_dir"] == str(run / "checkpoints" / "latest")
    assert test_agent["load_on_start"] == str(Path(SHIPPED).resolve()) and test_agent["learning"] is False
    assert test_agent["on_finish"] == "idle"  # the launcher calls /evaluate itself
    evaluating = _launched_specs("test", {**cases[0][1], "evaluate": "True"})[-1].parameters
    assert (evaluating["on_finish"], evaluating["total_steps"]) == ("evaluate_and_exit", 0)
    assert evaluating["result_file"] == str(run / "result.json")


def test_launch_argument_strings_are_checked_and_named():
    config = str(paths.config_file("train"))
    args = LaunchArguments.from_strings("worker", {"config": config, "num_workers": " 2 ", "policy": "x"})
    assert (args.num_workers, args.policy, args.first_index) == (2, None, None)  # policy is not a worker's
    for role, values, message in (
        ("worker", {"config": config, "num_workers": "two"}, "argument num_workers must be an integer"),
        ("test", {"config": config, "evaluate": "maybe"}, "launch argument evaluate must be true or false"),
        ("train", {"config": ""}, "launch argument config is empty"),
        ("trian", {"config": config}, "unknown role 'trian'"),
    ):
        with pytest.raises(ValueError, match=message):
            LaunchArguments.from_strings(role, values)


def test_every_launch_argument_belongs_to_a_role():
    declared = {name for names in ROLE_ARGUMENTS.values() for name in names}
    assert declared == {f.name for f in fields(LaunchArguments)} - {"role"}
    assert set(ROLE_ARGUMENTS) == set(ROLES)
