"""Launch arguments -> the nodes to start: the one translation behind both launch paths.

`sac-grasp train|test|worker|deploy` (`sac_grasp_ros.launcher`, typed options parsed by tyro) and
`ros2 launch sac_grasp_ros <role>.launch.py` (`graph.launch_support`, launch configurations that are
all strings) both fill a `LaunchArguments` and call `node_specs`, so the same arguments give the same
nodes with the same parameters. A training run is prepared first, as a step of its own
(`prepare_run`: env.yaml and graph.demos in the output directory, `graph.prepare`).
"""

from __future__ import annotations

import time
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from sac_grasp_ros import paths
from sac_grasp_ros.envs.config import policy_env_settings
from sac_grasp_ros.graph.prepare import Preparation, prepare_training
from sac_grasp_ros.graph.protocol import StepMode
from sac_grasp_ros.graph.spec import ROLES, NodeSpec, Role, build_node_specs, load_config

RECORDING_FILE = "evaluation.mcap"
"""`sac-grasp test --record DIR` writes DIR/RECORDING_FILE"""
VIEW_PORT = 8080
"""default HTTP port of the live view (`--view`)"""


def launch_bool(name: str, text: str) -> bool:
    """A true/false launch argument (any case, blanks around); anything else is refused by name."""
    value = text.strip()
    if value.lower() not in ("true", "false"):
        raise ValueError(f"launch argument {name} must be true or false, got {value!r}")
    return value.lower() == "true"


ROLE_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "train": (
        "config", "num_workers", "seed", "step_mode", "first_index", "remote_workers", "total_steps",
        "eval_episodes", "out", "view", "view_port",
    ),
    "test": (
        "config", "num_workers", "seed", "step_mode", "policy", "evaluate", "eval_episodes", "out", "video",
        "record", "view", "view_port",
    ),
    "worker": ("config", "num_workers", "seed", "step_mode", "first_index"),
    "deploy": ("config", "num_workers", "seed", "step_mode", "policy", "command_topic", "view", "view_port"),
}  # fmt: skip
"""The arguments each role reads (each launch file declares these); the others do not apply to it."""


def default_output_dir(role: str) -> Path:
    """runs/<role>-<local time>: where a run's files go when no output directory is given."""
    return Path(f"runs/{role}-{time.strftime('%Y%m%d-%H%M%S')}")


