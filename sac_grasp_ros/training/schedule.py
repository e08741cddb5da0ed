"""When to update and when to evaluate: the two schedules of a training run (no ROS, no torch)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class UpdateScheduler:
    """Decides how many gradient updates are due for the env steps collected (UTD ratio).

    An absolute target (`floor(utd_ratio * steps since learning_starts)`) rather than a running debt,
    so a resumed run that restores `updates_done` continues on the same schedule.
    """

    utd_ratio: float
    learning_starts: int
    batch_size: int
    updates_done: int = 0

    def due(self, env_steps: int, buffer_size: int) -> int:
        if env_steps < self.learning_starts or buffer_size < self.batch_size:
            return 0
        target = math.floor(self.utd_ratio * (env_steps - self.learning_starts + 1))
        return max(0, target - self.updates_done)


@dataclass
class PeriodicEvaluation:
    """When to evaluate during training, and which evaluated policy was best (model selection).

    The best policy is chosen on these periodic evaluations only; a final evaluation on episodes of
    its own then measures it, so the reported figure is not the maximum of noisy selection scores.
    """

    every: int
    """stored env steps between evaluations (0: none); the first one is due at 0"""
    next_at: int = 0
    best_success_rate: float = -1.0
    best_mean_return: float = -math.inf
    best_env_steps: int = -1
    """env steps of the best evaluated policy (-1: none evaluated yet)"""

    def due(self, env_steps: int) -> bool:
        return self.every > 0 and env_steps >= self.next_at

    def record(self, env_steps: int, success_rate: float, mean_return: float) -> bool:
        """Account an evaluation at `env_steps`; True when its policy is the best so far.

        Better means a higher success rate, then a higher mean return: a tie keeps the earlier policy.
        """
        self.skip(env_steps)
        if (success_rate, mean_return) <= (self.best_success_rate, self.best_mean_return):
            return False
        self.best_success_rate, self.best_mean_return = float(success_rate), float(mean_return)
        self.best_env_steps = int(env_steps)
        return True

    def skip(self, env_steps: int) -> None:
        """Schedule the next evaluation at the next multiple of `every` (also after a failed one)."""
        if self.every > 0:
            self.next_at = (env_steps // self.every + 1) * self.every

    def counters(self) -> dict[str, float]:
        """State for checkpoints (a resumed run keeps its schedule and its best so far)."""
        values: dict[str, float] = {"periodic_eval.next_at": self.next_at}
        if self.best_env_steps >= 0:  # checkpoint counters must be finite: no -inf placeholder
            values.update(
                {
                    "periodic_eval.best_success_rate": self.best_success_rate,
                    "periodic_eval.best_mean_return": self.best_mean_return,
                    "periodic_eval.best_env_steps": self.best_env_steps,
                }
            )
        return values

    def restore(self, counters: dict[str, float]) -> None:
        def value(name: str) -> float:
            return counters.get(f"periodic_eval.{name}", getattr(self, name))

        self.next_at = int(value("next_at"))
        self.best_success_rate, self.best_mean_return = (
            float(value("best_success_rate")),
            float(value("best_mean_return")),
        )
        self.best_env_steps = int(value("best_env_steps"))
