"""Shared pieces of the reliability and fuzz tests: worker audit streams, replay-buffer checks, figures.

Worker-side truth comes from the simulator node's `<record_steps>.stream`: every step message it
published, appended as it was published, so it survives a SIGKILL and every restart of a worker
appends its own session. A stored transition is legitimate only if it is two consecutive steps of
one (session, episode) of one worker and the second step is not an aborted (diverged) one.

Figures (kills survived, transitions rejected, fuzz cases tried) are printed and, when the
environment variable SAC_GRASP_RELIABILITY_OUT names a directory, written there as JSON for
scripts/reliability_report.py.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sac_grasp_ros.graph import protocol

ACT, OBS = 7, 17
ROW = protocol.HEADER_SIZE + ACT + OBS


def record_figures(name: str, **figures: Any) -> None:
    """Print the figures of one test and keep them for the reliability report."""
    print(f"[reliability] {name}: {json.dumps(figures)}")
    out = os.environ.get("SAC_GRASP_RELIABILITY_OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / f"{name}.json").write_text(json.dumps(figures, indent=2))


def read_stream(path: Path) -> list[protocol.StepMessage]:
    """Every step message a worker published (all its process starts), in publishing order."""
    if not path.exists():
        return []
    raw = np.frombuffer(path.read_bytes(), dtype=np.float64)
    rows = raw[: raw.size - raw.size % ROW].reshape(-1, ROW)  # a SIGKILL may cut the last row short
    return [protocol.decode(row, ACT, OBS) for row in rows]


def transition_key(obs: Any, action: Any, reward: Any, next_obs: Any, terminated: Any) -> bytes:
    parts = [
        np.asarray(obs, np.float32),
        np.asarray(action, np.float32),
        np.float32([reward]),
        np.asarray(next_obs, np.float32),
        np.bool_([terminated]),
    ]
    return b"".join(part.tobytes() for part in parts)


def legitimate_transitions(steps: list[protocol.StepMessage]) -> dict[bytes, tuple[int, int]]:
    """Transitions a worker really produced -> (session, episode) they belong to."""
    rows: dict[bytes, tuple[int, int]] = {}
    for previous, current in itertools.pairwise(steps):
        same_episode = (previous.session, previous.episode) == (current.session, current.episode)
        if same_episode and current.step == previous.step + 1 and not current.aborted:
            key = transition_key(
                previous.observation, current.action, current.reward, current.observation, current.terminated
            )
            rows[key] = (current.session, current.episode)
    return rows


def stored_transitions(buffer_file: Path) -> list[bytes]:
    with np.load(buffer_file, allow_pickle=False) as data:
        return [
            transition_key(o, a, r, n, t)
            for o, a, r, n, t in zip(
                data["obs"],
                data["actions"],
                data["rewards"],
                data["next_obs"],
                data["terminated"],
                strict=True,
            )
        ]


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, spin: Callable[[], None] | None = None
) -> None:
    """Poll `condition` (spinning a client in between when given) until it holds or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        if spin is not None:
            spin()
        else:
            time.sleep(0.1)


def small_agent(**overrides: Any) -> dict[str, Any]:
    """Agent parameters small enough for a 2-core CI machine (tiny networks, early learning)."""
    params: dict[str, Any] = {
        "progress_every": 50,
        "seed": 3,
        "stall_timeout": 3.0,
        "sac": {
            "hidden_size": 32,
            "batch_size": 32,
            "learning_starts": 64,
            "utd_ratio": 0.25,
            "buffer_capacity": 20000,
            "device": "cpu",
            "torch_threads": 1,
        },
    }
    params.update(overrides)
    return params


def sim_parameters(**overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "random_target": True,
        "max_episode_steps": 20,
        "reward": "shaped",
        "step_mode": "lockstep",
        "markers_every": 0,
        "joint_states_every": 0,
    }
    params.update(overrides)
    return params


def set_parameters(client: Any, node: str, **values: Any) -> list[Any]:
    """Set parameters through the node's standard SetParameters service; returns the per-parameter results."""
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter

    request = SetParameters.Request(
        parameters=[Parameter(k, value=v).to_parameter_msg() for k, v in values.items()]
    )
    return client.call(SetParameters, f"{node}/set_parameters", request).results


def children(pid: int) -> list[int]:
    """The direct children of `pid` (Linux /proc)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def gone(pid: int) -> bool:
    """`pid` has exited: no such process, or a zombie waiting for its parent (init) to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True
