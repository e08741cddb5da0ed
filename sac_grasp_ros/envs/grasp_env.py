"""`GraspEnv`: the Sawyer reach-and-grasp task of the original PyRep program as a Gymnasium environment."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np

from sac_grasp_ros.envs.config import GraspEnvConfig
from sac_grasp_ros.envs.observation import (
    OBSERVATION_SIZES,
    PREGRASP_HEIGHT,
    TOOL_OBSERVATIONS,
    write_tool_features,
)
from sac_grasp_ros.envs.randomization import CommandDelay, EpisodePerturbation, SensorNoise
from sac_grasp_ros.scene import JOINT_NAMES, GraspScene, make_scene
from sac_grasp_ros.scene.base import HOME_POSTURE
from sac_grasp_ros.scene.kinematics import (
    damped_pinv,
    face_yaw_error,
    pointing_down_error,
    tool_heading,
    wrap_angle,
)

GRASP_OFFSET = 0.005
"""Tool point height above the block centre where the pads catch the block's upper half (m)."""
GRASP_GATE_SQUARED = 0.1
"""Original gate: a grasp is attempted when d^2 < 0.1 and the sensor sees the block."""
SHAPED_GRASP_GATE = 0.03
"""Shaped reward: the tool must also be within this distance (m) of the grasp point."""
FALL_DROP = 0.1
ORIENTATION_WEIGHT = 0.02
IK_GAIN = 0.2
IK_MAX_ITERATIONS = 20
IK_TOLERANCE = 0.05
IK_YAW_WEIGHT = 5.0
WORKSPACE_MARGIN = 0.15
WORKSPACE_MARGIN_POS_Y = 0.30
WORKSPACE_MARGIN_BELOW = 0.30
WORKSPACE_MARGIN_ABOVE = 0.45
RENDER_SIZE = (240, 320)
START_POSTURE_MARGIN = 0.002
"""rad kept inside the joint limits by a randomized start posture."""
OBSERVATION_LIMIT = 1e3
"""An observation value beyond this (rad, rad/s, m) can only come from a blown-up simulation."""


