"""NodeSpecs -> ROS 2 launch actions, and the launch arguments of launch/*.launch.py.

Used by the launch files, where `launch` and `launch_ros` exist (a ROS 2 install); `launch` is
imported inside the functions, so this module imports anywhere. The nodes come from
`graph.arguments` (`LaunchArguments.from_strings` + `node_specs`), the translation `sac-grasp`
(graph.launcher) uses too.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from sac_grasp_ros.graph.arguments import SHIPPED_POLICY, LaunchArguments, node_specs
from sac_grasp_ros.graph.spec import NodeSpec
from sac_grasp_ros.paths import PACKAGE

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


def _node_action(spec: NodeSpec) -> Any:
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


def _visualisation_actions(spec: NodeSpec) -> list[Any]:
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
    """OpaqueFunction body: the launch arguments of `role` (ROLE_ARGUMENTS) -> node actions, plus the
    robot model of each simulator unless robot_state_publisher:=false."""
    values = {name: str(value) for name, value in context.launch_configurations.items()}
    args = LaunchArguments.from_strings(role, values)
    specs = node_specs(args)
    if role in ("train", "test"):
        print(f"[sac_grasp_ros] {role}: output in {args.output_dir()}", file=sys.stderr)
    actions = [_node_action(spec) for spec in specs]
    if values.get("robot_state_publisher", "true").lower() == "true":
        for spec in specs:
            if spec.executable == "sim_node":
                actions += _visualisation_actions(spec)
    return actions


def view_arguments() -> list[Any]:
    """The live browser view's launch arguments (train, test, deploy): view:=true starts view_node."""
    from launch.actions import DeclareLaunchArgument

    return [
        DeclareLaunchArgument("view", default_value="", description="true: start the live browser view too"),
        DeclareLaunchArgument("view_port", default_value="", description="HTTP port of the view (8080)"),
    ]


def common_arguments(default_config: str) -> list[Any]:
    """Launch arguments every launch file declares (each with a description); the overrides default to
    empty, the config's value, as the options of `sac-grasp` do."""
    from launch.actions import DeclareLaunchArgument
    from launch.substitutions import PathJoinSubstitution
    from launch_ros.substitutions import FindPackageShare

    return [
        DeclareLaunchArgument(
            "config",
            default_value=PathJoinSubstitution([FindPackageShare(PACKAGE), "config", default_config]),
            description="graph config YAML (graph / sim_node / agent_node sections)",
        ),
        DeclareLaunchArgument(
            "num_workers",
            default_value="",
            description="simulator workers (empty: from the config)",
        ),
        DeclareLaunchArgument("seed", default_value="", description="base seed (empty: from the config)"),
        DeclareLaunchArgument(
            "step_mode",
            default_value="",
            description="simulator step_mode: lockstep or realtime (empty: from the config)",
        ),
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

    shipped = PathJoinSubstitution([FindPackageShare(PACKAGE), "models", SHIPPED_POLICY])
    return DeclareLaunchArgument("policy", default_value=shipped, description=description)


def output_argument() -> Any:
    """The `out` launch argument: the run's directory, stable and visible (not a temporary one)."""
    from launch.actions import DeclareLaunchArgument

    return DeclareLaunchArgument(
        "out",
        default_value="",
        description="output directory: checkpoints, result.json, reports, env.yaml, demos "
        "(empty: runs/<role>-<time> in the current directory)",
    )


def rviz_action() -> Any:
    from launch.conditions import IfCondition
    from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
    from launch_ros.actions import Node
    from launch_ros.substitutions import FindPackageShare

    return Node(
        package="rviz2",
        executable="rviz2",
        arguments=["-d", PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "sac_grasp.rviz"])],
        condition=IfCondition(LaunchConfiguration("rviz")),
        output="log",
    )
