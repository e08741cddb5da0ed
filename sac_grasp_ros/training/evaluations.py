"""The evaluations of a training run and what comes of them (no ROS): when the next periodic one is
due, which evaluated policy is the best (keep_best), which policy the final evaluation measures, and
the run's result (result_file).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

from sac_grasp_ros.atomic import atomic_write
from sac_grasp_ros.training.schedule import PeriodicEvaluation


class Evaluation(NamedTuple):
    """One periodic evaluation as the run ranks it."""

    success_rate: float
    mean_return: float
    best_so_far: bool


class EvaluationTracker:
    """Schedule, best-policy selection and result of one run's evaluations."""

    def __init__(self, every: int) -> None:
        self.schedule = PeriodicEvaluation(every)
        self.final_policy: dict[str, Any] = {"policy": "last"}
        """which policy the final evaluation measures, as the result says it"""

    def due(self, env_steps: int) -> bool:
        return self.schedule.due(env_steps)

    def record(self, env_steps: int, summary: dict[str, Any]) -> Evaluation:
        """Account an evaluation summary (success_rate, mean_return) taken at `env_steps`."""
        # An env that reports no success (e.g. Pendulum) is ranked by its return alone.
        rate, mean_return = float(summary["success_rate"] or 0.0), float(summary["mean_return"])
        return Evaluation(rate, mean_return, self.schedule.record(env_steps, rate, mean_return))

    def failed(self, env_steps: int) -> None:
        """An evaluation could not run: retried at the next multiple of the schedule."""
        self.schedule.skip(env_steps)

    @property
    def has_best(self) -> bool:
        return self.schedule.best_env_steps >= 0

    def select_best(self, checkpoint: str, selection_episodes: int) -> None:
        """The final evaluation measures the best policy, saved at `checkpoint`."""
        self.final_policy = {
            "policy": "best",
            "selected_at_env_steps": self.schedule.best_env_steps,
            "selection_success_rate": self.schedule.best_success_rate,
            "selection_episodes": selection_episodes,
            "checkpoint": str(Path(checkpoint).resolve()),
        }

    def result(
        self, ok: bool, outcome: str | dict[str, Any], run: dict[str, Any], result_file: str = ""
    ) -> tuple[int, dict[str, Any]]:
        """The final evaluation's result (exit code, JSON object): its summary, which policy it measured
        and `run` (env_steps first, stages last); also written atomically to `result_file`."""
        if ok:
            summary = json.loads(outcome) if isinstance(outcome, str) else dict(outcome)
            result = {**summary, **self.final_policy, **run}
        else:
            result = {"error": outcome if isinstance(outcome, str) else json.dumps(outcome)}
        if result_file:  # a run directory no launcher made is made here
            Path(result_file).parent.mkdir(parents=True, exist_ok=True)
            atomic_write(result_file, json.dumps(result))
        return (0 if ok else 1), result

    def counters(self) -> dict[str, float]:
        return self.schedule.counters()

    def restore(self, counters: dict[str, int | float]) -> None:
        self.schedule.restore(counters)
