"""The live browser view (ROS-free parts): the arm's geometry from the MuJoCo model, posed from joint
states (`arm_model`), and the web page with the scene and the learning curves (`page`, viser)."""
