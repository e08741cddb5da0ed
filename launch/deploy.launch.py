"""Deploy a policy to a ros2_control velocity controller, with the simulator playing the robot.

    ros2 launch sac_grasp_ros deploy.launch.py policy:=/path/to/checkpoints/latest rviz:=true
    ros2 launch sac_grasp_ros deploy.launch.py policy:=/path/to/export/policy.pt \\
        command_topic:=/my_velocity_controller/commands

policy_node reads /joint_states and /target_pose and publishes Float64MultiArray joint velocities on
command_topic; the simulator (realtime, root namespace) listens there. The nodes come from
sac_grasp_ros.graph.arguments (role "deploy"), like `sac-grasp deploy` without ROS tools.
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction

from launch import LaunchDescription
from sac_grasp_ros.graph import launch_support


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [
            *launch_support.common_arguments("deploy.yaml"),
            launch_support.policy_argument("checkpoint directory or exported policy.pt (sac-grasp export)"),
            DeclareLaunchArgument(
                "command_topic", default_value="", description="velocity controller topic (empty: config)"
            ),
            *launch_support.view_arguments(),
            OpaqueFunction(function=lambda context: launch_support.graph_actions(context, "deploy")),
        ]
    )
