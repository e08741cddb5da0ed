"""Launch files: they compile everywhere, declare the arguments of their role, and build their
description where ROS 2 launch exists.

`launch`/`launch_ros` are not on PyPI (a ROS 2 install provides them), so the description tests are
skipped in the pip venv; the node list they check comes from the same translation the pip launcher
uses (graph.arguments; test_graph.py shows both give the same nodes, everywhere). The decisions the
launch files make at launch time are ROS-free functions tested everywhere: which optional packages
are wanted and missing (a real ament index under tmp_path), and which node's exit ends the graph.
"""

from __future__ import annotations

import ast
import dataclasses
import py_compile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from cli_helpers import planned_specs

from sac_grasp_ros import paths
from sac_grasp_ros.graph import launch_support
from sac_grasp_ros.graph.arguments import ROLE_ARGUMENTS, LaunchArguments, node_specs
from sac_grasp_ros.graph.lifetime import graph_end_reason
from sac_grasp_ros.paths import SHIPPED_POLICY

LAUNCH_FILES = sorted((paths.share_dir() / "launch").glob("*.launch.py"))


def test_every_launch_file_compiles_and_the_urdf_resolves(tmp_path: Path):
    assert {p.name for p in LAUNCH_FILES} == {
        "train.launch.py",
        "test.launch.py",
        "worker.launch.py",
        "deploy.launch.py",
    }
    for path in LAUNCH_FILES:
        py_compile.compile(str(path), cfile=str(tmp_path / f"{path.stem}.pyc"), doraise=True)
    urdf = launch_support.sawyer_urdf()
    assert "right_j6" in urdf and "package://" not in urdf
    mesh = urdf.split('filename="file://', 1)[1].split('"', 1)[0]
    assert Path(mesh).is_file()


def _declared_names(tree: ast.AST) -> set[str]:
    """First arguments of the DeclareLaunchArgument(...) calls in `tree`."""
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", getattr(node.func, "attr", None)) == "DeclareLaunchArgument"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }


