"""`sac-grasp view`: attach the live browser view to a graph already running (this host or any host in
the same ROS domain). The page is served by a view node started in this process."""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sac-grasp view", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8080, help="HTTP port of the page (default 8080)")
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default: all)")
    parser.add_argument("--rate", type=float, default=20.0, help="most page redraws per second")
    parser.add_argument(
        "--domain-id", type=int, help="ROS_DOMAIN_ID of the graph (default: the environment's)"
    )
    parser.add_argument("--localhost", action="store_true", help="ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST")
    args = parser.parse_args(argv)
    if args.domain_id is not None:
        if not 0 <= args.domain_id <= 232:
            parser.error(f"--domain-id must be in 0..232, got {args.domain_id}")
        os.environ["ROS_DOMAIN_ID"] = str(args.domain_id)
    if args.localhost:
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    from sac_grasp_ros.nodes.view_node import main as run_view

    ros_args = ["--ros-args", "-p", f"port:={args.port}", "-p", f"host:={args.host}"]
    ros_args += ["-p", f"rate_hz:={float(args.rate)}"]
    return run_view(["sac-grasp-view", *ros_args])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
