"""The audit log of a simulator worker: every step message it published, in the protocol's layout.

Two copies. `<path>.stream` gets each row as it is published (raw float64, one protocol row after the
other, appended across process starts) and is flushed at once, so it is in the page cache and
survives a SIGKILL of the process; `<path>` is written at close as a `.npy` array of this process's
rows (an atomic write, so a reader never sees half a file). Tests compare both with what the agent
stored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sac_grasp_ros.atomic import atomic_path


class StepLog:
    """Records the step rows of one worker process (see the module docstring)."""

    def __init__(self, path: str | Path, row_size: int) -> None:
        """`row_size`: values per row (protocol header + action + observation)."""
        self.path, self.row_size = Path(path), row_size
        self.rows: list[list[float]] = []
        self._stream = open(f"{self.path}.stream", "ab")  # noqa: SIM115 (open for the process's lifetime)

    def append(self, values: list[float]) -> None:
        if len(values) != self.row_size:
            raise ValueError(f"a step row has {self.row_size} values, got {len(values)}")
        self.rows.append(values)
        self._stream.write(np.asarray(values, dtype=np.float64).tobytes())
        self._stream.flush()  # in the page cache: kept even if this process is SIGKILLed

    def close(self) -> None:
        """Close the stream and write the `.npy` array (shape (0, row_size) when nothing was logged)."""
        if self._stream.closed:
            return
        self._stream.close()
        rows = np.asarray(self.rows, dtype=np.float64).reshape(len(self.rows), self.row_size)
        with atomic_path(self.path) as temporary, open(temporary, "wb") as file:
            np.save(file, rows)
