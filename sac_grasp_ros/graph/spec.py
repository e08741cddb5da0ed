"""The ROS graph as data: a config file (+ overrides) becomes the list of nodes to start.

Both ways of starting the system build their nodes here: the ROS 2 launch files (through
`graph.launch_support`) and the pip-world launcher (`sac_grasp_ros.launcher`). Both get their overrides
from `graph.arguments`, the one translation of launch arguments, so the same arguments give the
same `NodeSpec`s (test/test_graph.py compares them). Writing env.yaml and recording demos before a
training run is `graph.prepare`'s job, not this module's.

Config file layout (config/train.yaml is the annotated example):

    graph:            # how the graph is shaped (not ROS parameters)
      num_workers: 2
      demos: {episodes: 100, seed: 2000000}
      ...
    sim_node:         # parameters of every simulator worker
      ros__parameters: {...}
    agent_node:       # parameters of the agent
      ros__parameters: {...}
    policy_node:      # deploy role only: parameters of the policy node (config/deploy.yaml)
      ros__parameters: {...}

ROS-free and light: importable without rclpy, launch, MuJoCo or torch.
"""

from __future__ import annotations

import copy
import math
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import yaml

from sac_grasp_ros.paths import PACKAGE

Role = Literal["train", "test", "worker", "deploy"]
"""what a graph is started for (`sac-grasp <role>`, `<role>.launch.py`)"""
ROLES: tuple[str, ...] = typing.get_args(Role)
SECTIONS = ("graph", "sim_node", "agent_node", "policy_node")
SIM_COMMAND_TOPIC = "velocity_controller/commands"
"""where a simulator takes joint-velocity commands, relative to its namespace (nodes.common.COMMAND_TOPIC)"""
DEPLOY_COMMAND_TOPIC = f"/{SIM_COMMAND_TOPIC}"
"""policy_node's default command topic (a ros2_control JointGroupVelocityController `velocity_controller`)"""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class DemoSettings:
    """`graph.demos`: scripted demonstrations recorded before a training graph starts."""

    episodes: int
    """scripted episodes to record (>= 1)"""
    seed: int | None = None
    """reset seed of the first episode (episode i: seed + i); None: envs.demos.DEMO_SEED_OFFSET + graph
    seed, a target stream apart from the workers'"""

    def __post_init__(self) -> None:
        if not _is_int(self.episodes) or self.episodes < 1:
            raise ValueError(f"graph.demos.episodes must be an integer >= 1, got {self.episodes!r}")
        if self.seed is not None and (not _is_int(self.seed) or self.seed < 0):
            raise ValueError(f"graph.demos.seed must be an integer >= 0, got {self.seed!r}")

    @classmethod
    def from_yaml(cls, value: Any) -> DemoSettings | None:
        """The `demos:` mapping of a config (None: no demos); a bad value raises ValueError naming it."""
        if value is None or isinstance(value, DemoSettings):
            return value
        if not isinstance(value, dict):
            raise ValueError(f"graph.demos must be a mapping {{episodes: N, seed: S}} or null, got {value!r}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(value) - set(known), key=str)
        if unknown:
            raise ValueError(f"unknown graph.demos option(s) {unknown}; known: {known}")
        if "episodes" not in value:
            raise ValueError("graph.demos.episodes is missing: how many scripted episodes to record")
        return cls(**value)


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
    demos: DemoSettings | None = None
    """scripted demonstrations recorded before a training graph starts, with the sim_node settings of
    the same config, handed to the agent as `demo_file`: {episodes: N, seed: S}; null: none"""

    def __post_init__(self) -> None:
        # YAML hands over whatever was written, and a TypeError deep inside would reach the user as
        # a traceback instead of a message naming the option: check each option's type and range once.
        for name, minimum in (("num_workers", 1), ("first_index", 0), ("remote_workers", 0), ("seed", None)):
            value = getattr(self, name)
            if not _is_int(value):
                raise ValueError(f"graph.{name} must be an integer, got {value!r}")
            if minimum is not None and value < minimum:
                raise ValueError(f"graph.{name} must be an integer >= {minimum}, got {value!r}")
        for name in ("respawn_workers", "respawn_agent"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"graph.{name} must be true or false, got {getattr(self, name)!r}")
        delay = self.respawn_delay
        if not isinstance(delay, int | float) or isinstance(delay, bool) or not math.isfinite(delay):
            raise ValueError(f"graph.respawn_delay must be a number of seconds, got {delay!r}")
        if delay < 0:
            raise ValueError(f"graph.respawn_delay must be >= 0, got {delay!r}")
        prefix = self.worker_prefix
        if not isinstance(prefix, str) or not prefix or not prefix.replace("_", "").isalnum():
            raise ValueError(f"graph.worker_prefix must be alphanumeric/underscore, got {prefix!r}")
        self.demos = DemoSettings.from_yaml(self.demos)


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
    unknown = sorted(set(data) - set(SECTIONS), key=str)
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


def sim_parameters(config: dict[str, Any], overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The sim_node parameters every worker starts from: the config's, then the overrides."""
    params = node_parameters(config, "sim_node")
    params.update(overrides or {})
    return params


def graph_config(config: dict[str, Any], **overrides: Any) -> GraphConfig:
    """Typed `graph:` section with command-line overrides (None values ignored)."""
    section = config.get("graph") or {}
    if not isinstance(section, dict):
        raise ValueError(f"config section graph must be a mapping, got {section!r}")
    values = dict(section)
    values.update({key: value for key, value in overrides.items() if value is not None})
    known = {f.name for f in fields(GraphConfig)}
    unknown = sorted(set(values) - known, key=str)
    if unknown:
        raise ValueError(f"unknown graph option(s) {unknown}; known: {sorted(known)}")
    return GraphConfig(**values)


def _number(value: Any, name: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return float(value)


def worker_namespaces(shape: GraphConfig) -> list[str]:
    """Namespaces of the workers started by this graph."""
    first = shape.first_index
    return [f"/{shape.worker_prefix}{i}" for i in range(first, first + shape.num_workers)]


def _sim_node_spec(
    shape: GraphConfig, namespace: str, parameters: dict[str, Any], remappings: dict[str, str] | None = None
) -> NodeSpec:
    """A simulator (a training worker or deploy's robot stand-in), respawned as graph.respawn_workers says."""
    return NodeSpec(
        executable="sim_node",
        name="sim_node",
        namespace=namespace,
        parameters=parameters,
        respawn=shape.respawn_workers,
        respawn_delay=shape.respawn_delay,
        remappings=remappings or {},
    )


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
    shape = graph_config(config, **(graph_overrides or {}))
    sim_params = sim_parameters(config, sim_overrides)
    if role == "deploy":
        return deploy_node_specs(config, shape, sim_params, policy_overrides)
    specs = [
        _sim_node_spec(shape, namespace, {**sim_params, "seed": shape.seed + index})
        for index, namespace in enumerate(worker_namespaces(shape), start=shape.first_index)
    ]
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
    # The local workers, then the remote ones: one range of indices from first_index on.
    driven = range(shape.first_index, shape.first_index + shape.num_workers + shape.remote_workers)
    agent_params["workers"] = [f"{shape.worker_prefix}{i}" for i in driven]
    if "seed" not in (agent_overrides or {}):
        agent_params["seed"] = shape.seed
    if shape.respawn_agent:
        agent_params.setdefault("resume", True)  # a respawned agent must not start learning from scratch
    specs.append(
        NodeSpec(
            executable="agent_node",
            name="agent_node",
            namespace="/",
            parameters=agent_params,
            respawn=shape.respawn_agent,
            respawn_delay=shape.respawn_delay,
        )
    )
    return specs


def deploy_node_specs(
    config: dict[str, Any],
    shape: GraphConfig,
    sim_params: dict[str, Any],
    policy_overrides: dict[str, Any] | None = None,
) -> list[NodeSpec]:
    """A simulator playing the robot + policy_node, both at the root namespace like a real robot's
    driver: the simulator publishes /joint_states and /target_pose and listens on the policy's
    command topic (remapped), stepping in real time; its watchdog stops the arm when commands stop."""
    policy_params = node_parameters(config, "policy_node")
    policy_params.update(policy_overrides or {})
    command_topic = str(policy_params.get("command_topic", DEPLOY_COMMAND_TOPIC))
    sim = dict(sim_params, step_mode="realtime", seed=shape.seed)
    return [
        _sim_node_spec(shape, "/", sim, remappings={SIM_COMMAND_TOPIC: command_topic}),
        NodeSpec(executable="policy_node", name="policy_node", namespace="/", parameters=policy_params),
    ]


def params_file_content(spec: NodeSpec) -> dict[str, Any]:
    """A `--params-file` document for one node (matched by its fully qualified name)."""
    return {spec.fqn: {"ros__parameters": spec.parameters}}