@dataclass
class LaunchArguments:
    """What a user can say when starting a graph; None (False) means "as the config says"."""

    role: Role
    """train, test, worker or deploy"""
    config: str
    """graph config YAML"""
    num_workers: int | None = None
    """simulator workers (graph.num_workers)"""
    seed: int | None = None
    """base seed (graph.seed)"""
    first_index: int | None = None
    """index of the first worker (graph.first_index; other hosts: other ranges)"""
    remote_workers: int | None = None
    """train: workers on other hosts the agent drives too (graph.remote_workers)"""
    policy: str | None = None
    """test: checkpoint directory; deploy: checkpoint directory or exported policy.pt
    (default: the shipped models/sawyer_grasp_sac)"""
    command_topic: str | None = None
    """deploy: the velocity controller's command topic (policy_node command_topic)"""
    evaluate: bool = False
    """test: the agent evaluates once (eval_episodes), writes <out>/result.json and exits"""
    total_steps: int | None = None
    """train: env steps to learn (agent total_steps)"""
    eval_episodes: int | None = None
    """train, test: episodes of the final evaluation / of /evaluate (agent eval_episodes)"""
    out: str | None = None
    """output directory of the run: train and test write checkpoints, result.json, reports, env.yaml and
    demos there, `sac-grasp` every role's logs and parameter files; default runs/<role>-<time>"""
    step_mode: StepMode | None = None
    """simulator step_mode override (lockstep or realtime)"""
    video: str | None = None
    """test: directory for a GIF of each evaluation episode (the simulators' video_dir)"""
    view: bool = False
    """train, test, deploy: also start the live browser view (view_node)"""
    view_port: int | None = None
    """HTTP port of the live view (default VIEW_PORT)"""
    record: str | None = None
    """test: directory for an MCAP recording of the workers' topics (a recorder node), RECORDING_FILE"""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}; expected one of {ROLES}")
        if not self.config:
            raise ValueError("no config file given")
        if self.out is None:
            self.out = str(default_output_dir(self.role))  # fixed once: the time is part of the name

    @classmethod
    def from_strings(cls, role: str, values: Mapping[str, str]) -> LaunchArguments:
        """From ros2 launch's launch configurations: strings, empty = not given. Only the arguments
        of `role` are read (ROLE_ARGUMENTS); others, such as rviz, belong to the launch file."""
        if role not in ROLE_ARGUMENTS:
            raise ValueError(f"unknown role {role!r}; expected one of {ROLES}")
        hints = typing.get_type_hints(cls)
        parsed: dict[str, Any] = {}
        for name in ROLE_ARGUMENTS[role]:
            text = str(values.get(name, "")).strip()
            if not text:
                continue
            if hints[name] in (int, int | None):
                try:
                    parsed[name] = int(text)
                except ValueError:
                    raise ValueError(f"launch argument {name} must be an integer, got {text!r}") from None
            elif hints[name] is bool:
                parsed[name] = launch_bool(name, text)
            else:
                parsed[name] = text
        if "config" not in parsed:
            raise ValueError("launch argument config is empty: name a graph config YAML")
        return cls(role=role, **parsed)

    @classmethod
    def from_options(cls, options: object) -> LaunchArguments:
        """From the launcher's options of a role (attributes named like the fields; missing: None)."""
        values = {f.name: getattr(options, f.name, None) for f in fields(cls)}
        return cls(**{name: value for name, value in values.items() if value is not None})

    def output_dir(self) -> Path:
        """The run's output directory, absolute."""
        return Path(self.out).resolve()

    def writes_output(self) -> bool:
        """Whether the graph's nodes write into `out` on their own: a training run (checkpoints,
        result.json, reports) and a test that evaluates once (result.json). A test left for
        `/evaluate` calls writes there only on `/save`, and the checkpoint writer creates the folder
        then; a worker or deploy graph never does."""
        return self.role == "train" or (self.role == "test" and self.evaluate)

    def policy_path(self) -> Path:
        """The policy to test or deploy: the given one, else the one shipped in models/."""
        return Path(self.policy) if self.policy else paths.models_dir() / paths.SHIPPED_POLICY


@dataclass
class _Overrides:
    """What the arguments change of the config, per node role (None or absent: as configured)."""

    graph: dict[str, Any]
    sim: dict[str, Any]
    agent: dict[str, Any]
    policy: dict[str, Any]


