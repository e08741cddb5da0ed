"""Translate `graph.build_node_specs` into ROS 2 launch actions (for launch/*.launch.py).

Imported only by the launch files, where `launch` and `launch_ros` exist (a ROS 2 install); the
pip world uses sac_grasp_ros.launcher instead. Both read the same NodeSpec list.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from sac_grasp_ros import graph

SAWYER_URDF = Path("models/assets/bullet_data/sawyer_description/urdf/sawyer_arm.urdf")
DEFAULT_ARM_BASE_HEIGHT = 0.912  # m, the pedestal of the MuJoCo scene (scene.mujoco_model.ARM_BASE_HEIGHT)


def sawyer_urdf() -> str:
    """The Sawyer URDF shipped in the robosuite wheel, with mesh URIs made absolute.

    robosuite is located on disk, never imported; `package://sawyer_description/` becomes a
    file:// URI so RViz finds the meshes without a sawyer_description ROS package.
    """
    spec = importlib.util.find_spec("robosuite")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "robosuite (model files) is not installed: pip install --no-deps robosuite==1.5.2"
        )
    urdf = Path(spec.origin).parent / SAWYER_URDF
    if not urdf.is_file():
        raise FileNotFoundError(f"Sawyer URDF not found at {urdf}")
    description_dir = urdf.parent.parent
    return urdf.read_text().replace("package://sawyer_description/", f"file://{description_dir}/")


def arm_base_height() -> float:
    try:
        from sac_grasp_ros.scene.mujoco_model import ARM_BASE_HEIGHT
    except ImportError:
        return DEFAULT_ARM_BASE_HEIGHT
    return float(ARM_BASE_HEIGHT)


def _node_action(spec: graph.NodeSpec) -> Any:
    from launch_ros.actions import Node

    return Node(
        package=spec.package,
        executable=spec.executable,
        name=spec.name,
        namespace=spec.namespace,
        parameters=[spec.parameters],
        respawn=spec.respawn,
        respawn_delay=spec.respawn_delay,
        remappings=list(spec.remappings.items()),
        output="screen",
    )


def _visualisation_actions(spec: graph.NodeSpec) -> list[Any]:
    """robot_state_publisher + a world -> base transform for one worker (frames prefixed by worker)."""
    from launch_ros.actions import Node

    worker = spec.namespace.strip("/")
    prefix = f"{worker}/" if worker else ""  # the root namespace (deploy) is the robot itself: no prefix
    return [
        Node(
            package="robot_state_publisher",
            executable="robot_state_publisher",
            namespace=spec.namespace,
            parameters=[{"robot_description": sawyer_urdf(), "frame_prefix": prefix}],
            output="log",
        ),
        Node(
            package="tf2_ros",
            executable="static_transform_publisher",
            namespace=spec.namespace,
            arguments=[
                "--z",
                str(arm_base_height()),
                "--frame-id",
                "world",
                "--child-frame-id",
                f"{prefix}right_arm_base_link",
            ],
            output="log",
        ),
    ]


def graph_actions(context: Any, role: str) -> list[Any]:
    """OpaqueFunction body: read the launch arguments, build the specs, return the actions.

    Arguments used (declared by the launch files): config, num_workers, first_index, seed, remote_workers,
    policy (test, deploy), command_topic (deploy), robot_state_publisher.
    """
    values = {name: value for name, value in context.launch_configurations.items()}
    config = graph.load_config(values["config"])
    graph_overrides: dict[str, Any] = {}
    for name in ("num_workers", "first_index", "seed", "remote_workers"):
        if values.get(name):
            graph_overrides[name] = int(values[name])
    agent_overrides: dict[str, Any] = {}
    policy_overrides: dict[str, Any] = {}
    if role == "deploy":
        for name in ("policy", "command_topic"):
            if values.get(name):
                policy_overrides[name] = values[name]
    if role == "test":
        agent_overrides = {"learning": False, "load_on_start": values.get("policy", "")}
        if values.get("evaluate", "false").lower() == "true":
            agent_overrides.update(on_finish="evaluate_and_exit", total_steps=0)
    # A policy's env.yaml (observation mode, velocity scale, ...) decides what the simulator must produce.
    sim_overrides = graph.policy_env_settings(values["policy"]) if values.get("policy") else None
    if role == "train":  # env.yaml for the checkpoints and graph.demos, as `sac-grasp train` does
        import tempfile

        directory = tempfile.mkdtemp(prefix="sac_grasp_train_")
        agent_overrides["env_file"] = str(graph.write_env_file(config, directory, sim_overrides))
        recorded = graph.record_config_demos(config, directory, graph_overrides, sim_overrides)
        if recorded is not None:
            agent_overrides["demo_file"] = str(recorded[0])
    specs = graph.build_node_specs(
        config, role, graph_overrides, agent_overrides, sim_overrides, policy_overrides
    )
    actions = [_node_action(spec) for spec in specs]
    if values.get("robot_state_publisher", "true").lower() == "true":
        for spec in specs:
            if spec.executable == "sim_node":
                actions += _visualisation_actions(spec)
    return actions


def common_arguments(default_config: str, default_workers: str) -> list[Any]:
    """Launch arguments shared by the three launch files (each with a description)."""
    from launch.actions import DeclareLaunchArgument
    from launch.substitutions import PathJoinSubstitution
    from launch_ros.substitutions import FindPackageShare

    return [
        DeclareLaunchArgument(
            "config",
            default_value=PathJoinSubstitution([FindPackageShare(graph.PACKAGE), "config", default_config]),
            description="graph config YAML (graph / sim_node / agent_node sections)",
        ),
        DeclareLaunchArgument(
            "num_workers",
            default_value=default_workers,
            description="simulator workers (empty: from the config)",
        ),
        DeclareLaunchArgument("seed", default_value="", description="base seed (empty: from the config)"),
        DeclareLaunchArgument(
            "rviz", default_value="false", description="start RViz with config/sac_grasp.rviz"
        ),
        DeclareLaunchArgument(
            "robot_state_publisher",
            default_value="true",
            description="publish the Sawyer model of each worker",
        ),
    ]


def policy_argument(description: str) -> Any:
    """The `policy` launch argument, defaulting to the policy shipped in the package's models/."""
    from launch.actions import DeclareLaunchArgument
    from launch.substitutions import PathJoinSubstitution
    from launch_ros.substitutions import FindPackageShare

    shipped = PathJoinSubstitution([FindPackageShare(graph.PACKAGE), "models", "sawyer_grasp_sac"])
    return DeclareLaunchArgument("policy", default_value=shipped, description=description)


def rviz_action() -> Any:
    from launch.conditions import IfCondition
    from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
    from launch_ros.actions import Node
    from launch_ros.substitutions import FindPackageShare

    return Node(
        package="rviz2",
        executable="rviz2",
        arguments=["-d", PathJoinSubstitution([FindPackageShare(graph.PACKAGE), "config", "sac_grasp.rviz"])],
        condition=IfCondition(LaunchConfiguration("rviz")),
        output="log",
    )
