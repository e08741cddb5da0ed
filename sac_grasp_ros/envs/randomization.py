"""Domain randomization of the grasp env: what a real cell changes from one trial to the next.

`DomainRandomization` holds the ranges (the `randomization` block of `GraspEnvConfig`, env.yaml and the
sim node's `randomization.*` parameters); every range is off by default. `draw` turns it into one
episode's `EpisodePerturbation` from a generator the env splits off its seeded one, so a seed gives the
same placements whether randomization is on or off, and the same perturbations in-process and in the
ROS graph (the sim node steps the same env). `CommandDelay` delays joint commands by whole physics
steps; `SensorNoise` perturbs what the observation reports of the joints and the block.

Scales (mass, servo gain and damping) are drawn log-uniformly, so x[0.4, 4] is as likely above 1 as
below; every other range is drawn uniformly, latency as an integer of physics steps.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from sac_grasp_ros.scene.base import (
    MAX_BLOCK_EDGE,
    MIN_BLOCK_EDGE,
    BlockProperties,
    GraspScene,
    ServoProperties,
)

MAX_LATENCY_STEPS = 250
"""Physics steps (2 ms each): half a second of command delay is already far beyond any real driver."""
MAX_YAW_BIAS = 45.0
"""Degrees: a bias beyond the cube's quarter-turn symmetry would be another face."""

SCALE_RANGES = ("block_mass_scale", "servo_gain_scale", "servo_damping_scale")
"""Factors of the env's nominal settings, drawn log-uniformly."""
ABSOLUTE_RANGES = ("block_edge", "block_friction")
"""Absolute values replacing the env's setting when given; empty: the env's fixed value."""
OFFSET_RANGES = ("pose_bias_position", "pose_bias_yaw", "start_posture")
"""Offsets drawn uniformly per episode (per axis, per joint)."""
NOISE_LEVELS = ("pose_noise_position", "pose_noise_yaw", "joint_position_noise", "joint_velocity_noise")
"""Standard deviations of per-step Gaussian noise."""


