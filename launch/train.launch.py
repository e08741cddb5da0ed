"""Train through the ROS graph: N simulator workers (respawned when they crash) + the SAC agent.

    ros2 launch sac_grasp_ros train.launch.py num_workers:=4 rviz:=true
    ros2 launch sac_grasp_ros train.launch.py config:=/path/to/my_train.yaml out:=runs/my_run
    ros2 launch sac_grasp_ros train.launch.py num_workers:=4 remote_workers:=4
      (with `ros2 launch sac_grasp_ros worker.launch.py num_workers:=4 first_index:=4` on another host)

Before the nodes start, env.yaml and the demonstrations of graph.demos are written to `out`
(default runs/train-<time>), where the checkpoints, result.json and reports go too. The nodes come
from sac_grasp_ros.graph.arguments, like `sac-grasp train` without ROS tools.
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction

from launch import LaunchDescription
from sac_grasp_ros.graph import launch_support


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [
            *launch_support.common_arguments("train.yaml"),
            DeclareLaunchArgument("first_index", default_value="", description="index of the first worker"),
            DeclareLaunchArgument(
                "remote_workers",
                default_value="",
                description="workers on other hosts the agent drives too (empty: from the config)",
            ),
            DeclareLaunchArgument(
                "total_steps", default_value="", description="env steps to train (empty: from the config)"
            ),
            DeclareLaunchArgument(
                "eval_episodes",
                default_value="",
                description="episodes of the final evaluation (empty: from the config)",
            ),
            *launch_support.view_arguments(),
            launch_support.output_argument(),
            OpaqueFunction(function=lambda context: launch_support.graph_actions(context, "train")),
        ]
    )
