"""The Sawyer grasp task as a Gymnasium environment.

This is the one place that registers `sac_grasp_ros/SawyerGrasp-v0`; `import sac_grasp_ros` runs it.
Registration is by entry-point string, so MuJoCo loads only when the env is made (the env truncates
itself, so no TimeLimit wrapper is added).
"""

from __future__ import annotations

import gymnasium as gym

from sac_grasp_ros.envs.config import GraspEnvConfig

ENV_ID = "sac_grasp_ros/SawyerGrasp-v0"

__all__ = ["ENV_ID", "GraspEnv", "GraspEnvConfig"]

if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="sac_grasp_ros.envs.grasp_env:GraspEnv")


def __getattr__(name: str):  # GraspEnv imports MuJoCo: load it only when asked for
    if name == "GraspEnv":
        from sac_grasp_ros.envs.grasp_env import GraspEnv

        return GraspEnv
    raise AttributeError(name)
