"""`sac-grasp`: one command-line entry point that dispatches to the subcommand modules.

Each subcommand lives in its own module with a `main(argv) -> int`; this file only routes, so
`--help` of a subcommand is owned by the module that implements it.
"""

from __future__ import annotations

import importlib
import sys

LAUNCHER = "sac_grasp_ros.launcher"
"""`sac-grasp train|test|worker|deploy`: one module, the role is its first argument"""
# subcommand -> (module, one-line help). `train --in-process` is routed separately below.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "train": (LAUNCHER, "train through the ROS 2 graph (sim workers + agent) from config/"),
    "test": (LAUNCHER, "deploy a trained policy on one simulator worker and evaluate it"),
    "worker": (LAUNCHER, "run simulator workers only (extra hosts on the same ROS domain)"),
    "deploy": (
        LAUNCHER,
        "drive a ros2_control velocity controller with a trained policy (sim plays the robot)",
    ),
    "record-demos": (
        "sac_grasp_ros.graph.prepare",
        "record scripted grasp demonstrations with a config's simulator settings",
    ),
    "rollout": ("sac_grasp_ros.envs.rollout", "run the grasp env with the scripted or a random policy"),
    "export": ("sac_grasp_ros.export", "export a trained policy as TorchScript and ONNX"),
    "evaluate": (
        "sac_grasp_ros.evaluate",
        "success and steps-to-grasp over a grid of block placements and yaws (JSON + heatmap)",
    ),
    "robustness": (
        "sac_grasp_ros.robustness",
        "success of a policy and the scripted controller under each sim-to-real perturbation (JSON + plot)",
    ),
    "view": (
        "sac_grasp_ros.nodes.view_command",
        "serve a live browser view of a running graph (arm, curves)",
    ),
    "replay": ("sac_grasp_ros.view.playback", "play an MCAP recording in the live view's page (--view)"),
    "video": ("sac_grasp_ros.video", "render a policy's episodes off-screen to GIF (no ROS)"),
}
IN_PROCESS_MODULE = "sac_grasp_ros.training.cli"


def usage() -> str:
    lines = ["usage: sac-grasp <command> [options]", "", "commands:"]
    lines += [f"  {name:<12} {text}" for name, (_, text) in SUBCOMMANDS.items()]
    lines.append(f"  {'train --in-process':<12} train on any gymnasium env id in this process (no ROS)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0
    command, rest = args[0], args[1:]
    if command not in SUBCOMMANDS:
        print(f"sac-grasp: unknown command '{command}'\n\n{usage()}", file=sys.stderr)
        return 2
    if command == "train" and "--in-process" in rest:
        rest.remove("--in-process")
        module = importlib.import_module(IN_PROCESS_MODULE)
        return int(module.main(rest) or 0)
    module = importlib.import_module(SUBCOMMANDS[command][0])
    if SUBCOMMANDS[command][0] == LAUNCHER:  # it takes the role as argv[0]
        return int(module.main([command, *rest]) or 0)
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
