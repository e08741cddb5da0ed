"""The ROS graph as data: one function turns a config file into the list of nodes to start.

This is the single source of truth shared by the ROS 2 launch files (launch/*.launch.py) and the
pip-world launcher (sac_grasp_ros/launcher.py): both only translate `NodeSpec`s into their own
process descriptions, so the two ways of starting the system cannot drift apart.

Config file layout (config/train.yaml is the annotated example):

    graph:            # how the graph is shaped (not ROS parameters)
      num_workers: 2
      ...
    sim_node:         # parameters of every simulator worker
      ros__parameters: {...}
    agent_node:       # parameters of the agent
      ros__parameters: {...}
    policy_node:      # deploy role only: parameters of the policy node (config/deploy.yaml)
      ros__parameters: {...}

ROS-free: importable without rclpy or launch.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from sac_grasp_ros.envs.config import ENV_CONFIG_FILE, POLICY_TASK_FIELDS, read_env_config

PACKAGE = "sac_grasp_ros"
ROLES = ("train", "test", "worker", "deploy")
SECTIONS = ("graph", "sim_node", "agent_node", "policy_node")
DEPLOY_COMMAND_TOPIC = "/velocity_controller/commands"
"""policy_node's default command topic (a ros2_control JointGroupVelocityController `velocity_controller`)"""


DEMO_SEED_OFFSET = 2_000_000
"""Recorded demos reset with seeds from here on: targets apart from the workers' (graph seed + i)."""


@dataclass
class GraphConfig:
    """Shape of the graph: how many workers, their names, respawning, seeds."""

    num_workers: int = 2
    """simulator workers started by this launch (each in its own namespace)"""
    first_index: int = 0
    """index of the first worker started here (extra hosts use a different range)"""
    worker_prefix: str = "worker_"
    """namespace prefix: worker i lives under /<prefix><i>"""
    remote_workers: int = 0
    """workers started on other hosts (`sac-grasp worker --first-index <first_index + num_workers>`)
    that the agent of this graph drives too: the next indices after the local ones"""
    respawn_workers: bool = True
    """restart a simulator worker that died (the agent recovers by resetting it)"""
    respawn_delay: float = 2.0
    """seconds to wait before a respawn"""
    respawn_agent: bool = False
    """restart the agent when it crashes (non-zero exit); it then resumes from its checkpoint_dir
    (agent parameter `resume`, set by this option)"""
    seed: int = 0
    """base seed: worker i gets seed + i, the agent gets seed"""
    demos: dict[str, Any] | None = None
    """scripted demonstrations the launcher records before a training graph starts, with the sim_node
    settings of the same config, handed to the agent as `demo_file`: {episodes: N, seed: S}
    (seed default: DEMO_SEED_OFFSET + graph seed, a target stream apart from the workers'); null: none"""

    def __post_init__(self) -> None:
        # Types first: YAML hands over whatever was written, and a TypeError deep inside would
        # reach the user as a traceback instead of a message naming the option.
        for name in ("num_workers", "first_index", "seed", "remote_workers"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"graph.{name} must be an integer, got {value!r}")
        for name in ("respawn_workers", "respawn_agent"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"graph.{name} must be true or false, got {getattr(self, name)!r}")
        delay = self.respawn_delay
        if not isinstance(delay, int | float) or isinstance(delay, bool) or not math.isfinite(delay):
            raise ValueError(f"graph.respawn_delay must be a number of seconds, got {delay!r}")
        if not isinstance(self.worker_prefix, str):
            raise ValueError(f"graph.worker_prefix must be a string, got {self.worker_prefix!r}")
        if not isinstance(self.num_workers, int) or self.num_workers < 1:
            raise ValueError(f"graph.num_workers must be an integer >= 1, got {self.num_workers!r}")
        if not isinstance(self.first_index, int) or self.first_index < 0:
            raise ValueError(f"graph.first_index must be an integer >= 0, got {self.first_index!r}")
        if self.remote_workers < 0:
            raise ValueError(f"graph.remote_workers must be an integer >= 0, got {self.remote_workers!r}")
        if not self.worker_prefix or not self.worker_prefix.replace("_", "").isalnum():
            raise ValueError(
                f"graph.worker_prefix must be alphanumeric/underscore, got {self.worker_prefix!r}"
            )
        if self.respawn_delay < 0:
            raise ValueError(f"graph.respawn_delay must be >= 0, got {self.respawn_delay!r}")
        if self.demos is not None:
            self._check_demos(self.demos)

    @staticmethod
    def _check_demos(demos: Any) -> None:
        if not isinstance(demos, dict):
            raise ValueError(f"graph.demos must be a mapping {{episodes: N, seed: S}} or null, got {demos!r}")
        unknown = sorted(set(demos) - {"episodes", "seed"})
        if unknown:
            raise ValueError(f"unknown graph.demos option(s) {unknown}; known: ['episodes', 'seed']")
        episodes = demos.get("episodes")
        if not isinstance(episodes, int) or isinstance(episodes, bool) or episodes < 1:
            raise ValueError(f"graph.demos.episodes must be an integer >= 1, got {episodes!r}")
        seed = demos.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"graph.demos.seed must be an integer >= 0, got {seed!r}")

    def demo_seed(self) -> int:
        """Seed of the first recorded demo episode (episode i resets with demo_seed + i)."""
        demos = self.demos or {}
        return int(demos["seed"]) if "seed" in demos else DEMO_SEED_OFFSET + self.seed


