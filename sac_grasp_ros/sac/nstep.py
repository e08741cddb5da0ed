"""n-step returns: folds a stream of one-step transitions into (s_t, a_t, sum_k gamma^k r_{t+k}, s_{t+n}).

The learner then bootstraps with gamma^n (`SACConfig.bootstrap_discount`), which carries the grasp
bonus back n states per update instead of one. Kept out of the replay buffer so the stored format
stays one row per transition: a folded row looks like any other, with a longer horizon.

Episode ends need no flag from the caller:
- a true termination flushes every pending start with its partial sum and `terminated`, which is
  exact (nothing to bootstrap);
- any other break of the stream (a time-limit truncation, a worker that restarted or was reset)
  shows up as an observation that does not continue the previous transition's next_obs, and the
  pending starts (at most n - 1) are dropped: their horizon would be shorter than n, and a row
  bootstrapped with gamma^n over fewer steps would be wrong.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np


class Transition(NamedTuple):
    """One stored row: what the replay buffer's `add` takes."""

    obs: np.ndarray
    action: np.ndarray
    reward: float
    next_obs: np.ndarray
    terminated: bool


class NStepFolder:
    """Per-stream (one per simulator worker) folding of consecutive transitions into n-step rows."""

    def __init__(self, n_step: int, gamma: float) -> None:
        if not isinstance(n_step, int) or isinstance(n_step, bool) or n_step < 1:
            raise ValueError(f"n_step must be a positive integer, got {n_step!r}")
        self.n_step = n_step
        self.gamma = float(gamma)
        self._pending: deque[Transition] = deque()
        self._last_next_obs: np.ndarray | None = None

    def push(
        self, obs: np.ndarray, action: np.ndarray, reward: float, next_obs: np.ndarray, terminated: bool
    ) -> list[Transition]:
        """Add the stream's next one-step transition; returns the rows now complete (oldest first)."""
        if self.n_step == 1:
            return [Transition(obs, action, float(reward), next_obs, bool(terminated))]
        if self._last_next_obs is not None and not np.array_equal(obs, self._last_next_obs):
            self._pending.clear()  # the stream broke (truncation, reset, restart): see the module doc
        self._pending.append(Transition(obs, action, float(reward), next_obs, bool(terminated)))
        self._last_next_obs = np.array(next_obs, copy=True)
        if terminated:
            rows = list(self._fold_all())
            self._pending.clear()
            self._last_next_obs = None
            return rows
        if len(self._pending) < self.n_step:
            return []
        row = self._fold(list(self._pending))
        self._pending.popleft()
        return [row]

    def _fold_all(self) -> Iterator[Transition]:
        pending = list(self._pending)
        for start in range(len(pending)):
            yield self._fold(pending[start:])

    def _fold(self, steps: list[Transition]) -> Transition:
        """The row starting at steps[0] and ending at steps[-1] (len(steps) <= n)."""
        discounted = 0.0
        for k, step in enumerate(steps):
            discounted += self.gamma**k * step.reward
        first, last = steps[0], steps[-1]
        return Transition(first.obs, first.action, discounted, last.next_obs, last.terminated)


def fold_transitions(arrays: dict[str, np.ndarray], n_step: int, gamma: float) -> dict[str, np.ndarray]:
    """Fold stored one-step transitions (consecutive rows of whole episodes, e.g. a demo file) into
    n-step rows, with the same rules as the live `NStepFolder`; n_step 1 returns the arrays as they are."""
    if n_step == 1:
        return arrays
    folder = NStepFolder(n_step, gamma)
    rows: list[Transition] = []
    for i in range(len(arrays["obs"])):
        rows.extend(
            folder.push(
                arrays["obs"][i],
                arrays["actions"][i],
                float(arrays["rewards"][i]),
                arrays["next_obs"][i],
                bool(arrays["terminated"][i]),
            )
        )
    if not rows:
        raise ValueError(f"no {n_step}-step transitions could be formed (episodes shorter than n_step?)")
    columns = list(zip(*rows, strict=True))
    return {
        "obs": np.stack(columns[0]).astype(np.float32),
        "actions": np.stack(columns[1]).astype(np.float32),
        "rewards": np.asarray(columns[2], dtype=np.float32),
        "next_obs": np.stack(columns[3]).astype(np.float32),
        "terminated": np.asarray(columns[4], dtype=np.bool_),
    }
