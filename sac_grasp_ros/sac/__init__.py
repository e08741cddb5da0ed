"""Soft Actor-Critic learner in plain Python/torch (no ROS): networks, losses, replay, demos, checkpoints."""

from sac_grasp_ros.sac.agent import SAC
from sac_grasp_ros.sac.checkpoint import CheckpointError, LoadedCheckpoint, load_checkpoint, save_checkpoint
from sac_grasp_ros.sac.config import SACConfig
from sac_grasp_ros.sac.demos import load_demos, save_demos
from sac_grasp_ros.sac.device_buffer import DeviceReplayBuffer
from sac_grasp_ros.sac.replay import ReplayBatch, ReplayBuffer
from sac_grasp_ros.sac.seeding import resolve_device, seed_everything

__all__ = [
    "SAC",
    "CheckpointError",
    "DeviceReplayBuffer",
    "LoadedCheckpoint",
    "ReplayBatch",
    "ReplayBuffer",
    "SACConfig",
    "load_checkpoint",
    "load_demos",
    "resolve_device",
    "save_checkpoint",
    "save_demos",
    "seed_everything",
]
