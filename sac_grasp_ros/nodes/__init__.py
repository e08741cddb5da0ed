"""Thin ROS 2 adapters (rclpy) around the ROS-free core: simulator worker and SAC agent nodes."""