class GraspEnv(gym.Env):
    """Reach a block on a table with a Sawyer arm and grasp it with a two-finger gripper.

    ## Description
    A port of the original PyRep/CoppeliaSim grasp environment to MuJoCo (default) with the same
    observation, action and reward semantics. World frame: x forward from the arm base, z up, table top at
    z = 0.8 m. Targets lie in the workspace box x in [0.45, 0.80], y in [-0.30, 0.30] m (the original's box
    moved 0.35 m along x to sit on this table), block centre z = 0.82 m.

    ## Action Space
    `control_mode="joint_velocity"` (default): `Box(-1, 1, (7,), float32)`, target velocities of
    right_j0..right_j6, scaled by `max_joint_velocity` (rad/s) and held for one control period
    (`control_period`, 0.05 s). `control_mode="end_position"`: `Box(-1, 1, (4,), float32)`, a tool move
    (dx, dy, dz, dyaw) scaled by `end_position_scale` (m, rad), followed by an iterative Jacobian IK
    loop (gain 0.2, <= 20 iterations of one control period each, stop at 5 % of the initial error, yaw
    error weighted x5, tool kept pointing down). A move whose goal leaves the workspace box grown by
    0.15 m (0.30 m on +y, 0.30 m below and 0.45 m above) is refused and the arm holds still
    (`info["refused"]`). Actions outside [-1, 1] are clipped (joint velocities by the actuators' control
    range); NaN/inf or a wrong shape raise ValueError before anything moves. The scale is applied
    once, where the command reaches the scene: `step(action)` is `step_command(action *
    max_joint_velocity)`, and `step_command` takes joint velocities in rad/s as they come from a
    velocity controller's topic (the simulator node passes them on as received); `applied_action()`
    is the last command in the action space's units, clipped to [-1, 1].

    ## Observation Space
    `Box(-inf, inf, (17,), (29,) or (30,), float32)`, laid out in `sac_grasp_ros.envs.observation`:

    | index | observation                                            | unit  |
    |-------|--------------------------------------------------------|-------|
    | 0-6   | joint positions right_j0 .. right_j6                   | rad   |
    | 7-13  | joint velocities right_j0 .. right_j6                  | rad/s |
    | 14-16 | block centre x, y, z                                   | m     |
    | extended only:                                                         |
    | 17-19 | tool point (between the fingertips) x, y, z            | m     |
    | 20-22 | pre-grasp point (0.08 m above the block) minus tool    | m     |
    | 23-25 | block centre minus tool point                          | m     |
    | 26    | finger opening (l minus r slide position)              | m     |
    | 27-28 | sin and cos of the block yaw                           | -     |
    | symmetric only (0-26 as extended):                                     |
    | 27-28 | sin and cos of 4 x the block yaw (quarter-turn symmetric) | -  |
    | 29    | fingers' closing axis to the nearest face, [-pi/4, pi/4)| rad  |

    ## Rewards
    Each step, in the original's order (`step` acts and attempts the grasp; `compute_reward()` only
    computes); `info["reward_terms"]` sums to the reward:
    1. NaN guard: if the simulation blew up anywhere in the step (the arm's motion, the end_position IK
       loop, the grasp attempt) or left a non-finite or implausible observation, the scene is reset,
       the episode terminates, reward 0, `info["nan_reset"] = True`; the observation returned is the
       reset scene's, always finite.
    2. `d` = distance from the tool point to the pre-grasp point 0.08 m above the block.
    3. `grasp`: when d^2 < 0.1 and the proximity check (block centre between the open fingers) fires,
       the gripper closes and lifts the hand `lift_height` (0.04 m). If both pads touch the block and it
       rose with the hand: +10, terminated, `info["success"] = True`; else the gripper reopens.
    4. `distance`: -d.
    5. `fall`: if the block dropped more than 0.1 m below its start: -10 and terminated; the original
       overwrites the reward with -10 here, so `grasp` and `distance` are zeroed in that case.
    6. `orientation`: -0.02 * sum |tool euler - [pi, 0, block yaw]|, each difference wrapped to
       [-pi, pi) and the yaw difference to [-pi/2, pi/2) (the two-finger gripper is symmetric under a
       half turn), so equivalent orientations cost the same. With `target_yaw_range` > 0 the yaw
       term is instead |angle from the fingers' closing axis to the nearest face normal| in
       [0, pi/4] (`kinematics.face_yaw_error`): the cube looks the same every quarter turn, and the
       original's `tool yaw - block yaw` has the wrong sign for a tool pointing down (its Euler yaw
       turns about the downward z axis), which only never mattered at yaw 0.
    7. `table`: -1 when the left finger pad touches the table.
    8. A NaN reward becomes 0.
    `reward="shaped"` adds `approach` = -2 * (distance from the tool point to the grasp point 5 mm above
    the block centre), which makes descending from the pre-grasp point pay, and attempts a grasp only
    within 0.03 m of that grasp point (fewer wasted attempts). `reward="original"` is the default.

    ## Starting State
    Arm at the original's home posture [0.0018, -1.4225, 0.7043, 2.5431, 2.9725, -0.4990, 4.1056] rad at
    rest, gripper open, block at (0.60, 0.0, 0.8 + block_edge / 2) with yaw 0, or, with `random_target`,
    uniformly in the workspace box, drawn from `self.np_random`, with yaw 0 or, with `target_yaw_range`
    r > 0 (degrees),
    a yaw drawn uniformly in [-r, r] after the position. `reset(options={"target": xyz, "target_yaw":
    rad})` places the block at a given pose instead (evaluation grids); either key may be given alone
    (the other keeps the initial pose's value).

    ## Episode End
    Terminated on a successful grasp, on a fallen block or after a NaN reset. Truncated after
    `max_episode_steps` steps (default 100 = 5 s; the scripted controller needs at most 41, at the far
    corner of the workspace; the original's 30 would not reach every target).

    ## Arguments
    `GraspEnv(config: GraspEnvConfig | dict | None = None, render_mode: str | None = None, **overrides)`;
    fields of `GraspEnvConfig` may be overridden by keyword. `render_mode="rgb_array"` renders 320x240
    frames from an overview camera (MuJoCo backend).

    ## Version History
    * v0: first port (MuJoCo and PyRep backends, original and extended observations, original and
      shaped rewards, physically checked grasps). Later, with defaults unchanged: `target_yaw_range`
      (rotated blocks), the `symmetric` observation, reset options placing the block; the block's
      mass, edge and friction and the servo scales as settings, on stiffer, coupled finger contacts
      (see `scene/mujoco_model.py`), and the NaN guard over the whole step; domain randomization
      (`randomization`, off by default).

    ## Domain randomization
    `config.randomization` (`envs.randomization.DomainRandomization`) draws, at every reset, the block,
    the servo scales, a command latency, a bias of the reported block pose and a start posture from
    its ranges, and adds per-step noise to the reported block pose and joints. Observations (and
    `observed_target_pose`) report what the sensors see; the reward, the grasp gate and the physics
    use the truth. `info["perturbation"]` of `reset` holds the draw.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}  # noqa: RUF012 (gymnasium convention)

    def __init__(
        self,
        config: GraspEnvConfig | dict[str, Any] | None = None,
        render_mode: str | None = None,
        **overrides: Any,
    ) -> None:
        if config is None:
            config = GraspEnvConfig()
        elif isinstance(config, dict):
            config = GraspEnvConfig.from_dict(config)
        elif not isinstance(config, GraspEnvConfig):
            raise ValueError(f"config must be a GraspEnvConfig, a dict or None, got {type(config).__name__}")
        if overrides:
            config = GraspEnvConfig.from_dict({**config.to_dict(), **overrides})
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        if render_mode is not None and config.backend != "mujoco":
            raise ValueError("render_mode='rgb_array' is only available with the mujoco backend")
        self.config = config
        self.render_mode = render_mode
        self.joint_names: list[str] = list(JOINT_NAMES)

        self.scene: GraspScene = make_scene(config.backend, config.control_period)
        self.scene.launch()
        self.scene.configure(config.block_properties(), config.servo_properties())

        self._end_position = config.control_mode == "end_position"
        act_dim = 4 if self._end_position else 7
        self.action_space = gym.spaces.Box(-1.0, 1.0, (act_dim,), np.float32)
        self._act_shape = (act_dim,)
        self._tool_features = config.observation in TOOL_OBSERVATIONS
        self._symmetric = config.observation == "symmetric"
        obs_dim = OBSERVATION_SIZES[config.observation]
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
        self._obs = np.zeros(obs_dim, dtype=np.float32)
        self._shaped = config.reward == "shaped"
        self._yaw_range = math.radians(float(config.target_yaw_range))
        self._velocity_scale = float(config.max_joint_velocity)
        self._command = np.zeros(7)
        self._action = np.zeros(act_dim)
        self._action_scale = 1.0 if self._end_position else self._velocity_scale
        self.scene.set_velocity_limit(self._velocity_scale)
        low, high = self.scene.workspace_low, self.scene.workspace_high
        self._move_low = np.array(
            [low[0] - WORKSPACE_MARGIN, low[1] - WORKSPACE_MARGIN, low[2] - WORKSPACE_MARGIN_BELOW]
        )
        self._move_high = np.array(
            [high[0] + WORKSPACE_MARGIN, high[1] + WORKSPACE_MARGIN_POS_Y, high[2] + WORKSPACE_MARGIN_ABOVE]
        )
        self._start_target: tuple[np.ndarray, float] = self.scene.initial_target
        self._fall_z = float(self._start_target[0][2]) - FALL_DROP
        self._steps = 0
        self._needs_reset = True
        self._renderer = None
        randomization = config.randomization
        self._randomized = randomization.active
        self._reconfigures = randomization.changes_physics
        self._perturbation = EpisodePerturbation(config.block_properties(), config.servo_properties())
        self._perturb_rng: np.random.Generator | None = None
        self._noise = SensorNoise(randomization)
        self._delay = CommandDelay(self.scene.substeps) if randomization.latency_steps[1] > 0 else None
        self._seen_pose: tuple[np.ndarray, float] = self._start_target
        self._posture_bounds: tuple[np.ndarray, np.ndarray] | None = None
        """Where a randomized start posture may put the joints (inside their limits)."""
        if randomization.start_posture != [0.0, 0.0]:
            low, high = self.scene.joint_limits()
            self._posture_bounds = (low + START_POSTURE_MARGIN, high - START_POSTURE_MARGIN)

    # ----------------------------------------------------------------- gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is None and self._np_random is None and self.config.seed is not None:
            seed = self.config.seed
        super().reset(seed=seed)
        if self._randomized:
            self._draw_perturbation(new_stream=seed is not None)
        if options and ("target" in options or "target_yaw" in options):
            self._start_target = self._placement(options)
        elif self.config.random_target:
            low, high = self.scene.workspace_low, self.scene.workspace_high
            xyz = self.np_random.uniform(low, high)
            yaw = 0.0
            if self._yaw_range > 0.0:  # drawn after the position: the position stream of a seed stays
                yaw = float(self.np_random.uniform(-self._yaw_range, self._yaw_range))
            self._start_target = (xyz, yaw)
        else:
            self._start_target = (self.scene.initial_target[0].copy(), self.scene.initial_target[1])
        self._restart_scene()
        self._fall_z = float(self._start_target[0][2]) - FALL_DROP
        self._steps = 0
        self._needs_reset = False
        obs = self._observe()
        if not self._sane(obs):
            raise RuntimeError(f"the scene's state is not finite right after a reset: {obs.tolist()}")
        info: dict[str, Any] = {"target": self._start_target[0].copy()}
        if self._randomized:
            info["perturbation"] = self._perturbation.to_dict()
        return obs, info

    def _draw_perturbation(self, new_stream: bool) -> None:
        """This episode's randomization, from a stream split off np_random when it is (re)seeded, so
        the placements a seed draws do not depend on what is randomized."""
        if new_stream or self._perturb_rng is None:
            self._perturb_rng = np.random.Generator(self.np_random.bit_generator.jumped())
        config = self.config
        self._perturbation = config.randomization.draw(
            self._perturb_rng, config.block_properties(), config.servo_properties()
        )
        if self._reconfigures:  # the block's resting height follows its edge: before the placement
            self.scene.configure(self._perturbation.block, self._perturbation.servos)

    def _restart_scene(self) -> None:
        """The block at the episode's start pose, the arm at its (perturbed) start posture, nothing in
        flight."""
        self.scene.reset(*self._start_target)
        if self._posture_bounds is not None:  # within the joint limits (right_j4 is 4 mrad off its own)
            self.scene.set_arm_state(
                np.clip(HOME_POSTURE + self._perturbation.start_offset, *self._posture_bounds)
            )
        if self._delay is not None:
            self._delay.reset(self._perturbation.latency_steps)

    def _placement(self, options: dict[str, Any]) -> tuple[np.ndarray, float]:
        """The block pose asked for by reset options; ValueError when it is malformed or off the table."""
        xyz = np.array(options.get("target", self.scene.initial_target[0]), dtype=float)
        if self.config.randomization.block_edge and xyz.shape == (3,):
            xyz[2] = self.scene.initial_target[0][2]  # the drawn block rests at its own height
        yaw = options.get("target_yaw", self.scene.initial_target[1])
        if xyz.shape != (3,) or not np.isfinite(xyz).all():
            raise ValueError(
                f"reset option 'target' must be 3 finite numbers (m), got {options.get('target')!r}"
            )
        if isinstance(yaw, bool) or not isinstance(yaw, int | float) or not math.isfinite(yaw):
            raise ValueError(f"reset option 'target_yaw' must be a finite number (rad), got {yaw!r}")
        low, high = self.scene.workspace_low, self.scene.workspace_high
        if np.any(xyz < low - 1e-9) or np.any(xyz > high + 1e-9):
            raise ValueError(
                f"reset option 'target' {xyz.tolist()} lies outside the workspace box "
                f"{low.tolist()} .. {high.tolist()}"
            )
        return xyz, float(yaw)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        return self._step(self._validate_action(action, self._action_scale))

    def step_command(self, command: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """`step` driven by a command in the scene's units: 7 joint velocities in rad/s, clamped to
        +/- `max_joint_velocity` by the scene (what a ros2_control velocity controller takes), or in
        end_position mode the 4 move values `step` takes. The same checks as `step`."""
        return self._step(self._validate_action(command, 1.0))

    def applied_action(self) -> np.ndarray:
        """The last step's command as an action (float32, within [-1, 1]): the joint velocities over
        `max_joint_velocity`, clipped as the scene clamps them, or the move itself."""
        return np.clip(self._action / self._action_scale, -1.0, 1.0).astype(np.float32)

    def _step(self, command: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._needs_reset:
            raise RuntimeError("call reset() before step()")
        refused = False
        if self._end_position:
            refused = self._move_tool(command)
        else:
            self._drive(command)
        attempted = grasped = fell = False
        nan_reset = self.scene.diverged()
        if not nan_reset:
            approach = self._approach()
            if self._grasp_gate(approach) and self.scene.target_in_sensor():
                attempted = True
                grasped = self.scene.attempt_grasp(self.config.lift_height)
                if self._delay is not None:
                    self._delay.clear()  # the manoeuvre took the arm over: what was in flight is void
                if not grasped and not self.scene.diverged():
                    self.scene.open_gripper()
            nan_reset = self.scene.diverged()
        if not nan_reset:
            fell = self._block_fell()
            reward, terms = self.compute_reward(approach, grasped=grasped and not fell, fell=fell)
            obs = self._observe()
            nan_reset = not self._sane(obs)  # a blow-up the scene did not report: restart all the same
        if nan_reset:  # the original's first reward rule: a blown-up scene restarts, reward 0
            self._restart_scene()
            obs = self._observe()
            reward, terms = 0.0, self._zero_terms()
            fell = grasped = False
        success = grasped and not fell
        terminated = success or fell or nan_reset
        self._steps += 1
        truncated = (not terminated) and self._steps >= self.config.max_episode_steps
        info = {
            "success": success,
            "is_success": success,
            "reward_terms": terms,
            "nan_reset": nan_reset,
            "grasp_attempt": attempted,
        }
        if self._end_position:
            info["refused"] = refused
        return obs, reward, terminated, truncated, info

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        import mujoco

        if self._renderer is None:
            self._renderer = mujoco.Renderer(self.scene.model, *RENDER_SIZE)
        self._renderer.update_scene(self.scene.data, camera="overview")
        return self._renderer.render()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        self.scene.shutdown()
        super().close()

    # ----------------------------------------------------------------- accessors (ROS nodes)
    def joint_positions(self) -> np.ndarray:
        return self.scene.joint_positions()

    def joint_velocities(self) -> np.ndarray:
        return self.scene.joint_velocities()

    def target_pose(self) -> tuple[np.ndarray, float]:
        """The block's true centre and yaw (the simulator's)."""
        return self.scene.target_pose()

    def observed_target_pose(self) -> tuple[np.ndarray, float]:
        """The block pose the last observation reported: the true one unless randomization biases or
        noises it (what a controller that plays fair, and a robot's perception, would see)."""
        if not self._randomized:
            return self.scene.target_pose()
        xyz, yaw = self._seen_pose
        return xyz.copy(), yaw

    def observed_joint_state(self) -> tuple[np.ndarray, np.ndarray]:
        """Joint positions and velocities as the last observation reported them: the true ones unless
        randomization adds sensor noise."""
        if not self._randomized:
            return self.scene.joint_positions(), self.scene.joint_velocities()
        return self._obs[0:7].astype(float), self._obs[7:14].astype(float)

    @property
    def perturbation(self) -> EpisodePerturbation:
        """What this episode's randomization drew (the nominal settings when it is off)."""
        return self._perturbation

    def finger_joint_state(self) -> tuple[list[float], list[float]] | None:
        """(positions, velocities) of the (r, l) finger slide joints; None when the backend has none."""
        return self.scene.finger_joint_state()

    @property
    def episode_steps(self) -> int:
        """Steps taken since the last reset (a controller tells a new episode by 0)."""
        return self._steps

    def pregrasp_point(self) -> np.ndarray:
        xyz, _ = self.scene.target_pose()
        xyz[2] += PREGRASP_HEIGHT
        return xyz

    def grasp_point(self) -> np.ndarray:
        """Where the tool point goes to close the fingers on the block's upper half."""
        xyz, _ = self.scene.target_pose()
        xyz[2] += GRASP_OFFSET
        return xyz

    def gripper_position(self) -> np.ndarray:
        return self.scene.gripper_position()

    # ----------------------------------------------------------------- internals
    def _validate_action(self, action: Any, scale: float) -> np.ndarray:
        """`action` times `scale` in a reused buffer (the hot path allocates nothing): joint velocities
        in rad/s (the backend clamps them to the limit) or, in end_position mode, the move clipped to
        [-1, 1]. Raises ValueError before anything in the scene changes."""
        if type(action) is not np.ndarray:
            try:
                action = np.asarray(action, dtype=np.float64)
            except (TypeError, ValueError) as error:
                raise ValueError(
                    f"action must be numeric with shape {self._act_shape}, got {action!r}"
                ) from error
        if action.shape != self._act_shape:
            raise ValueError(f"action must have shape {self._act_shape}, got shape {action.shape}")
        if action.dtype.kind not in "fiub":
            raise ValueError(f"action must be numeric with shape {self._act_shape}, got dtype {action.dtype}")
        command = self._action
        command[:] = action  # plain assignment: the cheapest cast into the float64 buffer
        if scale != 1.0:
            command *= scale
        # A sum of Python floats is cheaper than isfinite().all(); only a non-finite sum needs the full check.
        if not math.isfinite(sum(command.tolist())) and not np.isfinite(command).all():
            raise ValueError(f"action contains NaN or inf: {np.asarray(action).tolist()}")
        if self._end_position:
            np.clip(command, -1.0, 1.0, out=command)
        return command

    def _move_tool(self, command: np.ndarray) -> bool:
        """end_position mode: servo the tool to the moved pose; returns True when the move was refused.

        Each iteration commands joint velocities J+ e * gain / control_period (clipped to the velocity
        limit) for one control period, like the original's loop: at most 20 iterations, ending once the
        error is below 5 % of the initial one (an absolute 5 cm would make every shorter move a no-op)."""
        scene = self.scene
        scale = self.config.end_position_scale
        goal = scene.gripper_position() + command[:3] * scale
        if np.any(goal < self._move_low) or np.any(goal > self._move_high) or not np.isfinite(goal).all():
            self._command[:] = 0.0
            self._drive(self._command)
            return True
        goal_yaw = float(scene.gripper_euler()[2]) + float(command[3]) * scale
        first_error = None
        for _ in range(IK_MAX_ITERATIONS):
            error, task_jac = pointing_down_error(
                goal - scene.gripper_position(),
                scene.gripper_euler(),
                goal_yaw,
                scene.tool_jacobian(),
                IK_YAW_WEIGHT,
            )
            norm = float(np.linalg.norm(error))
            first_error = norm if first_error is None else first_error
            if norm <= IK_TOLERANCE * first_error or scene.diverged():
                break
            self._drive(damped_pinv(task_jac) @ error * (IK_GAIN / self.config.control_period))
        return False

    def _drive(self, joint_velocities: np.ndarray) -> None:
        """One control period of joint velocity commands, through the episode's latency if any."""
        if self._delay is None:
            self.scene.step(joint_velocities)
        else:
            self._delay.step(self.scene, joint_velocities)

    def _observe(self) -> np.ndarray:
        """The layout of envs.observation: the scene writes the original 17 values, then the extended
        part; with randomization, the block pose and joints as the sensors report them."""
        obs = self._obs
        scene = self.scene
        scene.write_observation(obs)
        if self._randomized:
            rng = self._perturb_rng
            xyz, yaw = self._noise.perceive_pose(rng, *scene.target_pose(), self._perturbation)
            self._seen_pose = (xyz, yaw)
            obs[14:17] = xyz
            self._noise.perturb_joints(rng, obs[0:7], obs[7:14])
        if self._tool_features:
            xyz, yaw = self._seen_pose if self._randomized else scene.target_pose()
            write_tool_features(
                self.config.observation,
                obs,
                xyz,
                scene.gripper_position(),
                scene.gripper_opening(),
                yaw,
                scene.gripper_euler() if self._symmetric else None,  # not on the extended step path
            )
        return obs.copy()

    @staticmethod
    def _sane(obs: np.ndarray) -> bool:
        """Finite and physically plausible (no joint at 1000 rad/s, no block 1000 m away)."""
        squares = float(np.dot(obs, obs))  # one pass: NaN/inf stay NaN/inf, any huge value shows
        return squares < OBSERVATION_LIMIT * OBSERVATION_LIMIT

    def _block_fell(self) -> bool:
        return float(self.scene.target_position()[2]) < self._fall_z

    def _approach(self) -> tuple[float, float]:
        """(d, d_grasp): tool point to the pre-grasp point and to the grasp point (m)."""
        tx, ty, tz = self.scene.gripper_position().tolist()  # Python floats: cheaper than numpy here
        bx, by, bz = self.scene.target_position().tolist()
        dx, dy, dz = tx - bx, ty - by, tz - bz
        d = math.sqrt(dx * dx + dy * dy + (dz - PREGRASP_HEIGHT) ** 2)
        d_grasp = math.sqrt(dx * dx + dy * dy + (dz - GRASP_OFFSET) ** 2)
        return d, d_grasp

    def _grasp_gate(self, approach: tuple[float, float]) -> bool:
        d, d_grasp = approach
        return d * d < GRASP_GATE_SQUARED and (not self._shaped or d_grasp < SHAPED_GRASP_GATE)

    def _zero_terms(self) -> dict[str, float]:
        terms = {"grasp": 0.0, "distance": 0.0, "fall": 0.0, "orientation": 0.0, "table": 0.0}
        if self._shaped:
            terms["approach"] = 0.0
        return terms

    def compute_reward(
        self, approach: tuple[float, float] | None = None, grasped: bool = False, fell: bool | None = None
    ) -> tuple[float, dict[str, float]]:
        """The reward of the current state, without side effects: `approach` = (d, d_grasp) measured
        before this step's grasp attempt (default: now), `grasped` = that attempt held the block, `fell`
        = the block dropped (default: measured now). Returns (reward, reward_terms)."""
        scene = self.scene
        terms = self._zero_terms()
        d, d_grasp = self._approach() if approach is None else approach
        fell = self._block_fell() if fell is None else fell
        if fell:  # the original overwrites the reward with -10 here
            terms["fall"] = -10.0
        else:
            terms["grasp"] = 10.0 if grasped else 0.0
            terms["distance"] = -d
            if self._shaped:
                terms["approach"] = -2.0 * d_grasp
        _, yaw = scene.target_pose()
        euler = scene.gripper_euler()
        roll, pitch, tool_yaw = euler.tolist()
        if self._yaw_range > 0.0:  # the cube's quarter-turn symmetry, the fingers' true heading
            yaw_error = face_yaw_error(tool_heading(euler), yaw)
        else:  # the original's term, kept exactly for the yaw-0 task
            yaw_error = wrap_angle(tool_yaw - yaw, math.pi)
        terms["orientation"] = -ORIENTATION_WEIGHT * (
            abs(wrap_angle(roll - math.pi)) + abs(wrap_angle(pitch)) + abs(yaw_error)
        )
        if scene.left_pad_touches_table():
            terms["table"] = -1.0
        reward = float(sum(terms.values()))
        if not math.isfinite(reward):
            terms = dict.fromkeys(terms, 0.0)
            reward = 0.0
        return reward, terms
