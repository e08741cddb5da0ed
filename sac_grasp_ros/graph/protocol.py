"""The step message exchanged between simulator workers and the agent, and the transition assembler.

ROS-free on purpose: the layout is defined once here and used by both nodes (which only copy the
flat float list in and out of a `std_msgs/Float64MultiArray`) and by the tests.

Why a keyed message instead of separate state/reward topics: over DDS a message can arrive late,
twice (transient-local replay to a late joiner) or not at all, and several workers feed one agent.
Each step message therefore carries its own key (worker session, episode id, step index) and echoes
the action that the simulator really applied (after clamping), so a transition
(obs@k-1, applied_action@k, reward@k, obs@k, terminated@k) is only built from two messages of the
same episode with consecutive step indices; anything else is dropped, never mis-paired.

Layout of `Float64MultiArray.data` (dims labelled in `layout.dim`, see `LAYOUT_LABELS`):

| index                 | field        | meaning                                                    |
|-----------------------|--------------|------------------------------------------------------------|
| 0                     | session      | random id drawn when the simulator node started (restart)   |
| 1                     | episode      | episode counter within the session, starts at 0             |
| 2                     | step         | step index within the episode; 0 = observation after reset  |
| 3                     | reward       | reward of this step (0 at step 0)                           |
| 4                     | terminated   | 1.0 when the episode ended by the task (success/failure)    |
| 5                     | truncated    | 1.0 when the episode hit its step limit                     |
| 6                     | success      | 1.0 when the grasp succeeded on this step                   |
| 7                     | aborted      | 1.0 when the simulation blew up (NaN/instability) and the   |
|                       |              | scene was reset: the episode ends, the step is no transition|
| 8 .. 8+A              | action       | applied action, policy units [-1, 1] (zeros at step 0)      |
| 8+A .. 8+A+O          | observation  | observation after the step                                  |
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from enum import Enum
from typing import Literal, NamedTuple

import numpy as np

StepMode = Literal["lockstep", "realtime"]
"""When a simulator publishes a step: lockstep, once per command it receives (training); realtime,
every control_period with the latest command (deployment, the robot's stand-in)"""
STEP_MODES: tuple[str, ...] = typing.get_args(StepMode)


HEADER_FIELDS: tuple[str, ...] = (
    "session",
    "episode",
    "step",
    "reward",
    "terminated",
    "truncated",
    "success",
    "aborted",
)
HEADER_SIZE = len(HEADER_FIELDS)
# Labels of the layout dimensions, in order: header fields, then the two vector blocks.
LAYOUT_LABELS: tuple[str, ...] = (*HEADER_FIELDS, "action", "observation")


@dataclass(frozen=True)
class StepMessage:
    """One simulator step as published on `step` (see the module docstring for the wire layout)."""

    session: int
    episode: int
    step: int
    reward: float
    terminated: bool
    truncated: bool
    success: bool
    action: np.ndarray
    observation: np.ndarray
    aborted: bool = False
    """the simulation diverged on this step: its observation is of the reset scene, not of the action"""

    @property
    def done(self) -> bool:
        """Episode over (any way): the simulator resets next."""
        return self.terminated or self.truncated or self.aborted

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.session, self.episode, self.step)


FLOAT32_MAX = float(np.finfo(np.float32).max)


def _field_name(index: int, act_dim: int) -> str:
    if index < HEADER_SIZE:
        return HEADER_FIELDS[index]
    if index < HEADER_SIZE + act_dim:
        return f"action[{index - HEADER_SIZE}]"
    return f"observation[{index - HEADER_SIZE - act_dim}]"


def layout_sizes(act_dim: int, obs_dim: int) -> list[tuple[str, int]]:
    """(label, size) of each block, the sizes the message's `layout.dim` carries."""
    return [*((name, 1) for name in HEADER_FIELDS), ("action", act_dim), ("observation", obs_dim)]


def encode(msg: StepMessage) -> list[float]:
    """Flatten a step into the float list of `Float64MultiArray.data`."""
    header = [
        float(msg.session),
        float(msg.episode),
        float(msg.step),
        float(msg.reward),
        1.0 if msg.terminated else 0.0,
        1.0 if msg.truncated else 0.0,
        1.0 if msg.success else 0.0,
        1.0 if msg.aborted else 0.0,
    ]
    return (
        header
        + np.asarray(msg.action, dtype=np.float64).ravel().tolist()
        + np.asarray(msg.observation, dtype=np.float64).ravel().tolist()
    )


