"""ROS-free recording of episodes: videos rendered off-screen (`video`), a worker's GIFs
(`episode_gifs`), its audit log of step messages (`step_log`), MCAP files (`mcap_file`)."""
