"""Dataclass settings as ROS parameters, the same way in every node.

`declare_dataclass(node, cls, prefix)` declares one parameter per field (same name, the field's default,
its docstring as the description) and returns the values the node starts with, as plain Python ready
for `cls(**values)`. `apply_parameter_changes(current, params, settable, prefix)` is the body of a
node's on-set-parameters callback: it builds the settings a `ros2 param set` asks for, validates them,
and says why when it refuses, so a bad value never reaches a running node. `accept_runtime_changes`
registers that callback for a node whose settings are `node.settings`.

ROS parameters have no None: a field whose default is None (`seed: int | None`) is declared with
dynamic typing and stays None while unset; its type is checked here instead of by rclpy. An integer
given for a float field (`lift_height: 1` in YAML, `ros2 param set ... 1`) becomes a float. A choice
field (`observation: Literal["original", ...]`) is a string parameter; which strings it takes is the
settings' validate() to say, with the choices in its message.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
import textwrap
import types
import typing
from collections.abc import Collection, Sequence
from typing import Any, TypeVar

from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.exceptions import InvalidParameterTypeException
from rclpy.node import Node
from rclpy.parameter import Parameter

T = TypeVar("T")

_ARRAY_TYPES = {
    str: Parameter.Type.STRING_ARRAY,
    int: Parameter.Type.INTEGER_ARRAY,
    float: Parameter.Type.DOUBLE_ARRAY,
    bool: Parameter.Type.BOOL_ARRAY,
}


def field_docs(cls: type) -> dict[str, str]:
    """Field name -> the docstring literal that follows the field in the class body (CleanRL style),
    whitespace collapsed. Empty for a class without source."""
    try:
        klass = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0]
    except (OSError, TypeError, SyntaxError):
        return {}
    docs: dict[str, str] = {}
    for node, following in itertools.pairwise(klass.body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = " ".join(following.value.value.split())
    return docs


def declare_dataclass(node: Node, cls: type, prefix: str = "") -> dict[str, Any]:
    """Declare a ROS parameter `<prefix><field>` per field of dataclass `cls`; return {field: value}.

    Values are the parameter overrides (params file, `-p`) or else the field defaults, as plain Python:
    arrays as lists, ints of float fields as floats, None for an unset field whose default is None.
    A nested dataclass field `f` becomes parameters `<prefix>f.<sub>` and a nested dict under "f".
    Raises TypeError naming the parameter when an override has the wrong type.
    """
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    values: dict[str, Any] = {}
    float_names: set[str] = set()
    for f in dataclasses.fields(cls):
        name = f"{prefix}{f.name}"
        hint = hints.get(f.name, Any)
        default = _default(cls, f)
        nested = _nested_dataclass(hint, default)
        if nested is not None:
            values[f.name] = declare_dataclass(node, nested, prefix=f"{name}.")
            continue
        descriptor = ParameterDescriptor(description=docs.get(f.name) or f"{cls.__name__}.{f.name}")
        values[f.name] = coerce(name, _plain(_declare(node, name, hint, default, descriptor)), hint)
        if isinstance(default, float):
            float_names.add(name)
    if float_names:
        node.add_pre_set_parameters_callback(lambda params: _ints_to_floats(params, float_names))
    return values


def apply_parameter_changes(
    current: T, params: Sequence[Parameter], settable: Collection[str], prefix: str = ""
) -> tuple[T | None, str]:
    """The settings after a `ros2 param set` of `params`: (new settings, "") or (None, reason).

    Refused with a reason naming the parameter: a name that is not `<prefix><field>` of a field in
    `settable` (dotted for nested fields; anything else needs a restart), a value of the wrong type,
    or settings whose validate() (or __post_init__) fails. `current` itself is never changed; the new
    settings are built with dataclasses.replace.
    """
    changes: dict[str, Any] = {}
    for param in params:
        field_name = param.name[len(prefix) :] if param.name.startswith(prefix) else None
        if field_name is None or field_name not in settable:
            allowed = sorted(f"{prefix}{name}" for name in settable)
            return None, (
                f"{param.name} cannot change at run time; restart the node to change it "
                f"(settable at run time: {allowed})"
            )
        try:
            hint = _field_hint(type(current), field_name)
            changes[field_name] = coerce(param.name, _plain(param.value), hint)
        except TypeError as error:
            return None, str(error)
    try:
        return _replace(current, changes), ""
    except ValueError as error:
        return None, str(error)
    except TypeError as error:
        return None, f"invalid {', '.join(p.name for p in params)}: {error}"


def accept_runtime_changes(node: Node, settable: Collection[str]) -> None:
    """Apply a `ros2 param set` of the `settable` fields to `node.settings` (a dataclass), validated
    by apply_parameter_changes; other names and bad values are refused with its reason."""

    def on_set_parameters(params: list[Parameter]) -> SetParametersResult:
        settings, reason = apply_parameter_changes(node.settings, params, settable)
        if settings is None:
            return SetParametersResult(successful=False, reason=reason)
        node.settings = settings
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(on_set_parameters)


def coerce(name: str, value: Any, hint: Any) -> Any:
    """`value` as the type `hint` wants (int -> float for float fields; None only where allowed);
    TypeError naming parameter `name` otherwise. Other hints (lists: typed by their ROS declaration)
    pass values through."""
    kind, optional = _base_type(hint)
    kind = _literal_type(kind)
    if value is None:
        if optional or kind is Any:
            return None
        raise TypeError(f"{name} must be {_describe(kind)}, got no value")
    if kind is float and type(value) is int:
        return float(value)
    if kind in (bool, int, float, str) and type(value) is not kind:  # exact: a bool is no int here
        raise TypeError(f"{name} must be {_describe(kind)}, got {type(value).__name__} {value!r}")
    return value


# ------------------------------------------------------------------------------------- internals
def _plain(value: Any) -> Any:
    """A ROS parameter value as plain Python (arrays come back as array.array)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, tuple | list):
        return list(value)
    return value