def _overrides(args: LaunchArguments, out: Path, policy_option: str) -> _Overrides:
    """The config overrides `args` ask for; checks that a test or deploy policy exists."""
    graph_overrides = {
        "num_workers": args.num_workers,
        "seed": args.seed,
        "first_index": args.first_index,
        "remote_workers": args.remote_workers,
    }  # None: as configured
    sim_overrides: dict[str, Any] = {"step_mode": args.step_mode} if args.step_mode else {}
    agent_overrides: dict[str, Any] = {}
    policy_overrides: dict[str, Any] = {}
    if args.role in ("train", "test"):
        agent_overrides["checkpoint_dir"] = str(out / "checkpoints" / "latest")
        if args.eval_episodes is not None:
            agent_overrides["eval_episodes"] = args.eval_episodes
    if args.role == "train":
        agent_overrides["result_file"] = str(out / "result.json")
        agent_overrides["report_dir"] = str(out)  # TensorBoard, CSVs and PNGs of the run
        if args.total_steps is not None:
            agent_overrides["total_steps"] = args.total_steps
    if args.role in ("test", "deploy"):
        policy = args.policy_path()
        if args.role == "test" and not (policy / "checkpoint.json").is_file():
            raise FileNotFoundError(
                f"no policy checkpoint at {policy} (expected {policy / 'checkpoint.json'}); "
                "train one (`sac-grasp train`, train.launch.py) and pass its checkpoints/best "
                f"(or latest) with {policy_option}"
            )
        if args.role == "deploy" and not policy.exists():
            raise FileNotFoundError(
                f"no policy at {policy}: pass a checkpoint directory (<train out>/checkpoints/latest) or "
                f"an exported policy.pt (`sac-grasp export`) with {policy_option}"
            )
        # The policy's env.yaml (observation mode, velocity scale, ...) decides what the simulator produces.
        sim_overrides = {**policy_env_settings(policy), **sim_overrides}
        if args.role == "test":
            agent_overrides.update(load_on_start=str(policy.resolve()), learning=False)
        else:
            policy_overrides["policy"] = str(policy.resolve())
    if args.role == "test" and args.video:
        sim_overrides["video_dir"] = str(Path(args.video).resolve())
    if args.role == "test" and args.evaluate:
        agent_overrides.update(
            on_finish="evaluate_and_exit", total_steps=0, result_file=str(out / "result.json")
        )
    if args.role == "deploy" and args.command_topic:
        policy_overrides["command_topic"] = args.command_topic
    return _Overrides(graph_overrides, sim_overrides, agent_overrides, policy_overrides)


def _build(args: LaunchArguments, config: dict[str, Any], overrides: _Overrides) -> list[NodeSpec]:
    try:
        return build_node_specs(
            config, args.role, overrides.graph, overrides.agent, overrides.sim, overrides.policy
        )
    except ValueError as error:  # say which file holds the bad value
        raise ValueError(f"{args.config}: {error}") from error


def prepare_run(args: LaunchArguments, policy_option: str = "--policy") -> Preparation | None:
    """The files a training graph starts from, written before any node starts: env.yaml and the
    recorded graph.demos in the output directory (`graph.prepare`); None for the other roles.

    The graph is validated first, so a bad config records no demonstrations. The result goes to
    `node_specs(args, preparation=...)`.
    """
    if args.role != "train":
        return None
    config, out = load_config(args.config), args.output_dir()
    overrides = _overrides(args, out, policy_option)
    _build(args, config, overrides)
    try:
        return prepare_training(config, out, overrides.graph, overrides.sim)
    except ValueError as error:
        raise ValueError(f"{args.config}: {error}") from error


def node_specs(
    args: LaunchArguments, policy_option: str = "--policy", preparation: Preparation | None = None
) -> list[NodeSpec]:
    """The nodes `args` start, as a description (nothing is written); a training graph's agent
    gets the files of `preparation` (`prepare_run`), which it needs.

    Raises FileNotFoundError for a missing policy, telling the user to pass one with `policy_option`
    (how the caller spells it: `--policy` for `sac-grasp`, `policy:=` for `ros2 launch`), and
    ValueError naming the config file for a bad one.
    """
    config, out = load_config(args.config), args.output_dir()
    overrides = _overrides(args, out, policy_option)
    specs = _build(args, config, overrides)
    if args.role == "train":
        if preparation is None:
            raise ValueError("a training graph starts from its prepared files: pass prepare_run(args)")
        agent = next(spec for spec in specs if spec.executable == "agent_node")
        agent.parameters.update(preparation.agent_overrides())
    if args.view and args.role in ("train", "test", "deploy"):
        port = VIEW_PORT if args.view_port is None else args.view_port
        specs.append(NodeSpec("view_node", "view", "/", {"port": port}, respawn=True, respawn_delay=2.0))
    if args.role == "test" and args.record:
        workers = ",".join(s.namespace.strip("/") for s in specs if s.executable == "sim_node")
        path = str(Path(args.record).resolve() / RECORDING_FILE)
        specs.insert(0, NodeSpec("recorder_node", "recorder", "/", {"path": path, "workers": workers}))
    return specs
