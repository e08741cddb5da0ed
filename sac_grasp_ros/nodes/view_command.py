"""`sac-grasp view`: attach the live browser view to a graph already running (this host or any host in
the same ROS domain). The page is served by a view node started in this process."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from sac_grasp_ros.command_line import IfGiven, parse, usage_error


@dataclass
class ViewOptions:
    """Attach the live browser view to a graph already running (this host or any host of its domain)."""

    port: int = 8080
    """HTTP port of the page"""
    host: str = "0.0.0.0"
    """address to listen on (0.0.0.0: all)"""
    rate: float = 20.0
    """most page redraws per second"""
    domain_id: IfGiven[int | None] = None
    """ROS_DOMAIN_ID of the graph (0..232; default: the environment's)"""
    localhost: bool = False
    """ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST"""


def main(argv: list[str]) -> int:
    args = parse(ViewOptions, argv, "sac-grasp view")
    if args.domain_id is not None:
        if not 0 <= args.domain_id <= 232:
            usage_error("sac-grasp view", f"--domain-id must be in 0..232, got {args.domain_id}")
        os.environ["ROS_DOMAIN_ID"] = str(args.domain_id)
    if args.localhost:
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    from sac_grasp_ros.nodes.view_node import main as run_view

    ros_args = ["--ros-args", "-p", f"port:={args.port}", "-p", f"host:={args.host}"]
    ros_args += ["-p", f"rate_hz:={float(args.rate)}"]
    return run_view(["sac-grasp-view", *ros_args])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
