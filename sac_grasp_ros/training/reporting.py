"""Run outputs for people: TensorBoard scalars, a per-episode reward CSV, a learning-curve PNG and
the curve of deterministic evaluations (CSV + PNG).

`TrainingReporter` writes them for a `training.session.TrainingSession` that is given one (no rclpy
here).
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sac_grasp_ros.atomic import atomic_path
from sac_grasp_ros.curve_csv import CsvLog, read_rows
from sac_grasp_ros.training.config import TrainingConfig
from sac_grasp_ros.training.curve import CURVE_COLUMNS, EpisodeRecord, LearningCurve

REWARDS_CSV = "rewards.csv"
CURVE_PNG = "learning_curve.png"
TENSORBOARD_DIR = "tensorboard"
EVAL_CURVE_CSV = "eval_curve.csv"
EVAL_CURVE_PNG = "eval_curve.png"
PLOT_INTERVAL = 15.0
"""minimum seconds between two redraws of learning_curve.png (the envs wait while it is drawn)"""
SUCCESS_WINDOW = 100
"""episodes in the moving training success rate"""
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
        self._plot: LearningCurvePlot | None = None
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
        if self._plot is None:
            self._plot = LearningCurvePlot(self.out_dir / CURVE_PNG, self.window)
        return self._plot.draw(curve, title)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


PLOT_POINTS = 2000
"""most episodes drawn as dots in learning_curve.png (evenly spaced; the rolling means use every one)"""


class LearningCurvePlot:
    """learning_curve.png, redrawn in place: one figure kept for the whole run, its lines given new
    data at each redraw, at most PLOT_POINTS points per line.

    A new figure per redraw became cyclic garbage (~4,800 objects with its Agg canvas), which in a
    process the size of the agent only the rare full collection frees: the agent grew by tens of MB
    in minutes. Kept artists leave nothing to collect, and the fixed point count keeps a redraw's
    cost the same at a million steps as at the start."""

    def __init__(self, path: Path, window: int = 100) -> None:
        import matplotlib

        matplotlib.use("Agg")  # no display needed (headless machines, CI)
        from matplotlib.figure import Figure

        self.path, self.window = Path(path), window
        self.figure = Figure(figsize=(7, 4))  # not pyplot's: nothing global refers to it
        self.axis = self.figure.add_subplot()
        self.twin = self.axis.twinx()
        (self.returns,) = self.axis.plot([], [], ".", alpha=0.35, label="episode return")
        (self.mean,) = self.axis.plot([], [], "-", label="rolling mean")
        (self.success,) = self.twin.plot([], [], "g--", label="success rate")
        self.axis.set_xlabel("env steps")
        self.axis.set_ylabel("return")
        self.twin.set_ylabel("success rate")
        self.twin.set_ylim(0, 1)
        # Made once: a legend per redraw was the garbage of the figure (a few hundred objects).
        self.legend = self.axis.legend(loc="lower right")

    def draw(self, curve: LearningCurve, title: str = "") -> Path:
        """Episode returns and their rolling mean vs env steps, and the rolling success rate."""
        steps, returns = curve.column("env_steps"), curve.column("episode_return")
        kernel = min(self.window, returns.size)
        self.returns.set_data(*thin(steps, returns))
        self.mean.set_data(*thin(steps[kernel - 1 :], rolling_mean(returns, kernel)))
        self.legend.get_texts()[1].set_text(f"mean of last {kernel}")
        success = curve.column("success")
        known = ~np.isnan(success)
        self.twin.set_visible(bool(known.any()))
        if known.any():
            success_kernel = min(kernel, int(known.sum()))
            rate = rolling_mean(success[known], success_kernel)
            self.success.set_data(*thin(steps[known][success_kernel - 1 :], rate))
        self.axis.relim()
        self.axis.autoscale_view()
        self.axis.set_title(title or "learning curve")
        self.figure.tight_layout()
        with atomic_path(self.path) as temporary:  # a viewer never sees a half-written image
            self.figure.savefig(temporary, format="png", dpi=90)
        return self.path


def rolling_mean(values: np.ndarray, kernel: int) -> np.ndarray:
    """Means of every `kernel` consecutive values (len(values) - kernel + 1 of them; none when empty)."""
    if kernel < 1 or values.size < kernel:
        return np.empty(0)
    sums = np.cumsum(np.concatenate(([0.0], values.astype(np.float64))))
    return (sums[kernel:] - sums[:-kernel]) / kernel


def thin(x: np.ndarray, y: np.ndarray, points: int = PLOT_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most `points` evenly spaced (x, y) pairs, the first and the last included."""
    if x.size <= points:
        return x, y
    index = np.linspace(0, x.size - 1, points).round().astype(np.int64)
    return x[index], y[index]


def plot_learning_curve(curve: LearningCurve, path: Path, title: str = "", window: int = 100) -> Path:
    """learning_curve.png of a curve, once (a run's reporter keeps its LearningCurvePlot instead)."""
    return LearningCurvePlot(path, window).draw(curve, title)


def finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


