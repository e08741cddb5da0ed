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

ROS-free: importable without rclpy or launch.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

PACKAGE = "sac_grasp_ros"
ROLES = ("train", "test", "worker")


@dataclass
class GraphConfig:
    """Shape of the graph: how many workers, their names, respawning, seeds."""

    num_workers: int = 2
    """simulator workers started by this launch (each in its own namespace)"""
    first_index: int = 0
    """index of the first worker started here (extra hosts use a different range)"""
    worker_prefix: str = "worker_"
    """namespace prefix: worker i lives under /<prefix><i>"""
    respawn_workers: bool = True
    """restart a simulator worker that died (the agent recovers by resetting it)"""
    respawn_delay: float = 2.0
    """seconds to wait before a respawn"""
    seed: int = 0
    """base seed: worker i gets seed + i, the agent gets seed"""

    def __post_init__(self) -> None:
        if not isinstance(self.num_workers, int) or self.num_workers < 1:
            raise ValueError(f"graph.num_workers must be an integer >= 1, got {self.num_workers!r}")
        if not isinstance(self.first_index, int) or self.first_index < 0:
            raise ValueError(f"graph.first_index must be an integer >= 0, got {self.first_index!r}")
        if not self.worker_prefix or not self.worker_prefix.replace("_", "").isalnum():
            raise ValueError(
                f"graph.worker_prefix must be alphanumeric/underscore, got {self.worker_prefix!r}"
            )
        if self.respawn_delay < 0:
            raise ValueError(f"graph.respawn_delay must be >= 0, got {self.respawn_delay!r}")


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
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with graph/sim_node/agent_node sections")
    unknown = sorted(set(data) - {"graph", "sim_node", "agent_node"})
    if unknown:
        raise ValueError(
            f"{path}: unknown top-level section(s) {unknown}; known: graph, sim_node, agent_node"
        )
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
    values = dict(config.get("graph") or {})
    values.update({key: value for key, value in overrides.items() if value is not None})
    known = {f.name for f in fields(GraphConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown graph option(s) {unknown}; known: {sorted(known)}")
    return GraphConfig(**values)


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
) -> list[NodeSpec]:
    """Turn a config into the nodes to start for a role.

    train: workers + agent (learning); test: workers + agent (deployment, as configured in
    config/test.yaml); worker: simulator workers only (the agent runs on another host).
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {ROLES}")
    graph = graph_config(config, **(graph_overrides or {}))
    sim_params = node_parameters(config, "sim_node")
    sim_params.update(sim_overrides or {})
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
        float(sim_params.get("max_joint_velocity", 1.0)) if joint_velocity else 1.0
    )
    agent_params.update(agent_overrides or {})
    agent_params["workers"] = [ns.lstrip("/") for ns in namespaces]
    if "seed" not in (agent_overrides or {}):
        agent_params["seed"] = int(graph.seed)
    specs.append(NodeSpec(executable="agent_node", name="agent_node", namespace="/", parameters=agent_params))
    return specs


def params_file_content(spec: NodeSpec) -> dict[str, Any]:
    """A `--params-file` document for one node (matched by its fully qualified name)."""
    return {spec.fqn: {"ros__parameters": spec.parameters}}