@dataclass
class NodeSpec:
    """One node to start: what both launch systems need to know."""

    executable: str
    """console script name (ros2 launch) — also the module sac_grasp_ros.nodes.<executable>"""
    name: str
    """node name"""
    namespace: str
    """absolute namespace ('/' for the root)"""
    parameters: dict[str, Any] = field(default_factory=dict)
    """ROS parameters (nested dicts become dotted names)"""
    respawn: bool = False
    """restart the process when it exits"""
    respawn_delay: float = 0.0
    """seconds before a respawn"""
    remappings: dict[str, str] = field(default_factory=dict)
    """topic remappings (from: to), e.g. the simulator's command topic onto a controller's"""
    package: str = PACKAGE

    @property
    def module(self) -> str:
        """Python module that runs this node (used by the pip-world launcher)."""
        return f"{self.package}.nodes.{self.executable}"

    @property
    def fqn(self) -> str:
        """Fully qualified node name."""
        return f"{self.namespace.rstrip('/')}/{self.name}"


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a graph config file; raises ValueError naming the file when it is not a mapping."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML: {error}") from error
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not a text file ({error.reason} at byte {error.start})") from error
    except OSError as error:
        raise ValueError(f"{path}: cannot read the config file: {error.strerror or error}") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with graph/sim_node/agent_node sections")
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ValueError(f"{path}: unknown top-level section(s) {unknown}; known: {', '.join(SECTIONS)}")
    return data


def node_parameters(config: dict[str, Any], node: str) -> dict[str, Any]:
    """The `ros__parameters` mapping of a node section (empty when absent)."""
    section = config.get(node) or {}
    params = section.get("ros__parameters", {}) if isinstance(section, dict) else None
    if not isinstance(params, dict):
        raise ValueError(f"config section {node}.ros__parameters must be a mapping")
    return copy.deepcopy(params)


