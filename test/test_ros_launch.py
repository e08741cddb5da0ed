"""Launch files: they compile everywhere, declare the arguments of their role, and build their
description where ROS 2 launch exists.

`launch`/`launch_ros` are not on PyPI (a ROS 2 install provides them), so the description test is
skipped in the pip venv; the node list it checks comes from the same translation the pip launcher
uses (graph.arguments; test_graph.py shows both give the same nodes, everywhere).
"""

from __future__ import annotations

import ast
import py_compile
from pathlib import Path

import pytest

from sac_grasp_ros import paths
from sac_grasp_ros.graph import launch_support
from sac_grasp_ros.graph.arguments import ROLE_ARGUMENTS

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
def test_launch_description_builds_the_graph(name):
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
