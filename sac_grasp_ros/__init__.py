"""Soft Actor-Critic for a Sawyer grasp task: a ROS-free core (scene, env, learner) plus thin ROS 2 nodes."""

__version__ = "0.1.0"
