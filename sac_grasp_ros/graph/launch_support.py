"""NodeSpecs -> ROS 2 launch actions, and the launch arguments of launch/*.launch.py.

Used by the launch files, where `launch` and `launch_ros` exist (a ROS 2 install); `launch` is
imported inside the functions, so this module imports anywhere. The nodes come from
`graph.arguments` (`LaunchArguments.from_strings` + `node_specs`), the translation `sac-grasp`
(`sac_grasp_ros.launcher`) uses too.

Two decisions live here as ROS-free functions, so they are tested in the pip venv too:
which optional packages (robot model, RViz) a launch wants and lacks (`missing_packages`,
`optional_packages`); when a node's exit ends the graph is `graph.lifetime.graph_end_reason`, which
the pip launcher follows too.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sac_grasp_ros.graph.arguments import LaunchArguments, launch_bool, node_specs, prepare_run
from sac_grasp_ros.graph.lifetime import graph_end_reason
from sac_grasp_ros.graph.spec import NodeSpec
from sac_grasp_ros.paths import PACKAGE, SHIPPED_POLICY

SAWYER_URDF = Path("models/assets/bullet_data/sawyer_description/urdf/sawyer_arm.urdf")
DEFAULT_ARM_BASE_HEIGHT = 0.912  # m, the pedestal of the MuJoCo scene (scene.mujoco_model.ARM_BASE_HEIGHT)
ROBOT_MODEL_PACKAGES = ("robot_state_publisher", "tf2_ros")
"""the robot model of each simulator: robot_state_publisher + tf2_ros' static_transform_publisher"""
RVIZ_PACKAGE = "rviz2"
LAUNCH_POLICY_OPTION = "policy:="
"""how a ros2 launch user passes a policy (errors name it; `sac-grasp` users pass --policy)"""


def missing_packages(names: Iterable[str]) -> list[str]:
    """The packages among `names` the ament index (AMENT_PREFIX_PATH) does not know.

    Asked at launch time, so a ROS install without robot_state_publisher or rviz2 (ros-<distro>-
    ros-core, a pip/colcon world) still runs the graph: launch_ros would fail the whole launch.
    """
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    missing = []
    for name in names:
        try:
            get_package_prefix(name)
        except PackageNotFoundError:
            missing.append(name)
        except OSError:  # AMENT_PREFIX_PATH unset: no ament index at all, nothing is found
            missing.append(name)
    return missing


def _is_true(values: Mapping[str, str], name: str, default: str) -> bool:
    return launch_bool(name, str(values.get(name, default)))


def optional_packages(values: Mapping[str, str], specs: Sequence[NodeSpec]) -> list[str]:
    """The optional ROS packages the launch arguments `values` ask for: the robot model of each
    simulator (robot_state_publisher:=true) and RViz (rviz:=true)."""
    wanted: list[str] = []
    if _is_true(values, "robot_state_publisher", "true") and any(s.executable == "sim_node" for s in specs):
        wanted += ROBOT_MODEL_PACKAGES
    if _is_true(values, "rviz", "false"):
        wanted.append(RVIZ_PACKAGE)
    return wanted


def missing_packages_warning(missing: Sequence[str], distro: str | None = None) -> str:
    """One line naming every missing optional package, what is not started, and how to get them."""
    parts = []
    if set(missing) & set(ROBOT_MODEL_PACKAGES):
        parts.append("the robot model")
    if RVIZ_PACKAGE in missing:
        parts.append("RViz")
    distro = distro or os.environ.get("ROS_DISTRO") or "<distro>"
    apt = " ".join(f"ros-{distro}-{name.replace('_', '-')}" for name in missing)
    verb = "are" if len(parts) > 1 else "is"
    return (
        f"not found: {', '.join(missing)} — {' and '.join(parts)} {verb} not started (the rest of the "
        f"graph runs); install {apt} for them"
    )


class NodeExitError(RuntimeError):
    """Raised in launch's event loop when a node ending the graph failed: the only way `launch`
    (LaunchService.run) returns non-zero, so `ros2 launch` exits 1 instead of 0."""


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


