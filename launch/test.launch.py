"""Deploy a trained policy: one simulator worker (realtime, robot stand-in) + the agent, learning off.

    ros2 launch sac_grasp_ros test.launch.py policy:=/path/to/checkpoints/latest rviz:=true
    ros2 service call /evaluate std_srvs/srv/Trigger

With evaluate:=true the agent evaluates once (eval_episodes from the config) and exits.
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction

from launch import LaunchDescription
from sac_grasp_ros import launch_support


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [
            *launch_support.common_arguments("test.yaml", default_workers="1"),
            launch_support.policy_argument(
                "policy checkpoint directory (training writes <out>/checkpoints/latest)"
            ),
            DeclareLaunchArgument(
                "evaluate", default_value="false", description="evaluate once, print the result and exit"
            ),
            OpaqueFunction(function=lambda context: launch_support.graph_actions(context, "test")),
            launch_support.rviz_action(),
        ]
    )
