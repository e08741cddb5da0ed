"""Dataclass settings <-> ROS parameters: one helper for every node (placeholder until merged)."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.parameter import Parameter

from sac_grasp_ros.nodes.common import to_plain

T = TypeVar("T")


def declare_dataclass(node: Node, cls: type, prefix: str = "") -> dict[str, Any]:
    """Declare one ROS parameter per dataclass field (same name, default); returns plain values."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        name = f"{prefix}{f.name}"
        if default is None:
            value = node.declare_parameter(name, None, ParameterDescriptor(dynamic_typing=True)).value
        elif isinstance(default, list):
            value = node.declare_parameter(name, Parameter.Type.STRING_ARRAY).value
            value = default if value is None else value
        else:
            value = node.declare_parameter(name, default).value
            if isinstance(default, float) and isinstance(value, int):
                value = float(value)
        values[f.name] = to_plain(value)
    return values


def apply_parameter_changes(
    current: T, params: list[Parameter], settable: set[str], prefix: str = ""
) -> tuple[T | None, str]:
    """`current` with the changed parameters, validated; (None, reason) when refused."""
    changes = {}
    for param in params:
        if param.name not in settable:
            return None, f"{param.name} cannot change at run time (settable: {sorted(settable)})"
        changes[param.name[len(prefix) :]] = to_plain(param.value)
    try:
        candidate = dataclasses.replace(current, **changes)
        candidate.validate()
    except (ValueError, TypeError) as error:
        return None, str(error)
    return candidate, ""
