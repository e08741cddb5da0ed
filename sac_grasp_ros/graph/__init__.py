"""The ROS-free multi-process layer: what the ROS graph is and how it is started.

- `spec`: a config file (+ overrides) -> the `NodeSpec`s to start
- `arguments`: launch arguments -> node specs, the one translation behind both launch paths
- `prepare`: env.yaml and recorded demos a training run starts from (`sac-grasp record-demos` too)
- `protocol`: the step message between simulator workers and the agent, and transition pairing
- `workers`: the simulator workers as the agent sees them (acting, transitions, evaluation quotas)
- `launch_support`: node specs -> ROS 2 launch actions for launch/*.launch.py

Nothing here imports rclpy or `nodes/`: `sac_grasp_ros.launcher` (`sac-grasp train|test|worker|deploy`,
the process supervisor where `ros2 launch` is missing) builds on this layer and on the nodes' clients.
"""
