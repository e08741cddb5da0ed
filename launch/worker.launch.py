"""Simulator workers only, for extra hosts on the same ROS domain as the agent.

    ros2 launch sac_grasp_ros worker.launch.py num_workers:=2 first_index:=4

The agent's graph drives them when started with as many remote workers, the next indices after its
own: `ros2 launch sac_grasp_ros train.launch.py num_workers:=4 remote_workers:=2` (graph.remote_workers).
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction

from launch import LaunchDescription
from sac_grasp_ros.graph import launch_support


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [
            *launch_support.common_arguments("train.yaml"),
            DeclareLaunchArgument("first_index", default_value="", description="index of the first worker"),
            OpaqueFunction(function=lambda context: launch_support.graph_actions(context, "worker")),
        ]
    )