def decode(data: np.ndarray | list[float], act_dim: int, obs_dim: int) -> StepMessage:
    """Parse `Float64MultiArray.data`; raises ValueError on a wrong length or a malformed header."""
    values = np.asarray(data, dtype=np.float64)
    expected = HEADER_SIZE + act_dim + obs_dim
    if values.ndim != 1 or values.size != expected:
        raise ValueError(
            f"step message has {values.size} values, expected {expected} "
            f"({HEADER_SIZE} header + {act_dim} action + {obs_dim} observation)"
        )
    header = values[:HEADER_SIZE]
    if not np.all(np.isfinite(header[:3])) or np.any(header[:3] < 0):
        raise ValueError(f"step message has an invalid key (session, episode, step) = {header[:3].tolist()}")
    # Everything after the key ends up in float32 replay rows: NaN, inf or values float32 cannot hold
    # would poison the learner (and the buffer refuses them), so such a message is no step at all.
    bad = np.flatnonzero(~(np.abs(values[3:]) <= FLOAT32_MAX)) + 3
    if bad.size:
        where = ", ".join(_field_name(int(i), act_dim) for i in bad[:5])
        raise ValueError(f"step message has NaN/inf or out-of-float32-range values at {where}")
    return StepMessage(
        session=int(header[0]),
        episode=int(header[1]),
        step=int(header[2]),
        reward=float(header[3]),
        terminated=bool(header[4] > 0.5),
        truncated=bool(header[5] > 0.5),
        success=bool(header[6] > 0.5),
        action=values[HEADER_SIZE : HEADER_SIZE + act_dim].astype(np.float32),
        observation=values[HEADER_SIZE + act_dim :].astype(np.float32),
        aborted=bool(header[7] > 0.5),
    )


class WorkerTransition(NamedTuple):
    """One replay transition, as the learner stores it (a truncation is not stored: the learner
    bootstraps through it, so only `terminated` matters)."""

    obs: np.ndarray
    action: np.ndarray
    reward: float
    next_obs: np.ndarray
    terminated: bool


class Verdict(Enum):
    """What the assembler did with a message (used for counters and tests)."""

    TRANSITION = "transition"  # paired with its predecessor
    EPISODE_START = "episode_start"  # first message of a newer episode (or session)
    GAP = "gap"  # newer step of the current episode without its predecessor (a lost message)
    DUPLICATE = "duplicate"  # already seen, or older than what was already seen
    STALE = "stale"  # from an older episode or a retired session
    ABORTED = "aborted"  # the simulation diverged on this step: it ends the episode, no transition


@dataclass
class _WorkerTrack:
    last: StepMessage
    retired_sessions: set[int] = field(default_factory=set)


class TransitionAssembler:
    """Pairs consecutive step messages of the same episode into transitions, per worker.

    A worker is any hashable id (its namespace). Messages from different workers never meet.
    Within a worker, ordering is by (session, episode, step); a message from a session never seen
    before starts a new session (the simulator restarted) and retires the old one.
    """

    def __init__(self) -> None:
        self._tracks: dict[object, _WorkerTrack] = {}
        self._floors: dict[object, tuple[int, int, int]] = {}
        self.counts: dict[Verdict, int] = dict.fromkeys(Verdict, 0)
        self.abandoned = 0
        """episodes that ended without a final message (worker crash, reset mid-episode, lost message)"""

    @property
    def rejected(self) -> int:
        """Messages that completed no transition although they were not an episode's first."""
        return sum(self.counts[v] for v in (Verdict.GAP, Verdict.DUPLICATE, Verdict.STALE, Verdict.ABORTED))

    def last(self, worker: object) -> StepMessage | None:
        """Newest accepted message of a worker (None before the first one)."""
        track = self._tracks.get(worker)
        return track.last if track else None

    def set_floor(self, worker: object, key: tuple[int, int, int]) -> None:
        """Treat messages of `worker` up to `key` (same session) as already seen.

        Used when an agent resumes from a checkpoint: the workers' transient-local history replays
        messages whose transitions the checkpoint's buffer may already hold.
        """
        self._floors[worker] = key

    def push(self, worker: object, msg: StepMessage) -> tuple[Verdict, WorkerTransition | None]:
        """Accept a message; returns the verdict and the transition it completes, if any."""
        verdict, transition = self._classify(worker, msg)
        self.counts[verdict] += 1
        return verdict, transition

    def _classify(self, worker: object, msg: StepMessage) -> tuple[Verdict, WorkerTransition | None]:
        floor = self._floors.get(worker)
        if floor is not None and msg.session == floor[0] and (msg.episode, msg.step) <= floor[1:]:
            return Verdict.DUPLICATE, None
        track = self._tracks.get(worker)
        if track is None:
            self._tracks[worker] = _WorkerTrack(last=msg)
            return Verdict.EPISODE_START, None
        last = track.last
        if msg.session != last.session:
            if msg.session in track.retired_sessions:
                return Verdict.STALE, None
            track.retired_sessions.add(last.session)
            self.abandoned += 0 if last.done else 1
            track.last = msg
            return Verdict.EPISODE_START, None
        if msg.episode < last.episode:
            return Verdict.STALE, None
        if msg.episode > last.episode:
            self.abandoned += 0 if last.done else 1
            track.last = msg
            return Verdict.EPISODE_START, None
        if msg.step <= last.step or last.done:
            return Verdict.DUPLICATE, None
        track.last = msg
        if msg.step != last.step + 1:
            return Verdict.GAP, None
        if msg.aborted:  # its observation is of the reset scene: pairing it would teach a teleport
            return Verdict.ABORTED, None
        transition = WorkerTransition(
            obs=last.observation,
            action=msg.action,
            reward=msg.reward,
            next_obs=msg.observation,
            terminated=msg.terminated,
        )
        return Verdict.TRANSITION, transition
