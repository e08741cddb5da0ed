"""Fault injection: make the next physics step of a scene diverge, to test the divergence guard.

Never on a robot: the simulator node offers it only with its `fault_injection` parameter on (for tests
that drive the NaN guard through the real node). Two faults, written into MuJoCo's velocities right
before a step: "nan" (NaN velocities) and "explosion" (velocities past MuJoCo's 1e10 limit, which it
reports as a warning and resets). The env's guard then ends the episode with `info["nan_reset"]`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FAULTS = ("nan", "explosion")


class FaultInjection:
    """Corrupts one scene's physics state before its next step, when armed."""

    def __init__(self, scene: Any) -> None:
        """`scene`: a GraspScene; only the MuJoCo one has the state to corrupt."""
        self.scene = scene
        self.pending: str | None = None

    @property
    def supported(self) -> bool:
        return hasattr(getattr(self.scene, "data", None), "qvel")

    def arm(self, fault: str) -> bool:
        """Corrupt the state before the next step; False (nothing armed) without MuJoCo state."""
        if fault not in FAULTS:
            raise ValueError(f"fault must be one of {FAULTS}, got {fault!r}")
        if not self.supported:
            return False
        self.pending = fault
        return True

    def apply(self) -> str | None:
        """Right before a step: the armed fault, written into the state (None when none is armed)."""
        fault, self.pending = self.pending, None
        if fault is not None:
            qvel = self.scene.data.qvel
            qvel[:] = np.nan if fault == "nan" else 1e12
        return fault
