"""Where a run's checkpoints live and what each one holds (no ROS).

`checkpoint_dir` is the run's resume point: learner, replay buffer (save_buffer), counters, learning
curve. Its siblings `best/` and `pretrained/` are policy snapshots without the buffer. Every
checkpoint carries the env settings file as env.yaml. An interrupted save leaves the previous
checkpoint at `.<name>.old`, which loading falls back to (sac.checkpoint).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sac_grasp_ros.sac import SAC, ReplayBuffer, SACConfig, load_checkpoint, save_checkpoint
from sac_grasp_ros.sac.checkpoint import BUFFER_FILE
from sac_grasp_ros.sac.device_buffer import DeviceReplayBuffer
from sac_grasp_ros.training.curve import LearningCurve

BEST_CHECKPOINT = "best"
"""keep_best writes the selected policy to this sibling of checkpoint_dir"""
PRETRAINED_CHECKPOINT = "pretrained"
"""keep_best also writes the policy as the demo stages left it (before any SAC update) to this sibling,
so the RL stage can be measured against its starting point (bench/learning.py --grid-eval)"""
Counters = dict[str, int | float]


@dataclass
class RestoredRun:
    """A checkpoint read back: the learner, a buffer for it (filled when the checkpoint has one), the
    counters and the learning curve."""

    sac: SAC
    config: SACConfig
    dims: tuple[int, int]
    buffer: ReplayBuffer | DeviceReplayBuffer
    buffer_note: str
    counters: Counters
    curve: LearningCurve


class Checkpointer:
    """Writes and reads the checkpoints of one run in the layout the module docstring describes."""

    def __init__(self, checkpoint_dir: str, env_file: str = "") -> None:
        self.checkpoint_dir, self.env_file = checkpoint_dir, env_file

    @property
    def best_dir(self) -> str:
        return str(Path(self.checkpoint_dir).parent / BEST_CHECKPOINT)

    @property
    def pretrained_dir(self) -> str:
        return str(Path(self.checkpoint_dir).parent / PRETRAINED_CHECKPOINT)

    def has_checkpoint(self) -> bool:
        """checkpoint_dir holds a checkpoint, or its `.old` twin does (a save was interrupted)."""
        directory = Path(self.checkpoint_dir)
        return directory.is_dir() or (directory.parent / f".{directory.name}.old").is_dir()

    def save(
        self,
        directory: str,
        sac: SAC,
        buffer: ReplayBuffer | DeviceReplayBuffer | None,
        counters: Counters,
        curve: LearningCurve,
    ) -> tuple[bool, str]:
        """Write a checkpoint (without a buffer when `buffer` is None); the resolved path, or why not."""
        try:
            extra = {"env.yaml": Path(self.env_file).read_bytes()} if self.env_file else None
            path = save_checkpoint(directory, sac, buffer, counters, curve.to_arrays(), extra)
        except (OSError, ValueError, TypeError) as error:
            return False, f"save to {directory} failed: {error}"
        return True, str(Path(path).resolve())

    def load_policy(self, directory: str, device: str, cuda_graph: str) -> SAC:
        """The learner of a checkpoint alone (a policy snapshot). Raises OSError or ValueError."""
        return load_checkpoint(directory, device=device, cuda_graph=cuda_graph).sac

    def load(
        self, directory: str, settings: SACConfig, seed: int, dims: tuple[int, int] | None = None
    ) -> RestoredRun:
        """Learner, buffer, counters and curve of a checkpoint; `settings` gives the runtime choices
        (device, update path), the checkpoint the rest. Raises ValueError when its dims differ from
        `dims`, OSError or ValueError (CheckpointError) when it cannot be read."""
        loaded = load_checkpoint(directory, device=settings.device, cuda_graph=settings.cuda_graph)
        loaded_dims = (loaded.obs_dim, loaded.act_dim)
        if dims is not None and loaded_dims != dims:
            raise ValueError(f"checkpoint has (obs, act) dims {loaded_dims}, the envs {dims}")
        buffer = loaded.sac.make_buffer(loaded.config.buffer_capacity, seed=seed)
        buffer_note = "no buffer"
        if (loaded.path / BUFFER_FILE).exists():  # the directory read: maybe the `.old` twin
            buffer.load(loaded.path / BUFFER_FILE)
            buffer_note = f"buffer of {len(buffer)}"
        curve = LearningCurve.from_arrays(loaded.curve)
        return RestoredRun(
            loaded.sac, loaded.config, loaded_dims, buffer, buffer_note, dict(loaded.counters), curve
        )