class EvalCurvePlot:
    """eval_curve.png, redrawn in place after each evaluation: success rate and return against env
    steps and wall time (two rows of axes), on one kept figure, for the reason LearningCurvePlot says."""

    def __init__(self, path: Path, title: str) -> None:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure

        self.path = Path(path)
        self.figure = Figure(figsize=(10, 7))
        self.axes = self.figure.subplots(2, 2)
        self.success: list[Any] = []  # Line2D of each column (matplotlib is imported lazily)
        self.returns: list[Any] = []
        for column, label in enumerate(("env steps", "wall time (min)")):
            top, bottom = self.axes[0][column], self.axes[1][column]
            self.success.append(top.plot([], [], marker="o")[0])
            top.axhline(0.9, color="grey", linestyle="--", linewidth=0.8)
            top.set_ylim(-0.02, 1.02)
            top.set_ylabel("eval success rate")
            self.returns.append(bottom.plot([], [], marker="o", color="tab:orange")[0])
            bottom.set_ylabel("eval mean return")
            bottom.set_xlabel(label)
        self.figure.suptitle(title)

    def draw(self, rows: list[dict[str, float]]) -> Path:
        steps = [row["env_steps"] for row in rows]
        minutes = [row["wall_s"] / 60.0 for row in rows]
        success = [row["eval_success_rate"] for row in rows]
        returns = [row["eval_mean_return"] for row in rows]
        for column, x in enumerate((steps, minutes)):
            self.success[column].set_data(x, success)
            self.returns[column].set_data(x, returns)
            for row, axis in enumerate((self.axes[0][column], self.axes[1][column])):
                axis.relim()
                axis.autoscale_view(scaley=row == 1)  # the success rate keeps its fixed 0..1 range
        self.figure.tight_layout()
        with atomic_path(self.path) as temporary:
            self.figure.savefig(temporary, format="png", dpi=80)
        return self.path


def plot_eval_curve(rows: list[dict[str, float]], path: Path, title: str) -> None:
    """eval_curve.png of these rows, once (a run's EvalCurveWriter keeps its EvalCurvePlot instead)."""
    EvalCurvePlot(path, title).draw(rows)


class EvalCurveWriter:
    """Appends one row per evaluation to eval_curve.csv and keeps the rows for its plot."""

    def __init__(self, path: Path, append: bool = False) -> None:
        """`append`: keep the rows of an existing file (a resumed run goes on with its curve)."""
        self.path = Path(path)
        self.rows: list[dict[str, float]] = (read_rows(self.path, EVAL_COLUMNS) or []) if append else []
        self._log = CsvLog(self.path, EVAL_COLUMNS, append=append)
        self._plot: EvalCurvePlot | None = None

    def append(self, row: dict[str, float]) -> None:
        self.rows.append(row)
        self._log.append(row)

    def plot(self, path: Path, title: str) -> Path:
        """Redraw the PNG of every row so far (one kept figure for the run)."""
        if self._plot is None:
            self._plot = EvalCurvePlot(path, title)
        return self._plot.draw(self.rows)


class TrainingReporter:
    """The reports of one training run in `directory`: per episode (rewards.csv, TensorBoard, the
    learning-curve PNG at most every PLOT_INTERVAL s), progress scalars, and per evaluation
    (TensorBoard, eval_curve.csv/png). Nothing is written before `open`."""

    def __init__(self, directory: str | os.PathLike, name: str, seed: int) -> None:
        self.directory, self.name, self.seed = Path(directory), name, seed
        self._run: RunReporter | None = None
        self._evaluations: EvalCurveWriter | None = None
        self._last_plot = 0.0

    def open(self, resumed: bool) -> None:
        """Start writing; a `resumed` run goes on with its evaluation curve."""
        self._run = RunReporter(self.directory, tensorboard=True, window=SUCCESS_WINDOW)
        self._evaluations = EvalCurveWriter(self.directory / EVAL_CURVE_CSV, append=resumed)

    @property
    def title(self) -> str:
        return f"{self.name}, seed {self.seed}"

    def episode(self, record: EpisodeRecord, curve: LearningCurve, plot_every: int) -> None:
        """An episode already in `curve`; every `plot_every` episodes the PNG is redrawn."""
        if self._run is None:
            return
        self._run.episode(record, curve)
        now = time.monotonic()
        if record.episode % plot_every == 0 and now - self._last_plot >= PLOT_INTERVAL:
            self._last_plot = now
            self._run.plot(curve, title=self.title)

    def scalars(self, env_steps: int, values: Mapping[str, float]) -> None:
        if self._run is not None:
            self._run.scalars(env_steps, values)

    def evaluation(
        self,
        env_steps: int,
        success_rate: float,
        mean_return: float,
        updates: int,
        wall_s: float,
        train_success: float,
    ) -> None:
        """One evaluation: TensorBoard, a row of eval_curve.csv (with the training success rate), the PNG."""
        if self._run is None:
            return
        scalars = {"success_rate": success_rate, "mean_return": mean_return}
        self._run.scalars(env_steps, scalars, prefix="eval")
        self._evaluations.append(
            {
                "env_steps": env_steps,
                "wall_s": round(wall_s, 2),
                "updates": updates,
                "eval_success_rate": success_rate,
                "eval_mean_return": round(mean_return, 3),
                "train_success_100": train_success,
            }
        )
        self._evaluations.plot(self.directory / EVAL_CURVE_PNG, f"{self.name} evaluations, seed {self.seed}")

    def close(self, curve: LearningCurve) -> None:
        """The last learning-curve PNG, then the files closed."""
        if self._run is not None:
            if len(curve):
                self._run.plot(curve, title=self.title)
            self._run.close()
            self._run = None


def run_reporter(config: TrainingConfig, name: str) -> TrainingReporter | None:
    """The reporter of a run configured with a report_dir (None: no reports)."""
    return TrainingReporter(config.report_dir, name, config.seed) if config.report_dir else None
