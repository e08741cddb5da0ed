"""Config -> node specs (the single source of truth of launch files and launcher), and the
launcher's translation into processes, parameter files and environment."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from sac_grasp_ros import graph, launcher, paths


@pytest.mark.parametrize("name", ["train", "train_quick", "train_original", "test"])
def test_shipped_configs_build_a_graph(name):
    config = graph.load_config(paths.config_file(name))
    specs = graph.build_node_specs(config, "train")
    sims = [s for s in specs if s.executable == "sim_node"]
    (agent,) = [s for s in specs if s.executable == "agent_node"]
    assert len(sims) == config["graph"]["num_workers"]
    assert agent.namespace == "/" and agent.parameters["workers"] == [s.namespace.strip("/") for s in sims]
    assert len({s.parameters["seed"] for s in sims}) == len(sims)  # every worker its own seed


def test_overrides_seeds_and_worker_ranges():
    config = graph.load_config(paths.config_file("train"))
    specs = graph.build_node_specs(config, "worker", {"num_workers": 3, "first_index": 4, "seed": 10})
    assert [s.namespace for s in specs] == ["/worker_4", "/worker_5", "/worker_6"]
    assert [s.parameters["seed"] for s in specs] == [14, 15, 16]
    assert all(s.respawn and s.module == "sac_grasp_ros.nodes.sim_node" for s in specs)
    train = graph.build_node_specs(config, "train", {"num_workers": 2}, {"total_steps": 7})
    assert train[-1].parameters["total_steps"] == 7 and train[-1].parameters["seed"] == 0
    assert (
        train[-1].parameters["command_scale"] == config["sim_node"]["ros__parameters"]["max_joint_velocity"]
    )


def test_remote_workers_are_driven_by_the_agent_but_not_started_here():
    config = graph.load_config(paths.config_file("train"))
    specs = graph.build_node_specs(config, "train", {"num_workers": 2, "remote_workers": 3})
    assert [s.namespace for s in specs if s.executable == "sim_node"] == ["/worker_0", "/worker_1"]
    agent = specs[-1].parameters
    assert agent["workers"] == ["worker_0", "worker_1", "worker_2", "worker_3", "worker_4"]
    args = launcher.parse_args(["train", "--num-workers", "1", "--remote-workers", "2"])
    assert graph.graph_config(config, num_workers=1, remote_workers=args.remote_workers).remote_workers == 2


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
        graph.build_node_specs(graph.load_config(path), "train")


def test_launcher_writes_params_files_and_commands(tmp_path: Path):
    args = launcher.parse_args(
        ["train", "--quick", "--num-workers", "3", "--total-steps", "50", "--out", str(tmp_path)]
    )
    specs = launcher.build_specs(args, tmp_path)
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