@dataclass
class DomainRandomization:
    """Per-episode ranges of the scene's physics and of the sensors; `[low, high]` pairs, off by default.

    Set in YAML as a mapping under `randomization:` (env.yaml, `sim_node: ros__parameters:`), or as
    `randomization.<field>` ROS parameters.
    """

    block_mass_scale: list[float] = field(default_factory=lambda: [1.0, 1.0])
    """[low, high] factor of `block_mass`, drawn log-uniformly per episode (e.g. [0.4, 4])."""
    block_edge: list[float] = field(default_factory=list)
    """m, [low, high] block edge drawn uniformly per episode within [0.02, 0.05] (the open pads are 6 cm
    apart); empty (default): `block_edge`."""
    block_friction: list[float] = field(default_factory=list)
    """[low, high] pad-block friction drawn uniformly per episode, within (0, 2]; empty (default):
    `block_friction`. The heaviest block at the lowest friction must still be holdable."""
    servo_gain_scale: list[float] = field(default_factory=lambda: [1.0, 1.0])
    """[low, high] factor of `servo_gain_scale` (the arm servos' stiffness), drawn log-uniformly."""
    servo_damping_scale: list[float] = field(default_factory=lambda: [1.0, 1.0])
    """[low, high] factor of `servo_damping_scale` (servo and joint damping), drawn log-uniformly."""
    latency_steps: list[int] = field(default_factory=lambda: [0, 0])
    """[low, high] physics steps (2 ms each) between a command's arrival and the servos acting on it,
    an integer drawn uniformly per episode, up to 250; within the control period (25 steps at 50 ms)
    the previous command acts for the first steps of the period, beyond it commands queue up."""
    pose_bias_position: list[float] = field(default_factory=lambda: [0.0, 0.0])
    """m, [low, high]: per episode, each axis of the block position the observation reports is offset
    by a value drawn uniformly in this range (a camera's calibration error)."""
    pose_bias_yaw: list[float] = field(default_factory=lambda: [0.0, 0.0])
    """Degrees, [low, high]: per-episode offset of the block yaw the observation reports, within
    [-45, 45]."""
    pose_noise_position: float = 0.0
    """m, standard deviation of Gaussian noise added to each axis of the reported block position at
    every step."""
    pose_noise_yaw: float = 0.0
    """Degrees, standard deviation of Gaussian noise added to the reported block yaw at every step."""
    start_posture: list[float] = field(default_factory=lambda: [0.0, 0.0])
    """rad, [low, high]: each joint starts at the home posture plus an offset drawn uniformly in this
    range (per joint, per episode)."""
    joint_position_noise: float = 0.0
    """rad, standard deviation of Gaussian noise on the reported joint positions, every step."""
    joint_velocity_noise: float = 0.0
    """rad/s, standard deviation of Gaussian noise on the reported joint velocities, every step."""

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> DomainRandomization:
        """Build from a mapping (YAML, ROS parameters); unknown keys and bad values raise ValueError."""
        if values is None:
            return cls()
        if isinstance(values, DomainRandomization):
            return values
        if not isinstance(values, dict):
            raise ValueError(f"randomization needs a mapping of ranges, got {type(values).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown randomization key(s) {unknown}; known keys: {sorted(known)}")
        coerced: dict[str, Any] = {}
        for name, value in values.items():
            if isinstance(value, tuple):
                value = list(value)
            if name in NOISE_LEVELS and type(value) is int:
                value = float(value)
            elif isinstance(value, list) and name != "latency_steps":
                value = [float(v) if type(v) is int else v for v in value]
            coerced[name] = value
        return cls(**coerced)

    def validate(self) -> None:
        """Raise ValueError naming the first bad range."""
        for name in SCALE_RANGES + OFFSET_RANGES + ABSOLUTE_RANGES:
            low_high = self._range(name, allow_empty=name in ABSOLUTE_RANGES)
            if low_high and name in SCALE_RANGES and not low_high[0] > 0.0:
                raise ValueError(f"randomization.{name} must be positive factors, got {getattr(self, name)}")
        if self.block_edge:
            low, high = self.block_edge
            if low < MIN_BLOCK_EDGE or high > MAX_BLOCK_EDGE:
                raise ValueError(
                    f"randomization.block_edge {self.block_edge} m must lie within "
                    f"[{MIN_BLOCK_EDGE:g}, {MAX_BLOCK_EDGE:g}] m (the gripper's stroke and the table)"
                )
        if self.block_friction and not (self.block_friction[0] > 0.0 and self.block_friction[1] <= 2.0):
            raise ValueError(f"randomization.block_friction {self.block_friction} must lie within (0, 2]")
        if max(abs(v) for v in self.pose_bias_yaw) > MAX_YAW_BIAS:
            raise ValueError(
                f"randomization.pose_bias_yaw {self.pose_bias_yaw} must lie within "
                f"[-{MAX_YAW_BIAS:g}, {MAX_YAW_BIAS:g}] degrees"
            )
        latency = self.latency_steps
        if (
            not isinstance(latency, list)
            or len(latency) != 2
            or any(isinstance(v, bool) or not isinstance(v, int) for v in latency)
            or not 0 <= latency[0] <= latency[1] <= MAX_LATENCY_STEPS
        ):
            raise ValueError(
                f"randomization.latency_steps must be [low, high] integers with 0 <= low <= high <= "
                f"{MAX_LATENCY_STEPS} (physics steps of 2 ms), got {latency!r}"
            )
        for name in NOISE_LEVELS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value < math.inf:
                raise ValueError(f"randomization.{name} must be a finite number >= 0, got {value!r}")

    def _range(self, name: str, allow_empty: bool) -> list[float]:
        value = getattr(self, name)
        if allow_empty and isinstance(value, list) and not value:
            return value
        if (
            not isinstance(value, list)
            or len(value) != 2
            or any(
                isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) for v in value
            )
            or value[0] > value[1]
        ):
            empty = " or empty" if allow_empty else ""
            raise ValueError(
                f"randomization.{name} must be [low, high] finite numbers with low <= high{empty}, "
                f"got {value!r}"
            )
        return value

    def check_holdable(self, block: BlockProperties) -> None:
        """Raise ValueError when the heaviest block at the lowest friction of these ranges around
        `block` could not be held: every drawn block must be physically graspable."""
        edges = self.block_edge or [block.edge]
        frictions = self.block_friction or [block.friction]
        heaviest = BlockProperties(
            mass=block.mass * self.block_mass_scale[1], edge=max(edges), friction=min(frictions)
        )
        try:
            heaviest.check()
        except ValueError as error:
            raise ValueError(f"randomization: the heaviest, most slippery block drawn: {error}") from None

    @property
    def active(self) -> bool:
        """Whether any range perturbs anything (the env then draws a perturbation per episode)."""
        return self != DomainRandomization()

    @property
    def changes_physics(self) -> bool:
        """Whether the block or the servos differ per episode (the scene is then reconfigured)."""
        nominal = DomainRandomization()
        return any(getattr(self, name) != getattr(nominal, name) for name in SCALE_RANGES + ABSOLUTE_RANGES)

    def draw(
        self, rng: np.random.Generator, block: BlockProperties, servos: ServoProperties
    ) -> EpisodePerturbation:
        """One episode's perturbation around the nominal `block` and `servos`, in a fixed order of
        draws (so adding a range later does not reshuffle the others)."""

        def log_uniform(low_high: list[float]) -> float:
            low, high = low_high
            return low if low == high else float(math.exp(rng.uniform(math.log(low), math.log(high))))

        def uniform(low_high: list[float], default: float) -> float:
            if not low_high:
                return default
            low, high = low_high
            return low if low == high else float(rng.uniform(low, high))

        drawn_block = BlockProperties(
            mass=block.mass * log_uniform(self.block_mass_scale),
            edge=uniform(self.block_edge, block.edge),
            friction=uniform(self.block_friction, block.friction),
        )
        drawn_servos = ServoProperties(
            gain=servos.gain * log_uniform(self.servo_gain_scale),
            damping=servos.damping * log_uniform(self.servo_damping_scale),
        )
        low, high = self.latency_steps
        latency = low if low == high else int(rng.integers(low, high + 1))
        return EpisodePerturbation(
            block=drawn_block,
            servos=drawn_servos,
            latency_steps=latency,
            pose_bias=np.array([uniform(self.pose_bias_position, 0.0) for _ in range(3)]),
            yaw_bias=math.radians(uniform(self.pose_bias_yaw, 0.0)),
            start_offset=np.array([uniform(self.start_posture, 0.0) for _ in range(7)]),
        )


