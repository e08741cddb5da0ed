"""Soft Actor-Critic for a Sawyer grasp task: a ROS-free core (scene, env, learner) plus thin ROS 2 nodes.

Importing the package registers the Gymnasium id `sac_grasp_ros/SawyerGrasp-v0` (in `envs`, by
entry-point string: MuJoCo, torch and rclpy load only when an env, learner or node is made).
"""

from sac_grasp_ros import envs  # noqa: F401 - registers the Gymnasium env id

__version__ = "0.1.0"