def test_each_launch_file_declares_the_arguments_its_role_reads():
    """graph_actions reads ROLE_ARGUMENTS[role]: each must be declared (directly or by a launch_support
    helper the file calls), else ros2 launch would not show or accept it; nothing else but the
    visualisation switches."""
    helpers = {
        node.name: _declared_names(node)
        for node in ast.parse(Path(launch_support.__file__).read_text()).body
        if isinstance(node, ast.FunctionDef)
    }
    for path in LAUNCH_FILES:
        tree = ast.parse(path.read_text())
        declared = _declared_names(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and getattr(node.value, "id", None) == "launch_support":
                declared |= helpers.get(node.attr, set())
        role = path.name.removesuffix(".launch.py")
        assert declared - {"rviz", "robot_state_publisher"} == set(ROLE_ARGUMENTS[role]), path.name


def test_unset_launch_arguments_mean_the_config_as_in_sac_grasp():
    """An override the user does not give is empty (the config's value), like an option `sac-grasp`
    is not given: the two launch paths start the same nodes from their defaults too."""
    sources = [*LAUNCH_FILES, Path(launch_support.__file__)]
    with_defaults = {"config", "policy", "evaluate", "rviz", "robot_state_publisher"}  # not overrides
    for source in sources:
        for node in ast.walk(ast.parse(source.read_text())):
            if not (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", None)) == "DeclareLaunchArgument"
            ):
                continue
            name = node.args[0].value
            default = {k.arg: k.value for k in node.keywords}.get("default_value")
            if name not in with_defaults:
                assert isinstance(default, ast.Constant) and default.value == "", (source.name, name)


def _load(path: Path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(path.stem.replace(".", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["train", "test", "worker", "deploy"])
def test_launch_description_builds_the_graph(name, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)  # a train description prepares its run under runs/
    launch = pytest.importorskip("launch", reason="ROS 2 `launch` is not installable from PyPI")
    if not hasattr(launch, "LaunchDescription"):
        pytest.skip("ROS 2 `launch` is not installed (only the repository's launch/ folder was found)")
    pytest.importorskip("launch_ros", reason="ROS 2 `launch_ros` is not installable from PyPI")
    from launch.actions import OpaqueFunction

    description = _load(paths.share_dir() / "launch" / f"{name}.launch.py").generate_launch_description()
    context = launch.LaunchContext()
    for entity in description.entities:
        if hasattr(entity, "default_value") and entity.default_value is not None:
            try:
                value = launch.utilities.perform_substitutions(context, entity.default_value)
            except Exception:
                value = ""
            context.launch_configurations[entity.name] = value
    config = {"test": "test", "deploy": "deploy"}.get(name, "train")
    context.launch_configurations["config"] = str(paths.config_file(config))
    (opaque,) = [e for e in description.entities if isinstance(e, OpaqueFunction)]
    actions = launch_support.graph_actions(context, name)
    executables = [getattr(a, "node_executable", None) for a in actions]
    assert "sim_node" in executables
    assert ("agent_node" in executables) == (name in ("train", "test"))
    assert ("policy_node" in executables) == (name == "deploy")
    assert opaque is not None


# -- optional packages -------------------------------------------------------------------------------


def _ament_prefix(root: Path, *packages: str) -> Path:
    """A real ament resource index under `root` registering `packages` (what colcon installs)."""
    index = root / "share" / "ament_index" / "resource_index" / "packages"
    index.mkdir(parents=True)
    for name in packages:
        (index / name).write_text("")
    return root


def _test_values(tmp_path: Path, **values: str) -> dict[str, str]:
    """test.launch.py's launch configurations, as ros2 launch hands them to graph_actions."""
    declared = {name: "" for name in ROLE_ARGUMENTS["test"]}
    shipped = str(paths.models_dir() / SHIPPED_POLICY)
    return {**declared, "config": str(paths.config_file("test")), "policy": shipped, **values}


def test_a_missing_policy_under_ros2_launch_names_the_launch_argument(tmp_path: Path):
    missing = str(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="with policy:=") as error:
        launch_support.launch_specs("test", _test_values(tmp_path, policy=missing))
    assert "--policy" not in str(error.value)
    deploy = {**{name: "" for name in ROLE_ARGUMENTS["deploy"]}, "config": str(paths.config_file("deploy"))}
    with pytest.raises(FileNotFoundError, match="with policy:="):
        launch_support.launch_specs("deploy", {**deploy, "policy": missing})
    with pytest.raises(FileNotFoundError, match="with --policy"):  # sac-grasp's spelling, by default
        node_specs(LaunchArguments(role="test", config=str(paths.config_file("test")), policy=missing))


def test_a_test_launch_without_evaluate_leaves_no_empty_output_folder(tmp_path: Path):
    out = tmp_path / "runs" / "test-now"
    args, _ = launch_support.launch_specs("test", _test_values(tmp_path, out=str(out)))
    assert "/save writes checkpoints to" in launch_support.prepare_output(args)
    assert not out.exists() and not out.parent.exists()
    args, _ = launch_support.launch_specs("test", _test_values(tmp_path, out=str(out), evaluate="true"))
    assert launch_support.prepare_output(args) == f"output in {out}"
    assert out.is_dir()  # the agent writes result.json there
    deploy = {**{name: "" for name in ROLE_ARGUMENTS["deploy"]}, "config": str(paths.config_file("deploy"))}
    args, _ = launch_support.launch_specs("deploy", deploy)
    assert launch_support.prepare_output(args) == ""  # a deploy graph writes no run folder


def test_missing_packages_asks_the_ament_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    first = _ament_prefix(tmp_path / "a", "robot_state_publisher")
    second = _ament_prefix(tmp_path / "b", "rviz2")
    monkeypatch.setenv("AMENT_PREFIX_PATH", f"{first}:{second}")
    wanted = ["robot_state_publisher", "tf2_ros", "rviz2"]
    assert launch_support.missing_packages(wanted) == ["tf2_ros"]
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(first))
    assert launch_support.missing_packages(wanted) == ["tf2_ros", "rviz2"]
    monkeypatch.delenv("AMENT_PREFIX_PATH")  # no ament index at all: nothing is found
    assert launch_support.missing_packages(wanted) == wanted


def _specs(role: str, **values: str) -> list:
    """The nodes of `role` with its shipped config (not train: that would record demos)."""
    config = {"test": "test", "deploy": "deploy"}.get(role, "train")
    strings = {"config": str(paths.config_file(config)), **values}
    return planned_specs(LaunchArguments.from_strings(role, strings))


def test_optional_packages_follow_the_visualisation_switches():
    specs = _specs("worker")
    assert launch_support.optional_packages({}, specs) == ["robot_state_publisher", "tf2_ros"]
    assert launch_support.optional_packages({"rviz": "true"}, specs) == [
        "robot_state_publisher",
        "tf2_ros",
        "rviz2",
    ]
    off = {"robot_state_publisher": "false", "rviz": "True"}
    assert launch_support.optional_packages(off, specs) == ["rviz2"]
    assert launch_support.optional_packages({"robot_state_publisher": "false"}, specs) == []
    with pytest.raises(ValueError, match="rviz must be true or false, got 'yes'"):
        launch_support.optional_packages({"rviz": "yes"}, specs)


def test_one_warning_names_every_missing_package_and_its_install():
    both = launch_support.missing_packages_warning(["robot_state_publisher", "tf2_ros", "rviz2"], "kilted")
    assert both.startswith("not found: robot_state_publisher, tf2_ros, rviz2 — ")
    assert "the robot model and RViz are not started" in both
    assert "ros-kilted-robot-state-publisher ros-kilted-tf2-ros ros-kilted-rviz2" in both
    rviz = launch_support.missing_packages_warning(["rviz2"], "kilted")
    assert "RViz is not started" in rviz and "robot model" not in rviz
    assert "ros-kilted-rviz2" in rviz and "tf2" not in rviz


def test_package_xml_declares_every_package_the_launch_files_start_or_import():
    """Each `package=` a launch action names (robot model, RViz) and each ROS Python package the
    launch support imports is an exec_depend; the optional ones are commented as optional."""
    text = (paths.share_dir() / "package.xml").read_text()
    declared = {e.text for e in ET.fromstring(text).iter("exec_depend")}
    source = ast.parse(Path(launch_support.__file__).read_text())
    started = {
        keyword.value.value
        for node in ast.walk(source)
        if isinstance(node, ast.Call)
        for keyword in node.keywords
        if keyword.arg == "package" and isinstance(keyword.value, ast.Constant)
    }
    started |= {*launch_support.ROBOT_MODEL_PACKAGES, launch_support.RVIZ_PACKAGE}
    imported = {
        (node.module or "").split(".")[0] for node in ast.walk(source) if isinstance(node, ast.ImportFrom)
    } & {"launch", "launch_ros", "ament_index_python"}
    assert started == {"robot_state_publisher", "tf2_ros", "rviz2"}
    assert imported == {"launch", "launch_ros", "ament_index_python"}
    assert started | imported <= declared, sorted((started | imported) - declared)
    assert "Optional at run time" in text


# -- the graph ends as one ---------------------------------------------------------------------------


def test_the_main_node_ends_the_graph_and_respawned_workers_do_not():
    test = _specs("test")  # agent + simulator like train, without a training run's preparation
    (agent,) = [s for s in test if s.executable == "agent_node"]
    assert "/agent_node finished" in graph_end_reason(agent, 0)
    assert "exited with 1" in graph_end_reason(agent, 1)
    assert "exited with -9" in graph_end_reason(agent, -9)
    workers = _specs("worker")  # config/train.yaml: respawned
    assert workers and all(w.respawn for w in workers)
    for worker in workers:
        assert graph_end_reason(worker, 1) is None
        assert graph_end_reason(worker, 0) is None
    (policy,) = [s for s in _specs("deploy") if s.executable == "policy_node"]
    assert "finished" in graph_end_reason(policy, 0)
    assert graph_end_reason(policy, 2) is not None


def test_a_respawned_agent_ends_the_graph_only_when_it_finishes():
    """graph.respawn_agent: a crash is respawned (it resumes), a finished run (exit 0) is the end."""
    (agent,) = [s for s in _specs("test") if s.executable == "agent_node"]
    respawned = dataclasses.replace(agent, respawn=True)
    assert graph_end_reason(respawned, 1) is None
    assert "finished" in graph_end_reason(respawned, 0)


def test_a_node_that_is_not_respawned_is_required():
    """config/test.yaml does not respawn its simulator: the evaluation cannot go on without it."""
    (sim,) = [s for s in _specs("test") if s.executable == "sim_node"]
    assert not sim.respawn
    assert "required node /worker_0/sim_node exited with 0" in graph_end_reason(sim, 0)
    assert "exited with -11" in graph_end_reason(sim, -11)


def _launch_or_skip():
    launch = pytest.importorskip("launch", reason="ROS 2 `launch` is not installable from PyPI")
    if not hasattr(launch, "LaunchDescription"):
        pytest.skip("ROS 2 `launch` is not installed (only the repository's launch/ folder was found)")
    pytest.importorskip("launch_ros", reason="ROS 2 `launch_ros` is not installable from PyPI")
    return launch


def _context(launch, name: str, **values: str):
    context = launch.LaunchContext()
    config = {"test": "test", "deploy": "deploy"}.get(name, "train")
    context.launch_configurations.update({"config": str(paths.config_file(config)), **values})
    return context


@pytest.mark.parametrize("name", ["train", "test", "worker", "deploy"])
def test_every_node_action_has_its_exit_handler(name, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    launch = _launch_or_skip()
    from launch.actions import RegisterEventHandler
    from launch.event_handlers import OnProcessExit
    from launch_ros.actions import Node

    monkeypatch.chdir(tmp_path)  # a train description prepares its run under runs/
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(_ament_prefix(tmp_path / "prefix", "sac_grasp_ros")))
    actions = launch_support.graph_actions(_context(launch, name, rviz="true"), name)
    nodes = [a for a in actions if isinstance(a, Node)]
    handlers = [a.event_handler for a in actions if isinstance(a, RegisterEventHandler)]
    assert nodes and len(handlers) == len(nodes)  # none of the optional packages is in this index
    assert all(isinstance(h, OnProcessExit) for h in handlers)
    for node in nodes:
        assert sum(h.matches(_exited(node, 0)) for h in handlers) == 1, node.node_executable


@pytest.mark.parametrize("name", ["test", "deploy"])
def test_the_main_node_exit_shuts_launch_down_and_a_failure_fails_it(
    name, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Exit 0: a Shutdown event (ros2 launch stops the rest and returns 0); non-zero: NodeExitError,
    which LaunchService turns into shutdown + return code 1; during a shutdown: nothing."""
    launch = _launch_or_skip()
    from launch.actions import EmitEvent, RegisterEventHandler
    from launch.events import Shutdown
    from launch_ros.actions import Node

    monkeypatch.setenv("AMENT_PREFIX_PATH", str(_ament_prefix(tmp_path / "prefix", "sac_grasp_ros")))
    context = _context(launch, name, out=str(tmp_path / "out"))
    actions = launch_support.graph_actions(context, name)
    assert (tmp_path / "out").is_dir() == (name == "test")  # the agent writes result.json there
    main = next(
        a for a in actions if isinstance(a, Node) and a.node_executable in ("agent_node", "policy_node")
    )
    (handler,) = [
        a.event_handler
        for a in actions
        if isinstance(a, RegisterEventHandler) and a.event_handler.matches(_exited(main, 0))
    ]
    (emit,) = handler.handle(_exited(main, 0), context)
    assert isinstance(emit, EmitEvent) and isinstance(emit.event, Shutdown)
    assert "finished" in emit.event.reason
    with pytest.raises(launch_support.NodeExitError, match="exited with 3"):
        handler.handle(_exited(main, 3), context)
    context._set_is_shutdown(True)
    assert handler.handle(_exited(main, -2), context) is None


def _exited(action, returncode: int):
    from launch.events.process import ProcessExited

    return ProcessExited(action=action, name="n", cmd=["n"], cwd=None, env=None, pid=1, returncode=returncode)
