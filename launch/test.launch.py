"""Test a trained policy: one simulator worker (realtime, robot stand-in) + the agent, learning off.

    ros2 launch sac_grasp_ros test.launch.py policy:=/path/to/checkpoints/latest rviz:=true
    ros2 service call /evaluate std_srvs/srv/Trigger

With evaluate:=true the agent evaluates once (eval_episodes), writes <out>/result.json and exits;
without it the graph waits for /evaluate calls and creates <out> only when /save writes there.
The nodes come from sac_grasp_ros.graph.arguments, like `sac-grasp test` without ROS tools.
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction

from launch import LaunchDescription
from sac_grasp_ros.graph import launch_support


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [
            *launch_support.common_arguments("test.yaml"),
            launch_support.policy_argument(
                "policy checkpoint directory (training writes <out>/checkpoints/latest)"
            ),
            DeclareLaunchArgument(
                "evaluate", default_value="false", description="evaluate once, write the result and exit"
            ),
            DeclareLaunchArgument(
                "eval_episodes", default_value="", description="episodes to evaluate (empty: from the config)"
            ),
            DeclareLaunchArgument(
                "video", default_value="", description="directory for a GIF of each evaluation episode"
            ),
            DeclareLaunchArgument(
                "record", default_value="", description="directory for an MCAP recording of the workers"
            ),
            *launch_support.view_arguments(),
            launch_support.output_argument(),
            OpaqueFunction(function=lambda context: launch_support.graph_actions(context, "test")),
        ]
    )
