"""SAC agent node: acts for N simulator workers in one batched forward pass and learns from replay.

Interfaces (the node runs at the root namespace; worker topics are /<worker>/...):
- sub `/<worker>/step` (protocol.StepMessage in a Float64MultiArray), pub
  `/<worker>/velocity_controller/commands` (joint velocities, rad/s), client `/<worker>/reset`.
- srv `/evaluate` (std_srvs/Trigger): deterministic episodes on freshly reset workers, learning
  paused, nothing stored; message = JSON {episodes, success_rate, mean_return, mean_length}.
- srv `/train` (std_srvs/SetBool): learning on/off (off: the workers are driven by the
  deterministic policy, nothing is stored); `/save`, `/load` (std_srvs/Trigger): checkpoint
  in `checkpoint_dir`; failures come back as success=false with the reason.
- pub `~/episode_return`, `~/success_rate`, `~/q_loss`, `~/policy_loss`, `~/alpha`,
  `~/eval_success_rate` (each periodic evaluation, eval_every), `~/env_steps` (transitions stored),
  `~/steps_seen` (all steps, also when not learning), `~/progress_markers` (RViz text),
  `~/rejected_steps` (step messages that completed no transition: duplicate, stale, gap, aborted;
  also saved with the checkpoint counters, with episodes cut short by a worker crash or reset).

Training runs can evaluate periodically (eval_every), keep the best evaluated policy (keep_best)
and write TensorBoard scalars, CSVs and PNGs of the run (report_dir).

The loop is hand-driven (`spin_once`), acting first and then running at most
`max_updates_per_loop` gradient updates, so the workers simulate while the agent learns.
"""

from __future__ import annotations

import array
import dataclasses
import json
import math
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.task import Future
from std_msgs.msg import Float64, Float64MultiArray, Int64
from std_srvs.srv import SetBool, Trigger
from visualization_msgs.msg import Marker, MarkerArray

from sac_grasp_ros import protocol
from sac_grasp_ros.agent_core import (
    AgentCore,
    AgentCoreSettings,
    EpisodeResult,
    PeriodicEvaluation,
    Phase,
    UpdateScheduler,
)
from sac_grasp_ros.nodes.common import (
    COMMAND_QOS,
    COMMAND_TOPIC,
    RESET_SERVICE,
    RESULT_QOS,
    STATUS_QOS,
    STEP_QOS,
    STEP_TOPIC,
    StartupError,
    make_executor,
    run_node,
    to_plain,
)

ON_FINISH = ("idle", "exit", "evaluate_and_exit")
# Parameters that take effect when changed at run time (`ros2 param set`); the others need a restart.
RUNTIME_SETTABLE = {
    "eval_episodes", "checkpoint_dir", "checkpoint_every", "save_buffer", "progress_every",
    "max_updates_per_loop", "eval_timeout", "eval_every", "periodic_eval_episodes", "plot_every",
}  # fmt: skip
PLOT_INTERVAL = 15.0
"""minimum seconds between two redraws of learning_curve.png"""
BEST_CHECKPOINT = "best"
"""keep_best writes the selected policy to this sibling of checkpoint_dir"""


