"""ROS-free recording of episodes: videos rendered off-screen (`video`), MCAP files (`mcap_writer`)."""
