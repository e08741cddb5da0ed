"""Typed configuration of the grasp environment, shared by the env, the ROS simulator node and the CLI,
and the `env.yaml` a trained policy carries (what it was trained on)."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from sac_grasp_ros.envs.randomization import DomainRandomization
from sac_grasp_ros.scene import BACKENDS, Backend
from sac_grasp_ros.scene.base import BlockProperties, ServoProperties

ControlMode = Literal["joint_velocity", "end_position"]
"""GraspEnvConfig.control_mode values"""
ObservationMode = Literal["original", "extended", "symmetric"]
"""GraspEnvConfig.observation values (the layouts of `observation.OBSERVATION_SIZES`)"""
RewardMode = Literal["original", "shaped"]
"""GraspEnvConfig.reward values"""
CONTROL_MODES: tuple[str, ...] = typing.get_args(ControlMode)
OBSERVATIONS: tuple[str, ...] = typing.get_args(ObservationMode)
REWARDS: tuple[str, ...] = typing.get_args(RewardMode)
MAX_TARGET_YAW_RANGE = 45.0
"""Degrees: [-45, 45] already holds every yaw of the cube (it looks the same every quarter turn)."""
FLOAT_FIELDS = (
    "max_joint_velocity",
    "control_period",
    "end_position_scale",
    "lift_height",
    "target_yaw_range",
    "block_mass",
    "block_edge",
    "block_friction",
    "servo_gain_scale",
    "servo_damping_scale",
)
"""Fields YAML and ROS may give as ints (1 for 1.0)."""
ENV_CONFIG_FILE = "env.yaml"
"""Beside a policy checkpoint: the GraspEnvConfig it was trained with (observation mode, velocity scale)."""
POLICY_TASK_FIELDS = (
    "control_mode",
    "max_joint_velocity",
    "control_period",
    "observation",
    "reward",
    "max_episode_steps",
)
"""Fields that define what a trained policy sees and commands: a simulator evaluating it must match them."""


@dataclass
class GraspEnvConfig:
    """Settings of `GraspEnv`. Defaults reproduce the original task except the episode length."""

    backend: Backend = "mujoco"
    """Simulator: "mujoco" (default, bundled) or "pyrep" (needs CoppeliaSim and stepjam's PyRep)."""
    control_mode: ControlMode = "joint_velocity"
    """"joint_velocity": 7 joint velocities; "end_position": (dx, dy, dz, dyaw) of the tool via IK."""
    random_target: bool = False
    """Place the block uniformly in the workspace box at each reset (else at its initial pose)."""
    target_yaw_range: float = 0.0
    """Degrees: with `random_target`, the block's yaw is drawn uniformly in [-range, +range] at each
    reset (after its position, from the env's seeded generator). 0 (default) keeps the original task's
    yaw 0; 45 covers every pose of the cube, which looks the same every quarter turn. Also makes the
    reward's orientation term quarter-turn symmetric (see GraspEnv)."""
    max_episode_steps: int = 100
    """Steps before truncation. 100 steps = 5 s. Measured with the scripted controller (joint speeds
    capped at 1 rad/s): 25-36 steps to a grasp at random targets, 41 at the farthest corner (0.80, -0.30),
    so the original's 30 would cut off part of the workspace; 100 leaves a learner 2.4x that time."""
    max_joint_velocity: float = 1.0
    """Action scale (rad/s): action 1.0 commands this joint velocity."""
    control_period: float = 0.05
    """Simulated seconds per env step (a multiple of the 2 ms physics step)."""
    observation: ObservationMode = "original"
    """"original": 17 values (joint positions, joint velocities, target xyz); "extended": 29 values
    (adds tool xyz, tool-to-pregrasp and tool-to-block vectors, finger opening, block yaw sin/cos);
    "symmetric": 30 values, the extended ones with the block yaw as sin/cos of 4 x yaw (the cube's
    quarter-turn symmetry) plus the angle from the fingers' closing axis to the nearest face normal."""
    reward: RewardMode = "original"
    """"original": the original's reward terms; "shaped": those plus an approach term towards the grasp
    point and a stricter grasp gate (see GraspEnv)."""
    end_position_scale: float = 0.1
    """end_position mode: metres (and radians of yaw) commanded by an action of 1.0."""
    lift_height: float = 0.04
    """Metres the hand rises during a grasp attempt to check the block is really held."""
    block_mass: float = 0.05
    """kg of the block. With `block_friction` it must satisfy 2 * friction * 20 N >= mass * g (the
    pads' friction carries the weight); the scripted grasper holds 20 g - 1 kg (README's table)."""
    block_edge: float = 0.04
    """m, edge of the cubic block, in [0.02, 0.05]: the open pads are 6 cm apart, and under 2 cm the
    fingertips would reach the table."""
    block_friction: float = 1.5
    """Friction coefficient between the finger pads and the block, in (0, 2]."""
    servo_gain_scale: float = 1.0
    """Multiplies the stiffness of the arm's joint-velocity servos (1: the nominal Sawyer model)."""
    servo_damping_scale: float = 1.0
    """Multiplies the damping of the arm's servos and joints (1: the nominal Sawyer model)."""
    randomization: DomainRandomization = field(default_factory=DomainRandomization)
    """Per-episode ranges of the block, the servos, command latency, the reported block pose, the
    start posture and joint sensor noise (`envs.randomization`), around the settings above; all off by
    default. Drawn from a stream split off the env's seeded generator (a seed's placements stay the
    same with randomization on or off)."""
    seed: int | None = None
    """Seed used by the first reset when reset() gets none."""

    def __post_init__(self) -> None:
        if isinstance(self.randomization, dict):  # YAML, ROS parameters
            self.randomization = DomainRandomization.from_dict(self.randomization)
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first bad field."""
        choices = {
            "backend": BACKENDS,
            "control_mode": CONTROL_MODES,
            "observation": OBSERVATIONS,
            "reward": REWARDS,
        }
        for name, allowed in choices.items():
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(f"GraspEnvConfig.{name} must be one of {allowed}, got {value!r}")
        if (
            isinstance(self.max_episode_steps, bool)
            or not isinstance(self.max_episode_steps, int)
            or self.max_episode_steps < 1
        ):
            raise ValueError(
                f"GraspEnvConfig.max_episode_steps must be an int >= 1, got {self.max_episode_steps!r}"
            )
        for name in ("max_joint_velocity", "control_period", "end_position_scale", "lift_height"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"GraspEnvConfig.{name} must be a positive number, got {value!r}")
        yaw_range = self.target_yaw_range
        if (
            isinstance(yaw_range, bool)
            or not isinstance(yaw_range, int | float)
            or not 0.0 <= yaw_range <= MAX_TARGET_YAW_RANGE
        ):
            raise ValueError(
                f"GraspEnvConfig.target_yaw_range must be a number of degrees in "
                f"[0, {MAX_TARGET_YAW_RANGE:g}] (the cube repeats every 90 degrees), got {yaw_range!r}"
            )
        for prefix, properties in (("block_", self.block_properties()), ("servo_", self.servo_properties())):
            try:
                properties.check()
            except ValueError as error:
                raise ValueError(f"GraspEnvConfig {prefix}* settings: {error}") from None
        if not isinstance(self.randomization, DomainRandomization):
            raise ValueError(
                f"GraspEnvConfig.randomization must be a mapping of ranges, got {self.randomization!r}"
            )
        self.randomization.check_holdable(self.block_properties())
        if self.backend != "mujoco" and (
            self.block_properties() != BlockProperties()
            or self.servo_properties() != ServoProperties()
            or self.randomization.active
        ):
            raise ValueError(
                f"GraspEnvConfig: the {self.backend} backend's block and servos come from its scene file; "
                f"block_*, servo_* and randomization settings need the mujoco backend"
            )
        if not isinstance(self.random_target, bool):
            raise ValueError(f"GraspEnvConfig.random_target must be a bool, got {self.random_target!r}")
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0
        ):
            raise ValueError(f"GraspEnvConfig.seed must be an int >= 0 or None, got {self.seed!r}")

    def block_properties(self) -> BlockProperties:
        return BlockProperties(mass=self.block_mass, edge=self.block_edge, friction=self.block_friction)

    def servo_properties(self) -> ServoProperties:
        return ServoProperties(gain=self.servo_gain_scale, damping=self.servo_damping_scale)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GraspEnvConfig:
        """Build from a mapping (YAML, ROS parameters); unknown keys and bad values raise ValueError."""
        if not isinstance(values, dict):
            raise ValueError(f"GraspEnvConfig needs a mapping, got {type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown GraspEnvConfig key(s) {unknown}; known keys: {sorted(known)}")
        coerced = dict(values)
        # YAML/ROS give ints for floats (e.g. 1 for 1.0): accept them.
        for name in FLOAT_FIELDS:
            if name in coerced and isinstance(coerced[name], int) and not isinstance(coerced[name], bool):
                coerced[name] = float(coerced[name])
        return cls(**coerced)

    @classmethod
    def from_node_parameters(cls, parameters: dict[str, Any] | None) -> GraspEnvConfig:
        """Build from a sim_node parameter block: its node-only keys (step mode, watchdog, ...) are
        ignored, the env's own are validated. The one place that tells the two kinds of keys apart."""
        if parameters is None:
            return cls()
        if not isinstance(parameters, dict):
            raise ValueError(f"GraspEnvConfig needs a mapping, got {type(parameters).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls.from_dict({key: value for key, value in parameters.items() if key in known})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def read_env_config(path: Path | None, policy_dir: Path) -> GraspEnvConfig:
    """The env settings of a trained policy: an explicit file, else `env.yaml` beside it, else defaults.

    Accepts a flat GraspEnvConfig mapping or a graph config (`sim_node: ros__parameters: ...`), whose
    node-only keys (step mode, watchdog, ...) are ignored.
    """
    source = path if path is not None else policy_dir / ENV_CONFIG_FILE
    if not source.is_file():
        if path is not None:
            raise FileNotFoundError(f"env config not found: {path}")
        return GraspEnvConfig()
    try:
        values = yaml.safe_load(source.read_text())
    except yaml.YAMLError as error:
        raise ValueError(f"{source}: not valid YAML ({error})") from error
    if isinstance(values, dict) and "sim_node" in values:
        values = (values["sim_node"] or {}).get("ros__parameters", {})
    if not isinstance(values, dict):
        raise ValueError(f"{source}: expected a mapping of GraspEnvConfig fields")
    try:
        return GraspEnvConfig.from_node_parameters(values)
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from error


def policy_env_settings(policy: str | Path) -> dict[str, Any]:
    """The task settings a trained policy carries in `env.yaml` (observation mode, reward, velocity
    scale, ...), applied to the simulator so it produces the observations the policy was trained on.
    Backend, seed and target placement stay the user's; a policy without env.yaml gives {}."""
    policy = Path(policy)
    directory = policy if policy.is_dir() else policy.parent
    if not (directory / ENV_CONFIG_FILE).is_file():
        return {}
    settings = read_env_config(directory / ENV_CONFIG_FILE, directory).to_dict()
    return {key: settings[key] for key in POLICY_TASK_FIELDS}
