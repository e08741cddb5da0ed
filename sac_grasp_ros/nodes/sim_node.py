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
"""

from __future__ import annotations

import array
import json
import math
import os
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, MultiArrayDimension, MultiArrayLayout
from std_srvs.srv import Trigger
from visualization_msgs.msg import Marker, MarkerArray

from sac_grasp_ros.atomic import atomic_path
from sac_grasp_ros.envs.config import GraspEnvConfig
from sac_grasp_ros.graph import protocol
from sac_grasp_ros.nodes.common import (
    COMMAND_QOS,
    COMMAND_TOPIC,
    RESET_SERVICE,
    STATUS_QOS,
    STEP_QOS,
    STEP_TOPIC,
    StartupError,
    run_node,
    spin_until,
)
from sac_grasp_ros.nodes.params import accept_runtime_changes, declare_dataclass
from sac_grasp_ros.scene.base import FINGER_JOINT_NAMES
from sac_grasp_ros.scene.kinematics import quaternion_from_yaw


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
        joint_velocity = self.env_config.control_mode == "joint_velocity"
        self.command_scale = float(self.env_config.max_joint_velocity) if joint_velocity else 1.0
        # Bookkeeping ids only (not simulation randomness): a fresh session per process start lets
        # the agent tell a restarted worker's messages from the old ones.
        self.session = int.from_bytes(os.urandom(4), "little") >> 1
        self.episode = -1
        self.step_index = 0
        self.episode_return = 0.0
        self.last_success = False
        self.held_action = np.zeros(self.act_dim, dtype=np.float32)
        self.last_command_time: float | None = None  # the watchdog arms with the first command
        self.watchdog_tripped = False
        self.rejected_commands = 0
        self.recorded: list[list[float]] | None = [] if self.settings.record_steps else None
        self.record_stream = None
        if self.recorded is not None:  # kept open for the process's lifetime, closed in close()
            self.record_stream = open(f"{self.settings.record_steps}.stream", "ab")  # noqa: SIM115
        self.pending_fault: str | None = None
        self.nan_resets = 0
        self.video = self._make_video()
        self.video_on = False  # from the first reset request: the episodes a controller runs

        layout = MultiArrayLayout()
        layout.dim = [
            MultiArrayDimension(label=label, size=size, stride=size)
            for label, size in protocol.layout_sizes(self.act_dim, self.obs_dim)
        ]
        self.step_layout = layout
        self.step_pub = self.create_publisher(Float64MultiArray, STEP_TOPIC, STEP_QOS)
        self.joint_pub = self.create_publisher(JointState, "joint_states", STATUS_QOS)
        self.target_pub = self.create_publisher(PoseStamped, "target_pose", STATUS_QOS)
        self.marker_pub = self.create_publisher(MarkerArray, "markers", STATUS_QOS)
        self.create_subscription(Float64MultiArray, COMMAND_TOPIC, self._on_command, COMMAND_QOS)
        self.create_service(Trigger, RESET_SERVICE, self._on_reset)
        if self.settings.fault_injection:
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

    def _make_video(self) -> Any:
        if not self.settings.video_dir:
            return None
        from sac_grasp_ros.recording.video import EpisodeVideo

        return EpisodeVideo(self.env.unwrapped.scene.model)

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
        self.held_action = np.clip(command / self.command_scale, -1.0, 1.0).astype(np.float32)
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
            self.held_action = np.zeros(self.act_dim, dtype=np.float32)
            self.watchdog_tripped = True
            self.get_logger().warning(f"no command for {timeout:.3f} s: joint velocities zeroed")

    def _on_control_tick(self) -> None:
        self._check_watchdog()
        self._step()

    def _on_inject(
        self, fault: str, request: Trigger.Request, response: Trigger.Response
    ) -> Trigger.Response:
        if not hasattr(getattr(self.env.unwrapped.scene, "data", None), "qvel"):
            response.success, response.message = False, "fault injection needs the MuJoCo backend"
            return response
        self.pending_fault = fault
        response.success = True
        response.message = json.dumps(
            {"session": self.session, "episode": self.episode, "step": self.step_index}
        )
        return response

    def _corrupt_state(self) -> None:
        """Test hook: make the next physics step diverge (NaN, or velocities past MuJoCo's 1e10 limit)."""
        fault, self.pending_fault = self.pending_fault, None
        qvel = self.env.unwrapped.scene.data.qvel
        qvel[:] = np.nan if fault == "nan" else 1e12
        self.get_logger().warning(
            f"fault injection: physics state corrupted ({fault}) before step {self.step_index + 1}"
        )

    def _step(self) -> None:
        if self.pending_fault is not None:
            self._corrupt_state()
        try:
            obs, reward, terminated, truncated, info = self.env.step(self.held_action)
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
        if terminated or truncated:  # written before the agent hears of the end: a test's evaluation
            self._save_video()  # may be followed at once by the launcher's SIGTERM
        self._publish_step(
            obs, float(reward), bool(terminated), bool(truncated), success, self.held_action, aborted
        )
        if terminated or truncated:
            self._publish_markers(force=True)
            self._reset_episode()

    def _reset_episode(self) -> None:
        obs, _ = self.env.reset()  # the first reset seeds itself with GraspEnvConfig.seed
        self.episode += 1
        self.step_index = 0
        self.episode_return = 0.0
        self.last_success = False
        zero = np.zeros(self.act_dim, dtype=np.float32)
        self._publish_step(obs, 0.0, False, False, False, zero)
        self._capture_frame()

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if self.video is not None:  # the cut episode is not written; the ones from here on are
            self.video.discard()
            self.video_on = True
        self._reset_episode()
        response.success = True
        response.message = json.dumps({"session": self.session, "episode": self.episode})
        return response

    # -- video -----------------------------------------------------------------------------------
    def _capture_frame(self) -> None:
        if self.video is None or not self.video_on:
            return
        success = " SUCCESS" if self.last_success else ""
        caption = (
            f"{self.get_namespace().strip('/') or 'sim'} ep {self.episode} step {self.step_index} "
            f"return {self.episode_return:.2f}{success}"
        )
        self.video.capture(self.env.unwrapped.scene.data, caption)

    def _save_video(self) -> None:
        if self.video is None or not self.video.frames:
            return
        name = f"{self.get_namespace().strip('/').replace('/', '_') or 'sim'}_episode_{self.episode:04d}.gif"
        path = Path(self.settings.video_dir) / name
        try:
            self.video.save(path, 1.0 / float(self.env_config.control_period))
        except OSError as error:  # a full disk or a bad directory costs the video, not the worker
            self.video.discard()
            self.get_logger().error(f"could not write {path}: {error}")

    # -- publishing ------------------------------------------------------------------------------
    def _publish_step(
        self,
        obs: np.ndarray,
        reward: float,
        terminated: bool,
        truncated: bool,
        success: bool,
        action: np.ndarray,
        aborted: bool = False,
    ) -> None:
        step = protocol.StepMessage(
            self.session, self.episode, self.step_index, reward, terminated, truncated, success, action, obs,
            aborted,
        )  # fmt: skip
        values = protocol.encode(step)
        if self.recorded is not None:
            self.recorded.append(values)
            self.record_stream.write(np.asarray(values, dtype=np.float64).tobytes())
            self.record_stream.flush()  # in the page cache: kept even if this process is SIGKILLed
        msg = Float64MultiArray()
        msg.layout = self.step_layout
        msg.data = array.array("d", values)
        self.step_pub.publish(msg)
        every = self.settings.joint_states_every
        if every and self.step_index % every == 0:
            self._publish_joint_states()
        self._publish_markers()

    def _publish_joint_states(self) -> None:
        msg = JointState()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.name = list(self.env.joint_names)
        positions, velocities = self.env.observed_joint_state()  # with the encoders' noise, if any
        msg.position = [float(v) for v in positions]
        msg.velocity = [float(v) for v in velocities]
        fingers = self.env.finger_joint_state()  # after the arm joints: the documented order stays
        if fingers is not None:
            msg.name = [*msg.name, *FINGER_JOINT_NAMES]
            msg.position = [*msg.position, *fingers[0]]
            msg.velocity = [*msg.velocity, *fingers[1]]
        self.joint_pub.publish(msg)
        self._publish_target_pose(msg.header.stamp)

    def _publish_target_pose(self, stamp: Any) -> None:
        """The block pose, as a perception system would give it to a deployed policy_node: the one the
        observation reports (randomization's bias and noise included)."""
        xyz, yaw = self.env.observed_target_pose()
        msg = PoseStamped()
        msg.header.stamp = stamp
        msg.header.frame_id = self.settings.frame_id
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in xyz)
        o = msg.pose.orientation
        o.x, o.y, o.z, o.w = quaternion_from_yaw(float(yaw))
        self.target_pub.publish(msg)

    def _publish_markers(self, force: bool = False) -> None:
        every = self.settings.markers_every
        if not force and (not every or self.step_index % every != 0):
            return
        if self.marker_pub.get_subscription_count() == 0:
            return
        stamp = self.get_clock().now().to_msg()
        target_xyz, target_yaw = self.env.target_pose()
        pregrasp = self.env.pregrasp_point()
        markers = MarkerArray()
        block = self._marker(Marker.CUBE, 0, stamp, target_xyz, (0.9, 0.2, 0.2))
        o = block.pose.orientation
        o.x, o.y, o.z, o.w = quaternion_from_yaw(float(target_yaw))
        block.scale.x = block.scale.y = block.scale.z = self.env.perturbation.block.edge
        point = self._marker(Marker.SPHERE, 1, stamp, pregrasp, (0.2, 0.8, 0.2))
        point.scale.x = point.scale.y = point.scale.z = 0.02
        text = self._marker(
            Marker.TEXT_VIEW_FACING, 2, stamp, np.asarray(target_xyz) + np.array([0.0, 0.0, 0.25]), (1, 1, 1)
        )
        text.scale.z = 0.05
        text.text = (
            f"{self.get_namespace()} ep {self.episode} step {self.step_index} "
            f"return {self.episode_return:.2f}{' SUCCESS' if self.last_success else ''}"
        )
        markers.markers = [block, point, text]
        self.marker_pub.publish(markers)

    def _marker(
        self, kind: int, marker_id: int, stamp: Any, xyz: np.ndarray, rgb: tuple[float, ...]
    ) -> Marker:
        marker = Marker()
        marker.header.frame_id = self.settings.frame_id
        marker.header.stamp = stamp
        marker.ns = self.get_namespace().strip("/") or "sim"
        marker.id = marker_id
        marker.type = kind
        marker.action = Marker.ADD
        marker.pose.position.x, marker.pose.position.y, marker.pose.position.z = (float(v) for v in xyz)
        marker.pose.orientation.w = 1.0
        marker.color.r, marker.color.g, marker.color.b = (float(c) for c in rgb)
        marker.color.a = 1.0
        return marker

    # -- loop ------------------------------------------------------------------------------------
    def loop(self) -> int:
        spin_until(self)
        return 0

    def close(self) -> None:
        if self.video is not None:
            self.video.close()
        if self.record_stream is not None:
            self.record_stream.close()
        if self.recorded is not None:
            rows = np.asarray(self.recorded, dtype=np.float64).reshape(len(self.recorded), -1)
            with atomic_path(self.settings.record_steps) as temporary, open(temporary, "wb") as file:
                np.save(file, rows)
        self.env.close()


def main(args: list[str] | None = None) -> int:
    return run_node(SimNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