@dataclass(frozen=True)
class EpisodePerturbation:
    """What one episode's draw fixed: the block and servos simulated, the command latency (physics
    steps), the bias of the reported block pose (m, rad) and the start posture's offset (rad)."""

    block: BlockProperties
    servos: ServoProperties
    latency_steps: int = 0
    pose_bias: np.ndarray = field(default_factory=lambda: np.zeros(3))
    yaw_bias: float = 0.0
    start_offset: np.ndarray = field(default_factory=lambda: np.zeros(7))

    def to_dict(self) -> dict[str, Any]:
        """Plain values for `info["perturbation"]` and logs."""
        return {
            "block_mass": self.block.mass,
            "block_edge": self.block.edge,
            "block_friction": self.block.friction,
            "servo_gain_scale": self.servos.gain,
            "servo_damping_scale": self.servos.damping,
            "latency_steps": self.latency_steps,
            "pose_bias": self.pose_bias.tolist(),
            "yaw_bias_deg": math.degrees(self.yaw_bias),
            "start_offset": self.start_offset.tolist(),
        }


class SensorNoise:
    """What the observation reports of the joints and the block: the truth plus the episode's pose
    bias plus per-step Gaussian noise (all zero when randomization is off)."""

    def __init__(self, randomization: DomainRandomization) -> None:
        self.position_sigma = float(randomization.pose_noise_position)
        self.yaw_sigma = math.radians(float(randomization.pose_noise_yaw))
        self.joint_position_sigma = float(randomization.joint_position_noise)
        self.joint_velocity_sigma = float(randomization.joint_velocity_noise)

    def perceive_pose(
        self, rng: np.random.Generator, xyz: np.ndarray, yaw: float, perturbation: EpisodePerturbation
    ) -> tuple[np.ndarray, float]:
        """The block pose a camera would report: biased for the episode, noisy at every step."""
        seen = xyz + perturbation.pose_bias
        if self.position_sigma > 0.0:
            seen = seen + rng.normal(0.0, self.position_sigma, 3)
        seen_yaw = yaw + perturbation.yaw_bias
        if self.yaw_sigma > 0.0:
            seen_yaw += float(rng.normal(0.0, self.yaw_sigma))
        return seen, seen_yaw

    def perturb_joints(self, rng: np.random.Generator, positions: np.ndarray, velocities: np.ndarray) -> None:
        """Add encoder noise in place (views of the observation)."""
        if self.joint_position_sigma > 0.0:
            positions += rng.normal(0.0, self.joint_position_sigma, positions.shape)
        if self.joint_velocity_sigma > 0.0:
            velocities += rng.normal(0.0, self.joint_velocity_sigma, velocities.shape)


class CommandDelay:
    """Joint commands reach the servos `latency` physics steps after the env receives them, as a real
    arm's driver and network delay them. Until a command arrives its predecessor keeps acting; a reset
    (and a grasp attempt, which takes the arm over) drops the commands still in flight."""

    def __init__(self, period_steps: int) -> None:
        self.period_steps = period_steps
        self.latency = 0
        self._in_flight: deque[tuple[int, np.ndarray]] = deque()
        self._acting = np.zeros(7)
        self._clock = 0

    def reset(self, latency: int) -> None:
        self.latency = latency
        self.clear()

    def clear(self) -> None:
        self._in_flight.clear()
        self._acting = np.zeros(7)
        self._clock = 0

    def step(self, scene: GraspScene, command: np.ndarray) -> None:
        """Send `command` and advance `scene` one control period, switching commands as they arrive."""
        self._in_flight.append((self._clock + self.latency, np.array(command, dtype=float)))
        now, end = self._clock, self._clock + self.period_steps
        while now < end:
            while self._in_flight and self._in_flight[0][0] <= now:
                self._acting = self._in_flight.popleft()[1]
            until = min(end, self._in_flight[0][0]) if self._in_flight else end
            scene.advance(self._acting, until - now)
            now = until
        self._clock = end
