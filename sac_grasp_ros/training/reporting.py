"""Run outputs for people: TensorBoard scalars, a per-episode reward CSV, a learning-curve PNG and
the curve of deterministic evaluations (CSV + PNG).

Written by `training.session.TrainingSession`, the trainer of the in-process CLI and the ROS agent
node (no rclpy here).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from sac_grasp_ros.atomic import atomic_path
from sac_grasp_ros.curve_csv import CsvLog, read_rows
from sac_grasp_ros.training.curve import CURVE_COLUMNS, EpisodeRecord, LearningCurve

REWARDS_CSV = "rewards.csv"
CURVE_PNG = "learning_curve.png"
TENSORBOARD_DIR = "tensorboard"
EVAL_CURVE_CSV = "eval_curve.csv"
EVAL_CURVE_PNG = "eval_curve.png"
EVAL_COLUMNS = (
    "env_steps",
    "wall_s",
    "updates",
    "eval_success_rate",
    "eval_mean_return",
    "train_success_100",
)


class RunReporter:
    """Writes the human-facing logs of one run into `out_dir`; appends when the run is resumed."""

    def __init__(self, out_dir: str | os.PathLike, tensorboard: bool = True, window: int = 100) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.window = window
        self._rewards = CsvLog(self.out_dir / REWARDS_CSV, CURVE_COLUMNS)
        self._writer = None
        if tensorboard:
            # imported lazily: tensorboard is slow to import and optional for callers that pass False
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.out_dir / TENSORBOARD_DIR))

    def episode(self, record: EpisodeRecord, curve: LearningCurve) -> None:
        """Log one finished episode to the CSV and TensorBoard (return, length, rolling success rate)."""
        self._rewards.append(dataclasses.asdict(record))
        if self._writer is not None:
            step = record.env_steps
            self._writer.add_scalar("episode/return", record.episode_return, step)
            self._writer.add_scalar("episode/length", record.episode_length, step)
            rate = curve.success_rate(self.window)
            if rate is not None:
                self._writer.add_scalar("episode/success_rate", rate, step)

    def scalars(self, step: int, values: Mapping[str, float], prefix: str = "train") -> None:
        if self._writer is not None:
            for name, value in values.items():
                self._writer.add_scalar(f"{prefix}/{name}", value, step)

    def plot(self, curve: LearningCurve, title: str = "") -> Path:
        """Redraw the learning-curve PNG (episode returns and their rolling mean vs env steps)."""
        return plot_learning_curve(curve, self.out_dir / CURVE_PNG, title=title, window=self.window)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def plot_learning_curve(curve: LearningCurve, path: Path, title: str = "", window: int = 100) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display needed (headless machines, CI)
    import matplotlib.pyplot as plt

    arrays = curve.to_arrays()
    figure, axis = plt.subplots(figsize=(7, 4))
    steps, returns = arrays["env_steps"], arrays["episode_return"]
    if returns.size:
        axis.plot(steps, returns, ".", alpha=0.35, label="episode return")
        kernel = min(window, returns.size)
        rolling = np.convolve(returns, np.ones(kernel) / kernel, mode="valid")
        axis.plot(steps[kernel - 1 :], rolling, "-", label=f"mean of last {kernel}")
        success = arrays["success"]
        if not np.isnan(success).all():
            twin = axis.twinx()
            known = ~np.isnan(success)
            success_kernel = min(kernel, int(known.sum()))
            rate = np.convolve(success[known], np.ones(success_kernel) / success_kernel, mode="valid")
            twin.plot(steps[known][success_kernel - 1 :], rate, "g--", label="success rate")
            twin.set_ylabel("success rate")
            twin.set_ylim(0, 1)
    axis.set_xlabel("env steps")
    axis.set_ylabel("return")
    axis.set_title(title or "learning curve")
    axis.legend(loc="lower right")
    figure.tight_layout()
    try:
        with atomic_path(path) as temporary:  # a viewer never sees a half-written image
            figure.savefig(temporary, format="png", dpi=90)
    finally:
        plt.close(figure)
    return path


def finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def plot_eval_curve(rows: list[dict[str, float]], path: Path, title: str) -> None:
    """Success rate and return against env steps and wall time (one PNG, two rows of axes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [row["env_steps"] for row in rows]
    minutes = [row["wall_s"] / 60.0 for row in rows]
    success = [row["eval_success_rate"] for row in rows]
    returns = [row["eval_mean_return"] for row in rows]
    figure, axes = plt.subplots(2, 2, figsize=(10, 7))
    for column, (x, label) in enumerate(((steps, "env steps"), (minutes, "wall time (min)"))):
        axes[0][column].plot(x, success, marker="o")
        axes[0][column].axhline(0.9, color="grey", linestyle="--", linewidth=0.8)
        axes[0][column].set_ylim(-0.02, 1.02)
        axes[0][column].set_ylabel("eval success rate")
        axes[1][column].plot(x, returns, marker="o", color="tab:orange")
        axes[1][column].set_ylabel("eval mean return")
        axes[1][column].set_xlabel(label)
    figure.suptitle(title)
    figure.tight_layout()
    try:
        with atomic_path(path) as temporary:
            figure.savefig(temporary, format="png", dpi=80)
    finally:
        plt.close(figure)


class EvalCurveWriter:
    """Appends one row per evaluation to eval_curve.csv and keeps the rows for plot_eval_curve."""

    def __init__(self, path: Path, append: bool = False) -> None:
        """`append`: keep the rows of an existing file (a resumed run goes on with its curve)."""
        self.path = Path(path)
        self.rows: list[dict[str, float]] = (read_rows(self.path, EVAL_COLUMNS) or []) if append else []
        self._log = CsvLog(self.path, EVAL_COLUMNS, append=append)

    def append(self, row: dict[str, float]) -> None:
        self.rows.append(row)
        self._log.append(row)