@dataclasses.dataclass
class AgentNodeSettings:
    """Parameters of the agent node (the learner's own are `sac.<SACConfig field>`)."""

    workers: list[str] = dataclasses.field(default_factory=list)
    """worker namespaces (e.g. [worker_0, worker_1]); empty: use num_workers"""
    num_workers: int = 1
    """when `workers` is empty: worker_prefix + 0 .. num_workers-1"""
    worker_prefix: str = "worker_"
    """namespace prefix used with num_workers"""
    learning: bool = True
    """store transitions and update; off = deployment (deterministic policy, nothing stored)"""
    total_steps: int = 0
    """stop learning after this many stored env steps (0: never)"""
    on_finish: str = "idle"
    """after total_steps: idle (keep acting), exit, or evaluate_and_exit"""
    result_file: str = ""
    """evaluate_and_exit also writes the evaluation JSON here"""
    eval_episodes: int = 10
    """episodes per /evaluate call and of the final evaluation (shared among the workers)"""
    eval_every: int = 0
    """while learning, a deterministic evaluation every N stored env steps, the first at 0 (right
    after learning from demonstrations); learning pauses meanwhile and nothing is stored (0: none)"""
    periodic_eval_episodes: int = 50
    """episodes of each periodic evaluation"""
    keep_best: bool = False
    """save the policy of the best periodic evaluation (success rate, then mean return) to the
    `best` sibling of checkpoint_dir; on_finish=evaluate_and_exit then evaluates that policy, on
    fresh episodes (needs eval_every > 0)"""
    report_dir: str = ""
    """TensorBoard scalars, rewards.csv, learning_curve.png and eval_curve.csv/png of the run
    (empty: none)"""
    plot_every: int = 20
    """episodes between redraws of learning_curve.png (and at least PLOT_INTERVAL s: drawing a long
    curve takes a while, and the workers wait meanwhile)"""
    checkpoint_dir: str = "checkpoints/latest"
    """directory written by /save and periodic checkpoints, read by /load"""
    load_on_start: str = ""
    """checkpoint directory loaded before the first action (deployment policy); empty: none"""
    resume: bool = False
    """load checkpoint_dir at start when it holds a checkpoint: a restarted (crashed) agent goes on
    with its policy, replay buffer, counters and learning curve; none there: start fresh"""
    checkpoint_every: int = 0
    """periodic checkpoint every N stored env steps (0: only on /save and at the end)"""
    save_buffer: bool = True
    """checkpoints include the replay buffer"""
    demo_file: str = ""
    """demonstration .npz (sac.save_demos format); a sac.demo_ratio share of each batch comes from it"""
    prefill_from_demos: int = 0
    """demo transitions copied into the replay buffer before learning (the first N of demo_file;
    -1: all; 0: none), so critic pretraining and the first updates have data; not counted as env steps"""
    bc_steps: int = 0
    """behaviour-cloning steps of the policy on demo_file when a fresh learner is built (0: none)"""
    bc_pretrain_lr: float = 1e-3
    """Adam learning rate of those behaviour-cloning steps"""
    critic_pretrain_steps: int = 0
    """critic-only updates after cloning, so the first actor updates follow a critic that values the
    cloned behaviour (needs prefill_from_demos >= sac.batch_size; 0: none)"""
    bc_per_update: int = 0
    """behaviour-cloning steps on a demo batch after every SAC update: anchors the policy to the demos
    while the critic is still wrong away from them (0: plain SAC)"""
    bc_lr: float = 3e-4
    """Adam learning rate of the per-update cloning steps (balance against sac.policy_lr)"""
    env_file: str = ""
    """YAML of the workers' task settings (GraspEnvConfig fields), written into every checkpoint as
    env.yaml so `sac-grasp test`/deploy/export feed the policy the observations it was trained on;
    set by the launcher; empty: none"""
    command_scale: float = 1.0
    """rad/s per policy unit (the workers' max_joint_velocity)"""
    max_updates_per_loop: int = 1
    """gradient updates between two looks at the workers (keeps their latency low)"""
    max_update_debt: int = 8
    """pause acting while more updates than this are owed (honours sac.utd_ratio)"""
    batch_wait: float = 0.005
    """s to wait for the other workers before acting on a partial batch"""
    stall_timeout: float = 5.0
    """s without an answer to a command before the worker is reset"""
    eval_timeout: float = 300.0
    """s an /evaluate may take before it is answered with a failure"""
    progress_every: int = 200
    """publish loss/alpha/env_steps every N env steps seen"""
    seed: int = 0
    """seed of the learner and of the random warm-up actions"""

    def validate(self) -> None:
        if self.on_finish not in ON_FINISH:
            raise ValueError(f"on_finish must be one of {ON_FINISH}, got {self.on_finish!r}")
        for name in (
            "num_workers", "eval_episodes", "max_updates_per_loop", "progress_every",
            "periodic_eval_episodes", "plot_every",
        ):  # fmt: skip
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("total_steps", "checkpoint_every", "max_update_debt", "eval_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("batch_wait", "stall_timeout", "eval_timeout", "command_scale"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.command_scale <= 0:
            raise ValueError(f"command_scale must be > 0, got {self.command_scale!r}")
        if self.env_file and not Path(self.env_file).is_file():
            raise ValueError(f"env_file {self.env_file!r} does not exist")
        if self.demo_file and not Path(self.demo_file).is_file():
            raise ValueError(f"demo_file {self.demo_file!r} does not exist")
        for name in ("bc_steps", "critic_pretrain_steps", "bc_per_update"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.prefill_from_demos < -1:
            raise ValueError(f"prefill_from_demos must be >= -1 (-1: all), got {self.prefill_from_demos!r}")
        for name in ("bc_pretrain_lr", "bc_lr"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        uses_demos = [
            name for name in ("bc_steps", "bc_per_update", "prefill_from_demos") if getattr(self, name)
        ]
        if uses_demos and not self.demo_file:
            raise ValueError(f"{', '.join(uses_demos)} need demonstrations: set demo_file")
        if self.critic_pretrain_steps and not self.prefill_from_demos:
            raise ValueError("critic_pretrain_steps needs a prefilled replay buffer: set prefill_from_demos")
        if self.keep_best and not self.eval_every:
            raise ValueError("keep_best selects among periodic evaluations: set eval_every > 0")

    def worker_names(self) -> list[str]:
        names = [w.strip("/") for w in self.workers if w.strip("/")]
        return names or [f"{self.worker_prefix}{i}" for i in range(self.num_workers)]


def _declare_dataclass(node: Node, cls: type, prefix: str = "") -> dict[str, Any]:
    """Declare one ROS parameter per dataclass field (same name, default, docstring-free type)."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        name = f"{prefix}{f.name}"
        if default is None:
            descriptor = ParameterDescriptor(dynamic_typing=True)
            value = node.declare_parameter(name, None, descriptor).value
        elif isinstance(default, list):
            value = node.declare_parameter(name, Parameter.Type.STRING_ARRAY).value
            value = default if value is None else value
        else:
            value = node.declare_parameter(name, default).value
            if isinstance(default, float) and isinstance(value, int):
                value = float(value)
        values[f.name] = to_plain(value)
    return values


class AgentNode(Node):
    """The SAC agent (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__("agent_node")
        from sac_grasp_ros.sac import SACConfig

        try:
            self.settings = AgentNodeSettings(**_declare_dataclass(self, AgentNodeSettings))
            self.settings.validate()
            sac_values = _declare_dataclass(self, SACConfig, prefix="sac.")
            if sac_values.get("seed") is None:
                sac_values["seed"] = self.settings.seed
            self.sac_config = SACConfig.from_dict(sac_values)
            prefill = self.settings.prefill_from_demos
            if self.settings.critic_pretrain_steps and 0 < prefill < self.sac_config.batch_size:
                raise ValueError(
                    f"critic_pretrain_steps needs prefill_from_demos >= sac.batch_size "
                    f"({self.sac_config.batch_size}), got {prefill}"
                )
        except (ValueError, TypeError) as error:
            raise StartupError(f"agent_node: invalid parameters: {error}") from error
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.worker_names = self.settings.worker_names()
        self.rng = np.random.default_rng(self.settings.seed)
        self.sac: Any = None
        self.buffer: Any = None
        self.demos: Any = None
        self.anchor: Any = None  # sac.imitation.DemoAnchor of the current learner (bc_per_update)
        self.dims: tuple[int, int] | None = None  # (act_dim, obs_dim), from the first step message
        self.core = AgentCore(
            self.worker_names,
            act_fn=self._act,
            store_fn=self._store,
            scheduler=UpdateScheduler(
                self.sac_config.utd_ratio, self.sac_config.learning_starts, self.sac_config.batch_size
            ),
            settings=AgentCoreSettings(
                batch_wait=self.settings.batch_wait,
                stall_timeout=self.settings.stall_timeout,
                max_update_debt=self.settings.max_update_debt,
            ),
            random_act_fn=lambda n: self.rng.uniform(-1.0, 1.0, size=(n, self.dims[0])),
        )
        self.core.learning = self.settings.learning
        self.command_pubs = {}
        self.step_subs = {}
        self.reset_clients = {}
        for name in self.worker_names:
            self.command_pubs[name] = self.create_publisher(
                Float64MultiArray, f"/{name}/{COMMAND_TOPIC}", COMMAND_QOS
            )
            self.step_subs[name] = self.create_subscription(
                Float64MultiArray, f"/{name}/{STEP_TOPIC}", partial(self._on_step, name), STEP_QOS
            )
            self.reset_clients[name] = self.create_client(Trigger, f"/{name}/{RESET_SERVICE}")
        self.active: set[str] = set()
        self.progress = {
            topic: self.create_publisher(Float64, f"~/{topic}", STATUS_QOS)
            for topic in ("episode_return", "success_rate", "q_loss", "policy_loss", "alpha")
        }
        self.progress["eval_success_rate"] = self.create_publisher(Float64, "~/eval_success_rate", RESULT_QOS)
        self.env_steps_pub = self.create_publisher(Int64, "~/env_steps", STATUS_QOS)
        self.rejected_pub = self.create_publisher(Int64, "~/rejected_steps", STATUS_QOS)
        self.commands_sent = 0
        self.stall_resets_done = 0
        self.steps_seen_pub = self.create_publisher(Int64, "~/steps_seen", STATUS_QOS)
        self.progress_marker_pub = self.create_publisher(MarkerArray, "~/progress_markers", STATUS_QOS)
        self.create_service(Trigger, "/evaluate", self._on_evaluate)
        self.create_service(SetBool, "/train", self._on_train)
        self.create_service(Trigger, "/save", self._on_save)
        self.create_service(Trigger, "/load", self._on_load)

        # Tensors straight from the update loop; converted to floats only when progress is published.
        self.last_metrics: dict[str, Any] = {}
        self.episodes_published = 0
        self.last_progress_step = 0
        self.last_checkpoint_step = 0
        self.eval_future: Future | None = None
        self.eval_started = 0.0
        self.eval_kind = ""  # service (/evaluate), periodic or final (on_finish=evaluate_and_exit)
        self.eval_episodes_wanted = self.settings.eval_episodes
        self.periodic = PeriodicEvaluation(self.settings.eval_every)
        self.final_policy: dict[str, Any] = {"policy": "last"}
        self.started = time.monotonic()
        self.rate_mark = (self.started, 0, 0)  # (time, env steps, updates) of the last progress log
        self.reporter: Any = None  # training.reporting.RunReporter when report_dir is set
        self.eval_curve: Any = None
        self.curve: Any = None
        self.last_plot = 0.0
        self.eval_resets: dict[str, Future] = {}
        self.eval_resets_sent = 0.0
        self.stall_resets: dict[str, Future] = {}
        self.finished = False
        self.self_eval = False  # the evaluation started by on_finish=evaluate_and_exit
        self.eval_outcome: tuple[bool, str] | None = None
        self.exit_code: int | None = None
        self.pending_load = self.settings.load_on_start
        if self.pending_load:
            # Deployment: the checkpoint fixes the network (and the dims), no message needed first.
            ok, message = self._load(self.pending_load)
            if not ok:
                raise StartupError(f"agent_node: {message}")
            self.pending_load = ""
        if self.settings.resume and not self.settings.load_on_start:
            self._resume()
        self._open_report()
        self.get_logger().info(
            f"agent for workers {self.worker_names}; learning={self.core.learning}, "
            f"total_steps={self.settings.total_steps}, utd={self.sac_config.utd_ratio}"
        )

    def _resume(self) -> None:
        """Continue from checkpoint_dir if one is there (also its `.old` twin of an interrupted save)."""
        directory = Path(self.settings.checkpoint_dir)
        if not (directory.is_dir() or (directory.parent / f".{directory.name}.old").is_dir()):
            self.get_logger().info(f"resume: no checkpoint in {directory} yet, starting fresh")
            return
        ok, message = self._load(str(directory))
        if not ok:  # refusing to start beats overwriting what was learned with a fresh run
            raise StartupError(f"agent_node: resume: {message}")
        self.get_logger().info(f"resumed: {message}")

    def _open_report(self) -> None:
        """Human-facing run outputs (TensorBoard, CSV, PNG) in report_dir; a resumed run appends."""
        if not self.settings.report_dir:
            return
        from sac_grasp_ros.training.curve import LearningCurve
        from sac_grasp_ros.training.reporting import EVAL_CURVE_CSV, EvalCurveWriter, RunReporter

        directory = Path(self.settings.report_dir)
        try:
            self.reporter = RunReporter(directory, tensorboard=True)
            self.eval_curve = EvalCurveWriter(directory / EVAL_CURVE_CSV, append=self.core.env_steps > 0)
        except OSError as error:
            raise StartupError(f"agent_node: report_dir {directory}: {error}") from error
        self.curve = LearningCurve()
        for number, episode in enumerate(self.core.episodes, start=1):
            self.curve.append(self._episode_record(number, episode))

    def _episode_record(self, number: int, episode: EpisodeResult) -> Any:
        from sac_grasp_ros.training.curve import EpisodeRecord

        return EpisodeRecord(
            episode=number,
            env_steps=max(episode.env_steps, 0),
            episode_return=float(episode.episode_return),
            episode_length=int(episode.length),
            success=bool(episode.success),
            wall_s=time.monotonic() - self.started,
        )

    def _report_episode(self, number: int, episode: EpisodeResult) -> None:
        if self.reporter is None:
            return
        self.curve.append(self._episode_record(number, episode))
        self.reporter.episode(self.curve.records[-1], self.curve)
        now = time.monotonic()
        if number % self.settings.plot_every == 0 and now - self.last_plot >= PLOT_INTERVAL:
            self.last_plot = now
            self.reporter.plot(self.curve, title=f"agent_node, seed {self.settings.seed}")

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        changes = {}
        for param in params:
            if param.name not in RUNTIME_SETTABLE:
                return SetParametersResult(
                    successful=False,
                    reason=f"{param.name} cannot change at run time (settable: {sorted(RUNTIME_SETTABLE)})",
                )
            changes[param.name] = to_plain(param.value)
        candidate = dataclasses.replace(self.settings, **changes)
        try:
            candidate.validate()
        except (ValueError, TypeError) as error:
            return SetParametersResult(successful=False, reason=str(error))
        self.settings = candidate
        self.periodic.every = candidate.eval_every
        return SetParametersResult(successful=True)

    # -- learner ---------------------------------------------------------------------------------
    def _ensure_learner(self, act_dim: int, obs_dim: int) -> None:
        from sac_grasp_ros.sac import SAC, ReplayBuffer, load_demos

        if self.dims is not None:
            if self.dims != (act_dim, obs_dim):
                raise ValueError(f"worker dims (act {act_dim}, obs {obs_dim}) differ from {self.dims}")
            if self.demos is None and self.settings.demo_file:  # learner came from a checkpoint (resume)
                self.demos = load_demos(self.settings.demo_file, obs_dim, act_dim, seed=self.settings.seed)
            return

        if self.settings.demo_file:
            # Checked against the workers' dims: demos from another action space are refused.
            self.demos = load_demos(self.settings.demo_file, obs_dim, act_dim, seed=self.settings.seed)
            self.get_logger().info(
                f"{len(self.demos)} demonstration transitions from {self.settings.demo_file}"
            )
        fresh = self.sac is None
        if fresh:
            self.sac = SAC(obs_dim, act_dim, self.sac_config)
        self.buffer = ReplayBuffer(self.sac_config.buffer_capacity, obs_dim, act_dim, seed=self.settings.seed)
        if fresh and self.demos is not None:
            self._learn_from_demos()
        # Set last: a failed stage leaves dims unset, so the step handler treats it as fatal.
        self.dims = (act_dim, obs_dim)

    def _learn_from_demos(self) -> None:
        """Prefill, behaviour cloning and critic pretraining: once, on a fresh learner (never on resume).

        Runs inside the first step message's callback; the lockstep workers wait for their first
        command meanwhile, so no env step is lost.
        """
        from sac_grasp_ros.sac.imitation import clone_demos, pretrain_critic
        from sac_grasp_ros.sac.replay import TRANSITION_FIELDS

        settings, log = self.settings, self.get_logger()
        started = time.monotonic()
        if settings.prefill_from_demos:
            data = self.demos.transitions()
            count = len(self.demos) if settings.prefill_from_demos < 0 else settings.prefill_from_demos
            count = min(count, len(self.demos))
            self.buffer.add_batch(*(data[name][:count] for name in TRANSITION_FIELDS))
            log.info(f"replay buffer prefilled with {count} demonstration transitions")
        if settings.bc_steps:
            loss = clone_demos(
                self.sac,
                self.demos,
                settings.bc_steps,
                self.sac_config.batch_size,
                lr=settings.bc_pretrain_lr,
            )
            log.info(f"behaviour cloning: {settings.bc_steps} steps, final loss {loss:.3f}")
        if settings.critic_pretrain_steps:
            loss = pretrain_critic(self.sac, self.buffer, self.demos, settings.critic_pretrain_steps)
            log.info(f"critic pretraining: {settings.critic_pretrain_steps} updates, final q_loss {loss:.3f}")
        log.info(f"learning from demonstrations took {time.monotonic() - started:.1f} s")

    def _act(self, obs: np.ndarray, deterministic: bool) -> np.ndarray:
        return self.sac.act(obs, deterministic=deterministic)

    def _store(self, worker: str, transition: protocol.Transition) -> None:
        # Time-limit truncations stay bootstrappable: only `terminated` ends the return.
        self.buffer.add(
            transition.obs, transition.action, transition.reward, transition.next_obs, transition.terminated
        )

    # -- callbacks -------------------------------------------------------------------------------
    def _on_step(self, worker: str, msg: Float64MultiArray) -> None:
        sizes = {dim.label: dim.size for dim in msg.layout.dim}
        try:
            act_dim, obs_dim = int(sizes["action"]), int(sizes["observation"])
            if act_dim < 1 or obs_dim < 1:
                raise ValueError(f"layout gives action size {act_dim}, observation size {obs_dim}")
            step = protocol.decode(msg.data, act_dim, obs_dim)
            self._ensure_learner(act_dim, obs_dim)
        except (KeyError, ValueError) as error:
            if self.dims is None and self.settings.demo_file:
                self.get_logger().fatal(f"cannot start learning: {error}")
                self.exit_code = 1
            self.get_logger().error(f"/{worker}/{STEP_TOPIC}: ignored a step message: {error}")
            return
        self.core.on_step(worker, step, time.monotonic())

    def _on_train(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        self.core.learning = bool(request.data)
        response.success = True
        response.message = f"learning {'on' if request.data else 'off'} at {self.core.env_steps} env steps"
        return response

    def _on_save(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success, response.message = self._save()
        return response

    def _on_load(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success, response.message = self._load(self.settings.checkpoint_dir)
        return response

    async def _on_evaluate(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        # Coroutine callback: the executor keeps spinning (the main loop drives the episodes) and
        # resumes this when the loop completes the future.
        if self.eval_future is not None:
            running = "a periodic evaluation" if self.eval_kind == "periodic" else "an evaluation"
            response.success, response.message = False, f"{running} is already running; try again later"
            return response
        # _finish_eval clears eval_future before resolving it (a periodic one may start right after).
        result = await self._start_eval("service", self.settings.eval_episodes)
        response.success, response.message = result
        return response

    # -- checkpoints -----------------------------------------------------------------------------
    def _counters(self) -> dict[str, int | float]:
        assembler = self.core.assembler
        return {
            "env_steps": self.core.env_steps,
            "episodes": len(self.core.episodes),
            "total_steps_seen": self.core.total_steps_seen,
            **{f"steps_{verdict.value}": count for verdict, count in assembler.counts.items()},
            "steps_rejected": assembler.rejected,
            "episodes_abandoned": assembler.abandoned,
            "commands_sent": self.commands_sent,
            "stall_resets": self.stall_resets_done,
            **self.periodic.counters(),
            # Newest message per worker: a resumed agent ignores the replayed history up to it.
            **{
                f"last_key.{name}.{part}": value
                for name in self.worker_names
                if (last := assembler.last(name)) is not None
                for part, value in zip(("session", "episode", "step"), last.key, strict=True)
            },
        }

    def _restore_counters(self, counters: dict[str, int | float], curve: dict[str, np.ndarray]) -> None:
        """Counters and learning curve of a checkpoint back into the running bookkeeping."""
        from sac_grasp_ros.agent_core import EpisodeResult

        assembler = self.core.assembler
        for verdict in assembler.counts:
            assembler.counts[verdict] = int(counters.get(f"steps_{verdict.value}", assembler.counts[verdict]))
        assembler.abandoned = int(counters.get("episodes_abandoned", assembler.abandoned))
        self.core.total_steps_seen = int(counters.get("total_steps_seen", self.core.total_steps_seen))
        self.commands_sent = int(counters.get("commands_sent", self.commands_sent))
        self.stall_resets_done = int(counters.get("stall_resets", self.stall_resets_done))
        self.periodic.restore(counters)
        for name in self.worker_names:
            key = tuple(
                int(counters.get(f"last_key.{name}.{part}", -1)) for part in ("session", "episode", "step")
            )
            if min(key) >= 0:
                assembler.set_floor(name, key)
        if "episode_return" in curve and "success" in curve:
            count = len(curve["episode_return"])
            lengths = curve.get("length", np.zeros(count, dtype=np.int64))
            steps = curve.get("env_steps", np.full(count, -1, dtype=np.int64))
            self.core.episodes = [
                EpisodeResult("", float(r), int(n), bool(s), int(t))
                for r, n, s, t in zip(curve["episode_return"], lengths, curve["success"], steps, strict=True)
            ]
            self.core.recent.clear()
            self.core.recent.extend(self.core.episodes[-self.core.recent.maxlen :])
            self.episodes_published = len(self.core.episodes)
        self.last_progress_step = self.core.total_steps_seen

    def _curve(self) -> dict[str, np.ndarray]:
        episodes = self.core.episodes
        return {
            "episode": np.arange(len(episodes), dtype=np.int64),
            "episode_return": np.array([e.episode_return for e in episodes], dtype=np.float64),
            "success": np.array([e.success for e in episodes], dtype=np.float64),
            "length": np.array([e.length for e in episodes], dtype=np.int64),
            "env_steps": np.array([e.env_steps for e in episodes], dtype=np.int64),
        }

    def _save(self, directory: str | None = None, with_buffer: bool | None = None) -> tuple[bool, str]:
        """Checkpoint to `directory`; the default (checkpoint_dir) restarts the checkpoint_every count."""
        from sac_grasp_ros.sac import save_checkpoint

        if self.sac is None:
            return False, "nothing to save yet: no worker has sent a step (the network is not built)"
        target = directory or self.settings.checkpoint_dir
        with_buffer = self.settings.save_buffer if with_buffer is None else with_buffer
        try:
            buffer = self.buffer if with_buffer else None
            extra = (
                {"env.yaml": Path(self.settings.env_file).read_bytes()} if self.settings.env_file else None
            )
            path = save_checkpoint(target, self.sac, buffer, self._counters(), self._curve(), extra)
        except (OSError, ValueError, TypeError) as error:
            return False, f"save to {target} failed: {error}"
        if directory is None:
            self.last_checkpoint_step = self.core.env_steps
        return True, str(Path(path).resolve())

    def _load(self, directory: str) -> tuple[bool, str]:
        from sac_grasp_ros.sac import ReplayBuffer, load_checkpoint

        try:
            loaded = load_checkpoint(directory)
        except (OSError, ValueError) as error:  # CheckpointError is a ValueError
            return False, f"load from {directory} failed: {error}"
        dims = (loaded.act_dim, loaded.obs_dim)
        if self.dims is not None and dims != self.dims:
            return (
                False,
                f"load from {directory} failed: checkpoint has (act, obs) dims {dims}, workers {self.dims}",
            )
        buffer = ReplayBuffer(
            loaded.config.buffer_capacity, loaded.obs_dim, loaded.act_dim, seed=self.settings.seed
        )
        buffer_note = "no buffer"
        buffer_file = Path(directory) / "buffer.npz"
        if buffer_file.exists():
            try:
                buffer.load(buffer_file)
                buffer_note = f"buffer of {len(buffer)}"
            except ValueError as error:
                return False, f"load from {directory} failed: {error}"
        self.sac, self.buffer, self.dims = loaded.sac, buffer, dims
        self.sac_config = loaded.config
        self.core.env_steps = int(loaded.counters.get("env_steps", self.core.env_steps))
        self.core.scheduler.updates_done = int(loaded.counters.get("num_updates", 0))
        self._restore_counters(loaded.counters, loaded.curve)
        self.last_checkpoint_step = self.core.env_steps
        return True, f"loaded {Path(directory).resolve()} ({buffer_note}, {self.core.env_steps} env steps)"

    # -- loop ------------------------------------------------------------------------------------
    def _refresh_matching(self) -> None:
        # Lockstep needs both directions connected before the first command (else it is lost).
        self.active = {
            name
            for name in self.worker_names
            if self.command_pubs[name].get_subscription_count() > 0
            and self.step_subs[name].get_publisher_count() > 0
        }

    def _send_actions(self, now: float) -> None:
        ready = self.core.ready_workers(now, self.active)
        if not ready or self.sac is None:
            return
        actions = self.core.act(ready, now)
        for name, action in actions.items():
            msg = Float64MultiArray()
            msg.data = array.array("d", (action * self.settings.command_scale).tolist())
            self.command_pubs[name].publish(msg)
            self.commands_sent += 1

    def _call_reset(self, name: str) -> Future | None:
        client = self.reset_clients[name]
        if not client.service_is_ready():
            return None
        return client.call_async(Trigger.Request())

    def _handle_stalls(self, now: float) -> None:
        for name in self.core.stalled_workers(now):
            if name in self.stall_resets:
                continue
            future = self._call_reset(name)
            if future is not None:
                self.get_logger().warning(
                    f"/{name} did not answer a command for {self.settings.stall_timeout} s: reset"
                )
                self.stall_resets[name] = future
                self.stall_resets_done += 1
        for name, future in list(self.stall_resets.items()):
            if future.done():
                self.core.forget_command(name)
                del self.stall_resets[name]

    def _handle_eval(self, now: float) -> None:
        core = self.core
        if self.eval_future is None or core.phase is Phase.RUN:
            return
        if now - self.eval_started > self.settings.eval_timeout:
            core.end_eval()
            self.eval_resets.clear()
            self._finish_eval(False, f"evaluation timed out after {self.settings.eval_timeout} s")
            return
        if core.phase is Phase.DRAIN:
            if not self.eval_resets and (
                core.drained() or now - self.eval_started > self.settings.stall_timeout
            ):
                for name in self.worker_names:
                    core.forget_command(name)
                    future = self._call_reset(name)
                    if future is not None:
                        self.eval_resets[name] = future
                if not self.eval_resets:
                    return
                self.eval_resets_sent = now
            # A worker that dies after its reset was sent never answers: go on without it.
            waited_out = now - self.eval_resets_sent > self.settings.stall_timeout
            if self.eval_resets and (waited_out or all(f.done() for f in self.eval_resets.values())):
                keys = {}
                for name, future in self.eval_resets.items():
                    if not future.done():
                        self.get_logger().error(f"/{name}/reset got no answer: worker left out of evaluation")
                        continue
                    try:
                        reply = json.loads(future.result().message)
                        keys[name] = (int(reply["session"]), int(reply["episode"]))
                    except (ValueError, KeyError, TypeError, AttributeError):
                        self.get_logger().error(
                            f"/{name}/reset gave no episode key: worker left out of evaluation"
                        )
                self.eval_resets.clear()
                if not keys:
                    core.end_eval()
                    self._finish_eval(False, "no worker could be reset for the evaluation")
                    return
                core.begin_eval(self.eval_episodes_wanted, keys)
        if core.eval_finished():
            summary = core.end_eval()
            self.get_logger().info(f"evaluation: {json.dumps(summary)}")
            self._finish_eval(True, json.dumps(summary))

    def _start_eval(self, kind: str, episodes: int) -> Future:
        """Drain, reset the workers and run `episodes` deterministic episodes (see _handle_eval)."""
        self.eval_future = Future()
        self.eval_started = time.monotonic()
        self.eval_kind, self.eval_episodes_wanted = kind, episodes
        self.core.request_eval()
        return self.eval_future

    def _finish_eval(self, ok: bool, message: str) -> None:
        future, self.eval_future = self.eval_future, None
        if future is not None and not future.done():
            future.set_result((ok, message))
        self.eval_outcome = (ok, message)
        if self.eval_kind == "periodic":
            self._after_periodic_eval(ok, message)

    def _maybe_periodic_eval(self) -> None:
        if (
            self.sac is None
            or not self.core.learning
            or self.finished
            or self.eval_future is not None
            or self.core.phase is not Phase.RUN
            or not self.periodic.due(self.core.env_steps)
        ):
            return
        self._start_eval("periodic", self.settings.periodic_eval_episodes)

    def _after_periodic_eval(self, ok: bool, message: str) -> None:
        """Log the evaluation to the eval curve and TensorBoard; keep the policy if it is the best."""
        steps = self.core.env_steps
        if not ok:
            self.periodic.skip(steps)
            self.get_logger().warning(f"periodic evaluation at {steps} env steps failed: {message}")
            return
        summary = json.loads(message)
        rate, mean_return = float(summary["success_rate"]), float(summary["mean_return"])
        best = self.periodic.record(steps, rate, mean_return)
        self.progress["eval_success_rate"].publish(Float64(data=rate))
        note = ""
        if best and self.settings.keep_best:
            ok, where = self._save(self._best_dir(), with_buffer=False)
            note = f"; best so far, saved to {where}" if ok else f"; best so far, but saving failed: {where}"
        self.get_logger().info(
            f"periodic evaluation at {steps} env steps: success {rate:.2f} "
            f"({summary['episodes']} episodes), mean return {mean_return:.2f}{note}"
        )
        if self.reporter is not None:
            from sac_grasp_ros.training.reporting import EVAL_CURVE_PNG, plot_eval_curve

            self.reporter.scalars(steps, {"success_rate": rate, "mean_return": mean_return}, prefix="eval")
            self.eval_curve.append(
                {
                    "env_steps": steps,
                    "wall_s": round(time.monotonic() - self.started, 2),
                    "updates": self.core.scheduler.updates_done,
                    "eval_success_rate": rate,
                    "eval_mean_return": round(mean_return, 3),
                    "train_success_100": self.core.success_rate(),
                }
            )
            path = Path(self.settings.report_dir) / EVAL_CURVE_PNG
            plot_eval_curve(self.eval_curve.rows, path, f"agent_node evaluations, seed {self.settings.seed}")

    def _best_dir(self) -> str:
        return str(Path(self.settings.checkpoint_dir).parent / BEST_CHECKPOINT)

    def _select_best_policy(self) -> None:
        """Before the final evaluation: act with the best periodically evaluated policy (keep_best)."""
        from sac_grasp_ros.sac import load_checkpoint

        if not self.settings.keep_best or self.periodic.best_env_steps < 0:
            return
        try:
            self.sac = load_checkpoint(self._best_dir()).sac
        except (OSError, ValueError) as error:
            self.get_logger().error(f"keep_best: {error}; the final policy is evaluated instead")
            return
        self.final_policy = {
            "policy": "best",
            "selected_at_env_steps": self.periodic.best_env_steps,
            "selection_success_rate": self.periodic.best_success_rate,
            "selection_episodes": self.settings.periodic_eval_episodes,
            "checkpoint": str(Path(self._best_dir()).resolve()),
        }

    def _learn(self) -> bool:
        if self.buffer is None:
            return False
        due = min(self.core.updates_due(len(self.buffer)), self.settings.max_updates_per_loop)
        if due <= 0:
            return False
        self.last_metrics = self.sac.update_from_tensors(self.buffer, due, demo=self.demos)
        if self.settings.bc_per_update and self.demos is not None:
            if self.anchor is None or self.anchor.sac is not self.sac:  # new learner (built or loaded)
                from sac_grasp_ros.sac.imitation import DemoAnchor

                self.anchor = DemoAnchor(self.sac, self.settings.bc_per_update, self.settings.bc_lr)
            bc_loss = self.anchor.after_updates(self.demos, due)
            if bc_loss is not None:
                self.last_metrics["bc_loss"] = bc_loss
        self.core.scheduler.updates_done += due
        return True

    def _publish_progress(self) -> None:
        episodes = self.core.episodes
        while self.episodes_published < len(episodes):
            episode = episodes[self.episodes_published]
            self.progress["episode_return"].publish(Float64(data=float(episode.episode_return)))
            self.episodes_published += 1
            self.progress["success_rate"].publish(Float64(data=self.core.success_rate()))
            self._report_episode(self.episodes_published, episode)
        # Paced by every step seen (also while not learning), so throughput can be followed in deployment.
        if self.core.total_steps_seen - self.last_progress_step >= self.settings.progress_every:
            self.last_progress_step = self.core.total_steps_seen
            self.env_steps_pub.publish(Int64(data=self.core.env_steps))
            self.steps_seen_pub.publish(Int64(data=self.core.total_steps_seen))
            self.rejected_pub.publish(Int64(data=self.core.assembler.rejected))
            metrics = {name: float(value) for name, value in self.last_metrics.items()}  # the host sync
            for name in ("q_loss", "policy_loss", "alpha"):
                if name in metrics:
                    self.progress[name].publish(Float64(data=metrics[name]))
            self._publish_progress_marker()
            self._report_scalars(metrics)
            self.get_logger().info(
                f"env_steps={self.core.env_steps} updates={self.core.scheduler.updates_done} "
                f"episodes={len(episodes)} success_rate={self.core.success_rate():.2f} "
                f"rejected={self.core.assembler.rejected} abandoned={self.core.assembler.abandoned} "
                f"commands={self.commands_sent} seen={self.core.total_steps_seen} "
                + " ".join(
                    f"{k}={float(v):.3g}"
                    for k, v in self.last_metrics.items()
                    if k in ("q_loss", "policy_loss", "alpha")
                )
            )

    def _report_scalars(self, metrics: dict[str, float]) -> None:
        """Losses, alpha and throughput to TensorBoard (rates over the last progress interval)."""
        now, updates = time.monotonic(), self.core.scheduler.updates_done
        then, steps_then, updates_then = self.rate_mark
        self.rate_mark = (now, self.core.env_steps, updates)
        if self.reporter is None:
            return
        elapsed = max(now - then, 1e-9)
        rates = {
            "env_steps_per_s": (self.core.env_steps - steps_then) / elapsed,
            "updates_per_s": (updates - updates_then) / elapsed,
        }
        self.reporter.scalars(self.core.env_steps, {**metrics, **rates})

    def _publish_progress_marker(self) -> None:
        """Training progress as a text in RViz (the numbers are also on the ~/ topics, for plotting)."""
        if self.progress_marker_pub.get_subscription_count() == 0:
            return
        marker = Marker(type=Marker.TEXT_VIEW_FACING, action=Marker.ADD, ns="progress", id=0)
        marker.header.frame_id = "world"
        marker.header.stamp = self.get_clock().now().to_msg()
        marker.pose.position.x, marker.pose.position.z, marker.pose.orientation.w = 0.5, 1.7, 1.0
        marker.scale.z = 0.06
        marker.color.r = marker.color.g = marker.color.b = marker.color.a = 1.0
        last = self.core.episodes[-1].episode_return if self.core.episodes else float("nan")
        marker.text = (
            f"env steps {self.core.env_steps}  episodes {len(self.core.episodes)}  "
            f"success {self.core.success_rate():.0%}  last return {last:.2f}"
        )
        self.progress_marker_pub.publish(MarkerArray(markers=[marker]))

    def _check_finish(self) -> None:
        total = self.settings.total_steps
        if self.finished or not total or self.core.env_steps < total:
            return
        if self.eval_future is not None:  # a periodic evaluation at the last step: let it finish
            return
        self.finished = True
        self.core.learning = False
        ok, message = self._save()
        self.get_logger().info(
            f"reached total_steps={total}: checkpoint {'saved to ' if ok else 'failed: '}{message}"
        )
        if self.settings.on_finish == "exit":
            self.exit_code = 0
        elif self.settings.on_finish == "evaluate_and_exit":
            self.self_eval = True
            self._select_best_policy()
            self._start_eval("final", self.settings.eval_episodes)

    def _after_self_eval(self) -> None:
        if not self.self_eval or self.eval_future is not None:
            return
        ok, message = self.eval_outcome or (False, "no evaluation result")
        self.self_eval = False
        if ok:  # which policy was measured, and every env step the run took (evaluations too)
            result = {
                **json.loads(message),
                **self.final_policy,
                "env_steps": self.core.env_steps,
                "steps_seen": self.core.total_steps_seen,
                "updates": self.core.scheduler.updates_done,
                "wall_s": round(time.monotonic() - self.started, 1),
            }
            message = json.dumps(result)
        if self.settings.result_file:
            path = Path(self.settings.result_file)
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(path.suffix + ".tmp")
            temporary.write_text(message if ok else json.dumps({"error": message}))
            temporary.replace(path)
        self.exit_code = 0 if ok else 1

    def loop(self) -> int:
        executor = make_executor(self)
        last_match = 0.0
        while rclpy.ok() and self.exit_code is None:
            busy = self.buffer is not None and self.core.updates_due(len(self.buffer)) > 0
            executor.spin_once(timeout_sec=0.0 if busy else 0.02)
            now = time.monotonic()
            if now - last_match > 0.1:
                self._refresh_matching()
                last_match = now
            self._send_actions(now)
            self._handle_eval(now)
            self._handle_stalls(now)
            self._maybe_periodic_eval()
            self._learn()
            self._publish_progress()
            every = self.settings.checkpoint_every
            if every and self.core.env_steps - self.last_checkpoint_step >= every:
                ok, message = self._save()
                if not ok:
                    self.get_logger().error(message)
            self._check_finish()
            self._after_self_eval()
        return self.exit_code or 0

    def close(self) -> None:
        if self.eval_future is not None and not self.eval_future.done():
            self.eval_future.set_result((False, "agent shutting down"))
        if self.reporter is not None:
            if self.curve is not None and len(self.curve):
                self.reporter.plot(self.curve, title=f"agent_node, seed {self.settings.seed}")
            self.reporter.close()
        # One parseable line with the final counts (bench/load.py compares commands sent with steps seen).
        print(f"[agent_node] final counters: {json.dumps(self._counters())}", file=sys.stderr, flush=True)


def main(args: list[str] | None = None) -> int:
    return run_node(AgentNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
