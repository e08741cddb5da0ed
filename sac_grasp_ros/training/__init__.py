"""Training drivers and their bookkeeping (learning curve, logs); no rclpy, reusable by the ROS agent."""
