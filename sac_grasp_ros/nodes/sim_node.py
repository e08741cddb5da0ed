"""Simulator worker node: wraps one GraspEnv and speaks ros2_control-style joint velocity commands.

Interfaces (relative names, so each worker lives in its own namespace, e.g. /worker_0):
- sub `velocity_controller/commands` (std_msgs/Float64MultiArray): joint velocities in rad/s
  (end_position mode: the env's 4 action values). NaN/inf/wrong length are rejected with a logged
  error and leave the scene unchanged; valid commands are clamped to the velocity limits.
- pub `step` (std_msgs/Float64MultiArray, labelled layout defined in sac_grasp_ros.graph.protocol):
  every step's key, reward, flags, applied action and observation; step 0 after every reset.
- pub `joint_states` (sensor_msgs/JointState) and `markers` (visualization_msgs/MarkerArray,
  every `markers_every` steps) for RViz. joint_states lists right_j0..right_j6, then (MuJoCo)
  r_finger_joint, l_finger_joint; with each one goes `target_pose` (geometry_msgs/PoseStamped,
  block centre and yaw in `frame_id`): what policy_node needs when this node plays the robot.
- srv `reset` (std_srvs/Trigger): starts a new episode; the message is JSON with its
  session/episode key so a caller can tell its messages from earlier ones.

Parameters: every GraspEnvConfig field under its own name (`seed` unset: unseeded) and the
SimNodeSettings below; only RUNTIME_SETTABLE ones change at run time, the others need a restart.

`step_mode`: "lockstep" steps once per received command (training); "realtime" steps every
control_period with the latest command (deployment, robot stand-in). The watchdog zeroes the held
command when none arrived within `watchdog_timeout`.

The optional parts attach only when configured, each a piece of its own: the audit log
(`record_steps`: recording.step_log), episode GIFs (`video_dir`: recording.episode_gifs) and fault
injection (`fault_injection`: scene.faults); joint_states, target_pose and markers are
nodes.sim_topics'.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from rclpy.node import Node
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import Trigger

from sac_grasp_ros.envs.config import GraspEnvConfig
from sac_grasp_ros.graph import protocol
from sac_grasp_ros.nodes.common import (
    COMMAND_QOS,
    COMMAND_TOPIC,
    RESET_SERVICE,
    STEP_QOS,
    STEP_TOPIC,
    StartupError,
    run_node,
    spin_until,
)
from sac_grasp_ros.nodes.params import accept_runtime_changes, declare_dataclass
from sac_grasp_ros.nodes.sim_topics import SceneTopics
from sac_grasp_ros.nodes.step_messages import step_layout, step_message
from sac_grasp_ros.recording.episode_gifs import EpisodeGifs
from sac_grasp_ros.recording.step_log import StepLog
from sac_grasp_ros.scene.faults import FaultInjection


@dataclass
class SimNodeSettings:
    """Node-only parameters (the env's own live in GraspEnvConfig)."""

    step_mode: protocol.StepMode = "lockstep"
    """lockstep: one env step per command (training); realtime: step every control_period"""
    watchdog_timeout: float = 0.5
    """s without a command after which the held command is zeroed (0 disables)"""
    markers_every: int = 10
    """publish the MarkerArray every N steps (0: never)"""
    joint_states_every: int = 1
    """publish joint_states every N steps (0: never)"""
    frame_id: str = "world"
    """frame of the markers (the scene's world frame)"""
    record_steps: str = ""
    """.npy file receiving every published step message (rows in the protocol layout) at shutdown;
    an audit trail of what this worker produced (tests compare it with the agent's replay buffer).
    Rows are also appended, as they are published, to `<record_steps>.stream` (raw float64, one
    protocol row after the other, every process start appending): that copy survives a SIGKILL"""
    video_dir: str = ""
    """directory receiving a GIF of every episode this worker finishes after its first `reset` request
    (an evaluation starts with one; `sac-grasp test --video DIR`); rendered off-screen (MUJOCO_GL=egl
    unless set) as the episode runs, so each step costs a render: for evaluations, not training"""
    fault_injection: bool = False
    """offer ~/inject_nan and ~/inject_explosion (std_srvs/Trigger), which corrupt the physics state
    before the next step, to test the divergence guard through the real node (never on a robot)"""

    def validate(self) -> None:
        if self.step_mode not in protocol.STEP_MODES:
            raise ValueError(f"step_mode must be one of {protocol.STEP_MODES}, got {self.step_mode!r}")
        if not (self.watchdog_timeout >= 0 and math.isfinite(self.watchdog_timeout)):
            raise ValueError(
                f"watchdog_timeout must be a finite number >= 0 s, got {self.watchdog_timeout!r}"
            )
        for name in ("markers_every", "joint_states_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")


RUNTIME_SETTABLE = {"watchdog_timeout", "markers_every", "joint_states_every"}
"""SimNodeSettings fields that take effect at run time; the env's parameters need a restart."""


class SimNode(Node):
    """One simulator worker (see the module docstring)."""

    def __init__(self, **node_options: Any) -> None:
        """`node_options`: rclpy Node options (context, cli_args, ...), e.g. for an in-process test."""
        super().__init__("sim_node", **node_options)
        try:  # every GraspEnvConfig field is a parameter of the same name (seed: unset = unseeded)
            env_values = declare_dataclass(self, GraspEnvConfig)
            self.settings = SimNodeSettings(**declare_dataclass(self, SimNodeSettings))
            self.settings.validate()
            if self.settings.video_dir:  # off-screen rendering; read when mujoco is first imported
                os.environ.setdefault("MUJOCO_GL", "egl")
            self.env_config, self.env = self._make_env(env_values)
        except (ValueError, TypeError) as error:
            raise StartupError(f"{self.get_fully_qualified_name()}: invalid parameters: {error}") from error
        accept_runtime_changes(self, RUNTIME_SETTABLE)

        self.act_dim = int(self.env.action_space.shape[0])
        self.obs_dim = int(self.env.observation_space.shape[0])
        # Bookkeeping ids only (not simulation randomness): a fresh session per process start lets
        # the agent tell a restarted worker's messages from the old ones.
        self.session = int.from_bytes(os.urandom(4), "little") >> 1
        self.episode, self.step_index = -1, 0
        self.episode_return, self.last_success = 0.0, False
        self.held_command = np.zeros(self.act_dim)
        self.last_command_time: float | None = None  # the watchdog arms with the first command
        self.watchdog_tripped = False
        self.rejected_commands = 0
        self.nan_resets = 0
        self.scene = self.env.unwrapped.scene
        self.step_log, self.gifs, self.faults = self._optional_parts()

        self.step_layout = step_layout(self.act_dim, self.obs_dim)
        self.step_pub = self.create_publisher(Float64MultiArray, STEP_TOPIC, STEP_QOS)
        self.topics = SceneTopics(self, self.env)
        self.create_subscription(Float64MultiArray, COMMAND_TOPIC, self._on_command, COMMAND_QOS)
        self.create_service(Trigger, RESET_SERVICE, self._on_reset)
        if self.faults is not None:
            self.create_service(Trigger, "~/inject_nan", partial(self._on_inject, "nan"))
            self.create_service(Trigger, "~/inject_explosion", partial(self._on_inject, "explosion"))
        if self.settings.step_mode == "realtime":
            self.create_timer(float(self.env_config.control_period), self._on_control_tick)
        elif self.settings.watchdog_timeout > 0:
            self.create_timer(self.settings.watchdog_timeout / 2, self._check_watchdog)
        self._reset_episode()
        self.get_logger().info(
            f"ready: {self.settings.step_mode} mode, obs_dim={self.obs_dim}, act_dim={self.act_dim}, "
            f"session={self.session}"
        )

    def _optional_parts(self) -> tuple[StepLog | None, EpisodeGifs | None, FaultInjection | None]:
        """The audit log, the episode GIFs and fault injection, each only when its parameter asks."""
        settings, step_log, gifs, faults = self.settings, None, None, None
        if settings.record_steps:
            step_log = StepLog(settings.record_steps, protocol.HEADER_SIZE + self.act_dim + self.obs_dim)
        if settings.video_dir:
            worker = self.get_namespace().strip("/") or "sim"
            fps = 1.0 / float(self.env_config.control_period)
            gifs = EpisodeGifs(self.scene.model, settings.video_dir, fps, worker, self.get_logger())
        if settings.fault_injection:
            faults = FaultInjection(self.scene)
        return step_log, gifs, faults

    @staticmethod
    def _make_env(config_values: dict[str, Any]) -> tuple[GraspEnvConfig, Any]:
        from sac_grasp_ros.envs.grasp_env import GraspEnv  # MuJoCo: loaded once the parameters are valid

        config = GraspEnvConfig.from_dict(config_values)
        return config, GraspEnv(config=config)

    # -- commands and stepping -------------------------------------------------------------------
    def _on_command(self, msg: Float64MultiArray) -> None:
        command = np.asarray(msg.data, dtype=np.float64)
        if command.shape != (self.act_dim,):
            self._reject(f"command has {command.size} values, expected {self.act_dim} (one per joint)")
            return
        if not np.all(np.isfinite(command)):
            self._reject(f"command contains NaN or inf: {command.tolist()}")
            return
        self.held_command = command
        self.last_command_time = time.monotonic()
        self.watchdog_tripped = False
        if self.settings.step_mode == "lockstep":
            self._step()

    def _reject(self, reason: str) -> None:
        self.rejected_commands += 1
        self.get_logger().error(f"rejected command on {COMMAND_TOPIC}: {reason}; scene unchanged")

    def _check_watchdog(self) -> None:
        timeout = self.settings.watchdog_timeout
        if timeout <= 0 or self.watchdog_tripped or self.last_command_time is None:
            return
        if time.monotonic() - self.last_command_time > timeout:
            self.held_command = np.zeros(self.act_dim)
            self.watchdog_tripped = True
            self.get_logger().warning(f"no command for {timeout:.3f} s: joint velocities zeroed")

    def _on_control_tick(self) -> None:
        self._check_watchdog()
        self._step()

    def _on_inject(
        self, fault: str, request: Trigger.Request, response: Trigger.Response
    ) -> Trigger.Response:
        if not self.faults.arm(fault):
            response.success, response.message = False, "fault injection needs the MuJoCo backend"
            return response
        response.success = True
        response.message = json.dumps(
            {"session": self.session, "episode": self.episode, "step": self.step_index}
        )
        return response

    def _step(self) -> None:
        if self.faults is not None and (fault := self.faults.apply()) is not None:
            self.get_logger().warning(
                f"fault injection: physics state corrupted ({fault}) before step {self.step_index + 1}"
            )
        try:
            obs, reward, terminated, truncated, info = self.env.step_command(self.held_command)
        except ValueError as error:  # the env refuses bad actions with the scene unchanged
            self._reject(str(error))
            return
        self.step_index += 1
        self.episode_return += float(reward)
        success = bool(info.get("success", False))
        self.last_success = self.last_success or success
        aborted = bool(info.get("nan_reset", False))
        if aborted:  # the env already reset the scene; the step is marked so no transition is built on it
            self.nan_resets += 1
            self.get_logger().warning(
                f"nan_reset: the simulation diverged at episode {self.episode} step {self.step_index}; "
                f"episode ended and scene reset ({self.nan_resets} so far)"
            )
        self._capture_frame()
        if (terminated or truncated) and self.gifs is not None:  # written before the agent hears of the
            self.gifs.save(self.episode)  # end: a test's evaluation may be followed at once by a SIGTERM
        self._publish_step(protocol.StepMessage(
            self.session, self.episode, self.step_index, float(reward), bool(terminated), bool(truncated),
            success, self.env.applied_action(), obs, aborted,
        ))  # fmt: skip
        if terminated or truncated:
            self.topics.publish_markers(self.settings.frame_id, self._status())
            self._reset_episode()

    def _reset_episode(self) -> None:
        obs, _ = self.env.reset()  # the first reset seeds itself with GraspEnvConfig.seed
        self.episode, self.step_index = self.episode + 1, 0
        self.episode_return, self.last_success = 0.0, False
        zero = np.zeros(self.act_dim, dtype=np.float32)
        step = protocol.StepMessage(self.session, self.episode, 0, 0.0, False, False, False, zero, obs)
        self._publish_step(step)
        self._capture_frame()

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if self.gifs is not None:  # the cut episode is not written; the ones from here on are
            self.gifs.start()
        self._reset_episode()
        response.success = True
        response.message = json.dumps({"session": self.session, "episode": self.episode})
        return response

    def _capture_frame(self) -> None:
        if self.gifs is not None:
            self.gifs.capture(
                self.scene.data, self.episode, self.step_index, self.episode_return, self.last_success
            )

    # -- publishing ------------------------------------------------------------------------------
    def _publish_step(self, step: protocol.StepMessage) -> None:
        values = protocol.encode(step)
        if self.step_log is not None:
            self.step_log.append(values)
        self.step_pub.publish(step_message(values, self.step_layout))
        self.topics.after_step(self.step_index, self.settings, self._status())

    def _status(self) -> str:
        """The episode as the markers' text shows it."""
        success = " SUCCESS" if self.last_success else ""
        episode = f"ep {self.episode} step {self.step_index} return {self.episode_return:.2f}"
        return f"{self.get_namespace()} {episode}{success}"

    # -- loop ------------------------------------------------------------------------------------
    def loop(self) -> int:
        spin_until(self)
        return 0

    def close(self) -> None:
        if self.gifs is not None:
            self.gifs.close()
        if self.step_log is not None:
            self.step_log.close()
        self.env.close()


def main(args: list[str] | None = None) -> int:
    return run_node(SimNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
