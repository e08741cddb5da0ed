"""Command-line options generated from typed config dataclasses, so help text and defaults cannot drift.

Each field becomes `--field-name` with the field's type, default and docstring (the string literal
right after the field, CleanRL style). Booleans get `--flag/--no-flag`; `X | None` accepts `none`.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import itertools
import textwrap
import types
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def field_docs(cls: type) -> dict[str, str]:
    """Field name -> the docstring literal that follows it in the class body (empty when no source)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for node, following in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = " ".join(following.value.value.split())
    return docs


def _base_type(annotation: Any) -> tuple[type, bool]:
    """(underlying type, optional?) for `X` or `X | None`."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        (inner,) = [arg for arg in args if arg is not type(None)]
        return inner, True
    return annotation, False


def _parser_for(kind: type, optional: bool, name: str):
    def parse(text: str) -> Any:
        if optional and text.lower() == "none":
            return None
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--{name}: expected {kind.__name__}, got {text!r}") from None

    return parse


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type, title: str | None = None) -> None:
    """Add one option per field of dataclass `cls` (in its own argument group)."""
    group = parser.add_argument_group(title or cls.__name__)
    docs = field_docs(cls)
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        option = "--" + field.name.replace("_", "-")
        kind, optional = _base_type(hints[field.name])
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()  # type: ignore[misc]
        help_text = docs.get(field.name, "")
        if kind is bool:
            group.add_argument(
                option,
                dest=field.name,
                action=argparse.BooleanOptionalAction,
                default=default,
                help=docs.get(field.name, ""),
            )
        else:
            group.add_argument(
                option,
                dest=field.name,
                type=_parser_for(kind, optional, field.name),
                default=default,
                metavar=kind.__name__.upper(),
                help=help_text,
            )


def dataclass_from_args(cls: type[T], namespace: argparse.Namespace) -> T:
    names = {field.name for field in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{name: value for name, value in vars(namespace).items() if name in names})
