"""The one CSV writer of a run's curves: the episode curve (a run's rewards.csv, a checkpoint's curve.csv)
and the evaluation curve (eval_curve.csv).

A column looks the same in every file: episode returns to 6 significant digits, wall time to the
millisecond, success as 1/0, other values as Python prints them. A missing value (None, or NaN such as
the success of an env that reports none) is an empty cell, which `read_rows` gives back as NaN.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

FORMATS: dict[str, Callable[[Any], str]] = {
    "episode_return": lambda value: f"{value:.6g}",
    "wall_s": lambda value: f"{value:.3f}",
    "success": lambda value: str(int(bool(value))),
}
"""Columns written in a fixed format (others: str(value))."""


def format_cell(name: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    formatter = FORMATS.get(name)
    return formatter(value) if formatter is not None else str(value)


def format_row(columns: Sequence[str], row: Mapping[str, Any]) -> list[str]:
    """The cells of one row; KeyError names a missing column."""
    return [format_cell(name, row[name]) for name in columns]


def curve_csv(columns: Mapping[str, Sequence[Any]]) -> str:
    """A whole curve (equal-length columns, e.g. LearningCurve.to_arrays()) as CSV text; "" when empty."""
    if not columns:
        return ""
    names = list(columns)
    values = [column.tolist() if hasattr(column, "tolist") else list(column) for column in columns.values()]
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(names)
    for row in zip(*values, strict=True):
        writer.writerow(format_row(names, dict(zip(names, row, strict=True))))
    return text.getvalue()


def read_header(path: str | os.PathLike) -> tuple[str, ...] | None:
    """The column names of a CSV file; None when it is missing or empty."""
    path = Path(path)
    if not path.is_file():
        return None
    with open(path, newline="") as file:
        header = next(csv.reader(file), None)
    return tuple(header) if header else None


def read_rows(path: str | os.PathLike, columns: Sequence[str]) -> list[dict[str, float]] | None:
    """The rows of a file with exactly these columns, as floats (empty cells: NaN); None when the file
    is missing, empty or has other columns. A cell that is not a number raises ValueError naming it."""
    if read_header(path) != tuple(columns):
        return None
    rows = []
    with open(path, newline="") as file:
        for line, row in enumerate(csv.DictReader(file), start=2):
            try:
                rows.append({name: float(row[name]) if row[name] else math.nan for name in columns})
            except (TypeError, ValueError) as error:
                raise ValueError(f"{path}: line {line}: {error}") from error
    return rows


class CsvLog:
    """Appends one row at a time to a CSV file, flushed at once (a running job can be watched)."""

    def __init__(self, path: str | os.PathLike, columns: Sequence[str], append: bool = True) -> None:
        """`append`: continue an existing file with the same columns (a resumed run); otherwise, or
        when the file has other columns, start a new file with the header only."""
        self.path = Path(path)
        self.columns = tuple(columns)
        if not (append and read_header(self.path) == self.columns):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "w", newline="") as file:
                csv.writer(file).writerow(self.columns)

    def append(self, row: Mapping[str, Any]) -> None:
        """Write one row (a mapping with every column; None or NaN: empty cell)."""
        with open(self.path, "a", newline="") as file:
            csv.writer(file).writerow(format_row(self.columns, row))
