"""Run preparation: what must exist before a training graph starts, for both launch paths.

- `env.yaml`: the workers' task settings (the GraspEnvConfig fields of the sim_node block). The agent
  copies it into every checkpoint, so a trained policy says which observations it needs.
- `demos.npz`: the scripted demonstrations `graph.demos` asks for, recorded with the same sim_node
  settings, so they have the workers' observation and action layout.

`prepare_training` writes both into the run's output directory and returns what the agent needs to
know (`env_file`, `demo_file`); `graph.arguments` calls it for `sac-grasp train` and
`ros2 launch ... train.launch.py` alike. `sac-grasp record-demos` (`main`) records the same demos
standalone. ROS-free; MuJoCo and torch are imported only when demos are recorded.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import tyro
import yaml

from sac_grasp_ros import paths
from sac_grasp_ros.command_line import IfGiven, parse
from sac_grasp_ros.envs.config import ENV_CONFIG_FILE, GraspEnvConfig
from sac_grasp_ros.graph.spec import graph_config, load_config, node_parameters, sim_parameters

DEMO_FILE = "demos.npz"
"""Name of the recorded demonstrations in the run's output directory."""


@dataclass
class Preparation:
    """Files a training run starts from."""

    env_file: Path
    """the workers' GraspEnvConfig as YAML (agent parameter env_file)"""
    demo_file: Path | None = None
    """recorded graph.demos (agent parameter demo_file); None: the config asks for none"""

    def agent_overrides(self) -> dict[str, str]:
        """Agent parameters pointing at the prepared files."""
        overrides = {"env_file": str(self.env_file)}
        if self.demo_file is not None:
            overrides["demo_file"] = str(self.demo_file)
        return overrides


def write_env_file(
    config: dict[str, Any], directory: str | Path, sim_overrides: dict[str, Any] | None = None
) -> Path:
    """The workers' task settings (GraspEnvConfig fields of sim_node) as directory/env.yaml."""
    settings = GraspEnvConfig.from_node_parameters(sim_parameters(config, sim_overrides)).to_dict()
    settings.pop("seed", None)  # each worker has its own
    path = Path(directory) / ENV_CONFIG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(settings, sort_keys=True))
    return path


def record_config_demos(
    config: dict[str, Any],
    directory: str | Path,
    graph_overrides: dict[str, Any] | None = None,
    sim_overrides: dict[str, Any] | None = None,
) -> tuple[Path, dict[str, Any]] | None:
    """Record the demonstrations `graph.demos` asks for into directory/demos.npz (None: not asked).

    Returns the file and the recording statistics (with the seed of the first episode).
    """
    shape = graph_config(config, **(graph_overrides or {}))
    if shape.demos is None:
        return None
    from sac_grasp_ros.envs.demos import DEMO_SEED_OFFSET, record_scripted_demos  # MuJoCo + torch

    seed = shape.demos.seed if shape.demos.seed is not None else DEMO_SEED_OFFSET + shape.seed
    path = Path(directory) / DEMO_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    stats = record_scripted_demos(sim_parameters(config, sim_overrides), shape.demos.episodes, seed, path)
    return path, {**dataclasses.asdict(stats), "seed": seed}


def prepare_training(
    config: dict[str, Any],
    directory: str | Path,
    graph_overrides: dict[str, Any] | None = None,
    sim_overrides: dict[str, Any] | None = None,
) -> Preparation:
    """Write env.yaml and record graph.demos into `directory` (created; paths come back absolute)."""
    directory = Path(directory).resolve()
    env_file = write_env_file(config, directory, sim_overrides)
    recorded = record_config_demos(config, directory, graph_overrides, sim_overrides)
    if recorded is None:
        return Preparation(env_file)
    demo_file, stats = recorded
    print(f"[sac_grasp_ros] recorded demonstrations {json.dumps(stats)} to {demo_file}", file=sys.stderr)
    return Preparation(env_file, demo_file)


@dataclass
class RecordDemosOptions:
    """Record scripted grasp demonstrations to a .npz (sac_grasp_ros.demos/1 format) with the simulator
    settings (sim_node block) of a training config."""

    out: Annotated[tyro.conf.Positional[str], tyro.conf.arg(metavar="OUT")]
    """demonstration file to write"""
    episodes: int = 100
    """episodes to record"""
    seed: IfGiven[int | None] = None
    """seed of the first episode (default: envs.demos.DEMO_SEED_OFFSET, apart from training's seeds)"""
    config: str = "train.yaml"
    """config file (name in config/ or a path)"""


def main(argv: list[str] | None = None) -> int:
    """`sac-grasp record-demos`: scripted demonstrations with the sim_node settings of a config."""
    args = parse(RecordDemosOptions, sys.argv[1:] if argv is None else argv, "sac-grasp record-demos")
    from sac_grasp_ros.envs.demos import DEMO_SEED_OFFSET, record_scripted_demos  # MuJoCo + torch

    seed = DEMO_SEED_OFFSET if args.seed is None else args.seed
    try:
        path = Path(args.config) if Path(args.config).is_file() else paths.config_file(args.config)
        settings = node_parameters(load_config(path), "sim_node")
        stats = record_scripted_demos(settings, args.episodes, seed, args.out)
    except (ValueError, OSError) as error:
        print(f"sac-grasp record-demos: error: {error}", file=sys.stderr)
        return 2
    print(json.dumps({"out": args.out, **dataclasses.asdict(stats)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