def _default(cls: type, f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    raise TypeError(f"{cls.__name__}.{f.name} has no default: a ROS parameter needs one")


def _declare(node: Node, name: str, hint: Any, default: Any, descriptor: ParameterDescriptor) -> Any:
    """The declared parameter's value (the override, else `default`)."""
    if default is None:
        descriptor.dynamic_typing = True
        return node.declare_parameter(name, None, descriptor).value
    if isinstance(default, list) and not default:
        # An empty list has no ROS type of its own: declare the array type the hint names, unset.
        item = typing.get_args(_base_type(hint)[0]) or (str,)
        kind = _ARRAY_TYPES.get(item[0], Parameter.Type.STRING_ARRAY)
        value = _declare_typed(node, name, kind, descriptor)
        return [] if value is None else value
    return _declare_typed(node, name, default, descriptor)


def _declare_typed(node: Node, name: str, default: Any, descriptor: ParameterDescriptor) -> Any:
    try:
        return node.declare_parameter(name, default, descriptor).value
    except InvalidParameterTypeException as error:
        # YAML and `-p x:=1` give an INTEGER for a float field; rclpy refuses it before we see it.
        # rclpy keeps the overrides only in this attribute.
        override = getattr(node, "_parameter_overrides", {}).get(name)
        if isinstance(default, float) and override is not None and type(override.value) is int:
            value = float(override.value)
            return node.declare_parameter(name, value, descriptor, ignore_override=True).value
        if _float_list(default) and override is not None and override.type_ == Parameter.Type.INTEGER_ARRAY:
            values = [float(v) for v in override.value]  # [1, 4] in YAML for a range of floats
            return node.declare_parameter(name, values, descriptor, ignore_override=True).value
        raise TypeError(f"parameter {name}: {error}") from None


def _float_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, float) for v in value)


def _ints_to_floats(params: list[Parameter], float_names: set[str]) -> list[Parameter]:
    """Pre-set callback: `ros2 param set <float field> 1` sets 1.0 instead of failing on the type."""
    return [
        Parameter(p.name, Parameter.Type.DOUBLE, float(p.value))
        if p.name in float_names and p.type_ == Parameter.Type.INTEGER
        else p
        for p in params
    ]


def _base_type(hint: Any) -> tuple[Any, bool]:
    """(underlying type, optional?) for `X` or `X | None`."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        inner = [arg for arg in args if arg is not type(None)]
        return (inner[0] if len(inner) == 1 else Any), True
    return hint, False


def _literal_type(kind: Any) -> Any:
    """The ROS parameter type of a choice hint: `Literal["a", "b"]` is a string; others unchanged."""
    if typing.get_origin(kind) is typing.Literal:
        kinds = {type(choice) for choice in typing.get_args(kind)}
        return kinds.pop() if len(kinds) == 1 else Any
    return kind


def _describe(kind: Any) -> str:
    return {bool: "a bool", int: "an integer", float: "a number", str: "a string"}.get(kind, str(kind))


def _nested_dataclass(hint: Any, default: Any) -> type | None:
    kind = _base_type(hint)[0]
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return kind
    if dataclasses.is_dataclass(default) and not isinstance(default, type):
        return type(default)
    return None


def _field_hint(cls: type, dotted: str) -> Any:
    head, _, rest = dotted.partition(".")
    hint = typing.get_type_hints(cls).get(head, Any)
    if rest:
        return _field_hint(_base_type(hint)[0], rest)
    return hint


def _replace(current: T, changes: dict[str, Any]) -> T:
    """dataclasses.replace through nested fields ("a.b"), each changed dataclass validated."""
    direct = {name: value for name, value in changes.items() if "." not in name}
    nested: dict[str, dict[str, Any]] = {}
    for name, value in changes.items():
        if "." in name:
            head, rest = name.split(".", 1)
            nested.setdefault(head, {})[rest] = value
    for head, sub_changes in nested.items():
        direct[head] = _replace(getattr(current, head), sub_changes)
    candidate = dataclasses.replace(current, **direct)
    validate = getattr(candidate, "validate", None)
    if callable(validate):
        validate()
    return candidate