def _exit_handler(spec: NodeSpec, action: Any) -> Any:
    """Ends the launch when `action`'s process exit ends the graph (graph_end_reason): a Shutdown
    event (every other process gets SIGINT, `ros2 launch` returns 0), or NodeExitError for a failure."""
    from launch.actions import EmitEvent, RegisterEventHandler
    from launch.event_handlers import OnProcessExit
    from launch.events import Shutdown

    def on_exit(event: Any, context: Any) -> list[Any] | None:
        if context.is_shutdown:  # stopping anyway (Ctrl-C, another node ended it): exits are expected
            return None
        reason = graph_end_reason(spec, event.returncode)
        if reason is None:
            return None
        if event.returncode != 0:
            raise NodeExitError(reason)  # launch logs it, shuts everything down and returns 1
        return [EmitEvent(event=Shutdown(reason=reason))]

    return RegisterEventHandler(OnProcessExit(target_action=action, on_exit=on_exit))


def _visualisation_actions(spec: NodeSpec, found: Sequence[str]) -> list[Any]:
    """robot_state_publisher + a world -> base transform for one worker (frames prefixed by worker),
    each only if its package is in `found`."""
    from launch_ros.actions import Node

    worker = spec.namespace.strip("/")
    prefix = f"{worker}/" if worker else ""  # the root namespace (deploy) is the robot itself: no prefix
    actions = []
    if "robot_state_publisher" in found:
        actions.append(
            Node(
                package="robot_state_publisher",
                executable="robot_state_publisher",
                namespace=spec.namespace,
                parameters=[{"robot_description": sawyer_urdf(), "frame_prefix": prefix}],
                output="log",
            )
        )
    if "tf2_ros" in found:
        actions.append(
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
            )
        )
    return actions


def _rviz_action() -> Any:
    from launch_ros.actions import Node

    rviz_config = Path(_share_dir()) / "config" / "sac_grasp.rviz"
    return Node(package=RVIZ_PACKAGE, executable="rviz2", arguments=["-d", str(rviz_config)], output="log")


def _share_dir() -> str:
    from ament_index_python.packages import get_package_share_directory

    return get_package_share_directory(PACKAGE)


def graph_actions(context: Any, role: str) -> list[Any]:
    """OpaqueFunction body: the launch arguments of `role` (ROLE_ARGUMENTS) -> node actions, each
    with its exit handler, plus the optional robot model of each simulator and RViz where their
    packages are found (one warning names the missing ones).

    Everything that can fail (arguments, config, policy, optional packages) is decided before any
    action is returned: an exception raised after launch started some processes leaves them running
    once `ros2 launch` has exited (seen with launch 3.7: processes whose start was already scheduled).
    """
    from launch.logging import get_logger

    values = {name: str(value) for name, value in context.launch_configurations.items()}
    args, specs = launch_specs(role, values)
    wanted = optional_packages(values, specs)
    missing = missing_packages(wanted)
    found = [name for name in wanted if name not in missing]
    if missing:
        get_logger(PACKAGE).warning(missing_packages_warning(missing))
    announcement = prepare_output(args)
    if announcement:
        print(f"[sac_grasp_ros] {role}: {announcement}", file=sys.stderr)
    actions: list[Any] = []
    for spec in specs:
        node = _node_action(spec)
        actions += [_exit_handler(spec, node), node]  # the handler first: it must see every exit
    for spec in specs:
        if spec.executable == "sim_node":
            actions += _visualisation_actions(spec, found)
    if RVIZ_PACKAGE in found:
        actions.append(_rviz_action())
    return actions


def launch_specs(role: str, values: Mapping[str, str]) -> tuple[LaunchArguments, list[NodeSpec]]:
    """The launch configurations of `role` -> its arguments and nodes (graph.arguments), with the
    errors a ros2 launch user can act on: a missing policy names `policy:=`, not `--policy`."""
    args = LaunchArguments.from_strings(role, values)
    preparation = prepare_run(args, policy_option=LAUNCH_POLICY_OPTION)  # train: env.yaml, demos
    return args, node_specs(args, policy_option=LAUNCH_POLICY_OPTION, preparation=preparation)


def prepare_output(args: LaunchArguments) -> str:
    """Create the run's output directory where the nodes will write into it (`writes_output`), and
    say where the output goes ("" for a role that writes none). A test graph left for `/evaluate`
    calls gets no folder: it would stay empty unless `/save` is called, which creates it."""
    out = args.output_dir()
    if args.writes_output():
        out.mkdir(parents=True, exist_ok=True)
        return f"output in {out}"
    if args.role == "test":
        return f"/save writes checkpoints to {out / 'checkpoints' / 'latest'}"
    return ""


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