def graph_config(config: dict[str, Any], **overrides: Any) -> GraphConfig:
    """Typed `graph:` section with command-line overrides (None values ignored)."""
    section = config.get("graph") or {}
    if not isinstance(section, dict):
        raise ValueError(f"config section graph must be a mapping, got {section!r}")
    values = dict(section)
    values.update({key: value for key, value in overrides.items() if value is not None})
    known = {f.name for f in fields(GraphConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown graph option(s) {unknown}; known: {sorted(known)}")
    return GraphConfig(**values)


def _number(value: Any, name: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return float(value)


def worker_namespaces(graph: GraphConfig) -> list[str]:
    """Namespaces of the workers started by this graph."""
    return [
        f"/{graph.worker_prefix}{i}" for i in range(graph.first_index, graph.first_index + graph.num_workers)
    ]


def build_node_specs(
    config: dict[str, Any],
    role: str,
    graph_overrides: dict[str, Any] | None = None,
    agent_overrides: dict[str, Any] | None = None,
    sim_overrides: dict[str, Any] | None = None,
    policy_overrides: dict[str, Any] | None = None,
) -> list[NodeSpec]:
    """Turn a config into the nodes to start for a role.

    train: workers + agent (learning); test: workers + agent (deployment, as configured in
    config/test.yaml); worker: simulator workers only (the agent runs on another host);
    deploy: policy_node driving a velocity controller, played by one realtime simulator (see
    `deploy_node_specs`).
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {ROLES}")
    graph = graph_config(config, **(graph_overrides or {}))
    sim_params = node_parameters(config, "sim_node")
    sim_params.update(sim_overrides or {})
    if role == "deploy":
        return deploy_node_specs(config, graph, sim_params, policy_overrides)
    specs: list[NodeSpec] = []
    namespaces = worker_namespaces(graph)
    for index, namespace in enumerate(namespaces, start=graph.first_index):
        params = dict(sim_params)
        params["seed"] = int(graph.seed) + index
        specs.append(
            NodeSpec(
                executable="sim_node",
                name="sim_node",
                namespace=namespace,
                parameters=params,
                respawn=graph.respawn_workers,
                respawn_delay=graph.respawn_delay,
            )
        )
    if role == "worker":
        return specs
    agent_params = node_parameters(config, "agent_node")
    # Commands are in rad/s; the agent scales its [-1, 1] actions by the workers' velocity limit.
    joint_velocity = sim_params.get("control_mode", "joint_velocity") == "joint_velocity"
    agent_params["command_scale"] = (
        _number(sim_params.get("max_joint_velocity", 1.0), "sim_node.max_joint_velocity")
        if joint_velocity
        else 1.0
    )
    agent_params.update(agent_overrides or {})
    remote_first = graph.first_index + graph.num_workers
    remote = [f"{graph.worker_prefix}{i}" for i in range(remote_first, remote_first + graph.remote_workers)]
    agent_params["workers"] = [ns.lstrip("/") for ns in namespaces] + remote
    if "seed" not in (agent_overrides or {}):
        agent_params["seed"] = int(graph.seed)
    if graph.respawn_agent:
        agent_params.setdefault("resume", True)  # a respawned agent must not start learning from scratch
    specs.append(
        NodeSpec(
            executable="agent_node",
            name="agent_node",
            namespace="/",
            parameters=agent_params,
            respawn=graph.respawn_agent,
            respawn_delay=graph.respawn_delay,
        )
    )
    return specs


def record_config_demos(
    config: dict[str, Any],
    directory: str | Path,
    graph_overrides: dict[str, Any] | None = None,
    sim_overrides: dict[str, Any] | None = None,
) -> tuple[Path, dict[str, Any]] | None:
    """Record the demonstrations `graph.demos` asks for into directory/demos.npz (None: not asked).

    Uses the sim_node settings of the same config, so the demos match the workers' observation and
    action layout (one source of truth); returns the file and the recording statistics.
    """
    settings = graph_config(config, **(graph_overrides or {}))
    if settings.demos is None:
        return None
    from sac_grasp_ros.training.demo_recording import record_scripted_demos  # torch + MuJoCo: only here

    sim_params = node_parameters(config, "sim_node")
    sim_params.update(sim_overrides or {})
    path = Path(directory) / "demos.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    stats = record_scripted_demos(sim_params, int(settings.demos["episodes"]), settings.demo_seed(), path)
    return path, {**asdict(stats), "seed": settings.demo_seed()}


def write_env_file(
    config: dict[str, Any], directory: str | Path, sim_overrides: dict[str, Any] | None = None
) -> Path:
    """The workers' task settings (GraspEnvConfig fields of sim_node) as directory/env.yaml.

    The agent copies it into its checkpoints, so a trained policy says which observations it needs.
    """
    from sac_grasp_ros.envs.config import GraspEnvConfig

    sim_params = node_parameters(config, "sim_node")
    sim_params.update(sim_overrides or {})
    known = set(GraspEnvConfig.__dataclass_fields__)
    settings = GraspEnvConfig.from_dict({k: v for k, v in sim_params.items() if k in known}).to_dict()
    settings.pop("seed", None)  # each worker has its own
    path = Path(directory) / "env.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(settings, sort_keys=True))
    return path


def deploy_node_specs(
    config: dict[str, Any],
    graph: GraphConfig,
    sim_params: dict[str, Any],
    policy_overrides: dict[str, Any] | None = None,
) -> list[NodeSpec]:
    """A simulator playing the robot + policy_node, both at the root namespace like a real robot's
    driver: the simulator publishes /joint_states and /target_pose and listens on the policy's
    command topic (remapped), stepping in real time; its watchdog stops the arm when commands stop."""
    policy_params = node_parameters(config, "policy_node")
    policy_params.update(policy_overrides or {})
    command_topic = str(policy_params.get("command_topic", DEPLOY_COMMAND_TOPIC))
    sim = dict(sim_params, step_mode="realtime", seed=int(graph.seed))
    return [
        NodeSpec(
            executable="sim_node",
            name="sim_node",
            namespace="/",
            parameters=sim,
            respawn=graph.respawn_workers,
            respawn_delay=graph.respawn_delay,
            remappings={"velocity_controller/commands": command_topic},
        ),
        NodeSpec(executable="policy_node", name="policy_node", namespace="/", parameters=policy_params),
    ]


def params_file_content(spec: NodeSpec) -> dict[str, Any]:
    """A `--params-file` document for one node (matched by its fully qualified name)."""
    return {spec.fqn: {"ros__parameters": spec.parameters}}


def policy_env_settings(policy: str | Path) -> dict[str, Any]:
    """The task settings a trained policy carries in `env.yaml` (observation mode, reward, velocity
    scale, ...), applied to the simulator so it produces the observations the policy was trained on.
    Backend, seed and target placement stay the user's."""
    policy = Path(policy)
    directory = policy if policy.is_dir() else policy.parent
    if not (directory / ENV_CONFIG_FILE).is_file():
        return {}
    settings = read_env_config(directory / ENV_CONFIG_FILE, directory).to_dict()
    return {key: settings[key] for key in POLICY_TASK_FIELDS}
