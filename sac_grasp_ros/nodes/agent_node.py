"""SAC agent node: a ROS adapter between N simulator workers and one `TrainingSession`.

Interfaces (the node runs at the root namespace; worker topics are /<worker>/...):
- sub `/<worker>/step` (protocol.StepMessage in a Float64MultiArray), pub
  `/<worker>/velocity_controller/commands` (joint velocities, rad/s), client `/<worker>/reset`.
- srv `/evaluate` (std_srvs/Trigger): deterministic episodes on freshly reset workers, learning
  paused, nothing stored; message = JSON {episodes, success_rate, mean_return, mean_length}. A
  caller during a running /evaluate (or the final evaluation) gets its result; during a periodic
  evaluation, an evaluation of its own after it. Nobody is refused for being second.
- srv `/train` (std_srvs/SetBool): learning on/off (off: the workers are driven by the
  deterministic policy, nothing is stored); `/save`, `/load` (std_srvs/Trigger): checkpoint
  in `checkpoint_dir`; failures come back as success=false with the reason.
- pub `~/episode_return`, `~/success_rate`, `~/q_loss`, `~/policy_loss`, `~/alpha`,
  `~/eval_success_rate` (each periodic evaluation, eval_every), `~/env_steps` (transitions stored),
  `~/steps_seen` (all steps, also when not learning), `~/progress_markers` (RViz text),
  `~/rejected_steps` (step messages that completed no transition: duplicate, stale, gap, aborted;
  also saved with the checkpoint counters, with episodes cut short by a worker crash or reset).

Parameters: the `TrainingConfig` fields (what the trainer does), the `WorkerPoolSettings` fields
(which workers, and their pacing) and `sac.<SACConfig field>` (docs/configuration.md). Every
training decision is the session's; this node moves messages and drives evaluations on the workers.
The loop is hand-driven (`spin_once`): act, then at most `max_updates_per_loop` updates, so the
workers simulate while the agent learns.
"""

from __future__ import annotations

import array
import json
import sys
import time
from functools import partial
from typing import Any

import rclpy
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.task import Future
from std_msgs.msg import Float64, Float64MultiArray, Int64
from std_srvs.srv import SetBool, Trigger
from visualization_msgs.msg import Marker, MarkerArray

from sac_grasp_ros.graph import protocol
from sac_grasp_ros.graph.workers import Phase, WorkerPool, WorkerPoolSettings
from sac_grasp_ros.nodes import common
from sac_grasp_ros.nodes.common import StartupError
from sac_grasp_ros.nodes.params import apply_parameter_changes, declare_dataclass
from sac_grasp_ros.sac import SACConfig
from sac_grasp_ros.training.config import TrainingConfig
from sac_grasp_ros.training.reporting import run_reporter
from sac_grasp_ros.training.session import TrainingSession

REPLY_LINGER = 0.3
"""s the agent stays up after its last /evaluate replies, so a reliable reply is delivered, not dropped"""
POOL_RUNTIME_SETTABLE = {"eval_timeout"}
"""WorkerPoolSettings parameters that take effect when changed at run time"""
RUNTIME_SETTABLE = {
    "eval_episodes", "checkpoint_dir", "checkpoint_every", "save_buffer", "progress_every",
    "max_updates_per_loop", "eval_every", "periodic_eval_episodes", "plot_every",
}  # fmt: skip
"""TrainingConfig parameters that take effect when changed at run time (`ros2 param set`)"""


JOIN_WAIT = 10.0
"""s the agent waits at start for every configured worker to connect before the first command."""


class AgentNode(Node):
    """The SAC agent (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__("agent_node")
        try:
            config = TrainingConfig(**declare_dataclass(self, TrainingConfig))
            pool_settings = WorkerPoolSettings(**declare_dataclass(self, WorkerPoolSettings))
            pool_settings.validate()
            sac_config = SACConfig.from_dict(declare_dataclass(self, SACConfig, prefix="sac."))
            reporter = run_reporter(config, "agent_node")
            self.session = TrainingSession(config, sac_config, self.get_logger(), reporter)
        except (ValueError, TypeError) as error:
            raise StartupError(f"agent_node: invalid parameters: {error}") from error
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.pool = WorkerPool(self.session, pool_settings)
        self.worker_names = list(self.pool.workers)
        self.command_pubs, self.step_subs, self.reset_clients = {}, {}, {}
        for name in self.worker_names:
            topic = f"/{name}/{common.COMMAND_TOPIC}"
            self.command_pubs[name] = self.create_publisher(Float64MultiArray, topic, common.COMMAND_QOS)
            self.step_subs[name] = self.create_subscription(
                Float64MultiArray,
                f"/{name}/{common.STEP_TOPIC}",
                partial(self._on_step, name),
                common.STEP_QOS,
            )
            self.reset_clients[name] = self.create_client(Trigger, f"/{name}/{common.RESET_SERVICE}")
        self.active: set[str] = set()
        self.started_at = time.monotonic()
        self.all_joined = False
        """False until every configured worker is connected or JOIN_WAIT has passed: DDS matches
        workers seconds apart at times, and the first ones would otherwise train alone."""
        self.progress = {
            topic: self.create_publisher(Float64, f"~/{topic}", common.STATUS_QOS)
            for topic in ("episode_return", "success_rate", "q_loss", "policy_loss", "alpha")
        }
        self.progress["eval_success_rate"] = self.create_publisher(
            Float64, "~/eval_success_rate", common.RESULT_QOS
        )
        self.counts = {name: self.create_publisher(Int64, f"~/{name}", common.STATUS_QOS)
                       for name in ("env_steps", "steps_seen", "rejected_steps")}  # fmt: skip
        self.progress_marker_pub = self.create_publisher(MarkerArray, "~/progress_markers", common.STATUS_QOS)
        self.create_service(Trigger, "/evaluate", self._on_evaluate)
        self.create_service(SetBool, "/train", self._on_train)
        self.create_service(Trigger, "/save", self._on_save)
        self.create_service(Trigger, "/load", self._on_load)
        self.episodes_published = self.last_progress_step = 0
        self.eval_future: Future | None = None
        self.eval_callers = 0  # /evaluate requests not answered yet
        self.eval_kind, self.eval_started, self.eval_wanted = "", 0.0, 0
        self.eval_resets: dict[str, Future] = {}
        self.eval_resets_sent = 0.0
        self.stall_resets: dict[str, Future] = {}
        self.exit_code: int | None = None
        self.stop_requested = False  # SIGINT/SIGTERM: the loop ends, waiting callers are answered
        try:
            self.session.start()  # load_on_start (deployment) or resume
        except (ValueError, OSError) as error:
            raise StartupError(f"agent_node: {error}") from error
        self._restore_transport(self.session.checkpoint_counters)
        self.get_logger().info(
            f"agent for workers {self.worker_names}; learning={self.session.learning}, "
            f"total_steps={config.total_steps}, utd={self.session.sac_config.utd_ratio}"
        )

    def _restore_transport(self, counters: dict[str, int | float]) -> None:
        """After a load: the pool's counters and newest keys, and what was published, from the checkpoint."""
        self.pool.restore(counters)
        self.episodes_published = len(self.session.curve)
        self.last_progress_step = self.pool.total_steps_seen

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """All or nothing: the pool's and the trainer's settings change only when every value is valid."""
        pool_params = [p for p in params if p.name in POOL_RUNTIME_SETTABLE]
        trainer_params = [p for p in params if p.name not in POOL_RUNTIME_SETTABLE]
        pool, reason = apply_parameter_changes(self.pool.settings, pool_params, POOL_RUNTIME_SETTABLE)
        if pool is not None:
            settable = RUNTIME_SETTABLE | POOL_RUNTIME_SETTABLE  # named in a refusal's reason
            config, reason = apply_parameter_changes(self.session.config, trainer_params, settable)
        if pool is None or config is None:
            return SetParametersResult(successful=False, reason=reason)
        self.pool.settings = pool
        self.session.reconfigure(config)
        return SetParametersResult(successful=True)

    # -- callbacks -------------------------------------------------------------------------------
    def _on_step(self, worker: str, msg: Float64MultiArray) -> None:
        sizes = {dim.label: dim.size for dim in msg.layout.dim}
        try:
            act_dim, obs_dim = int(sizes["action"]), int(sizes["observation"])
            if act_dim < 1 or obs_dim < 1:
                raise ValueError(f"layout gives action size {act_dim}, observation size {obs_dim}")
            step = protocol.decode(msg.data, act_dim, obs_dim)
            self.session.build(obs_dim, act_dim)  # the first message builds the learner (demo stages)
        except (KeyError, ValueError) as error:
            if self.session.dims is None and self.session.config.demo_file:
                self.get_logger().fatal(f"cannot start learning: {error}")
                self.exit_code = 1
            self.get_logger().error(f"/{worker}/{common.STEP_TOPIC}: ignored a step message: {error}")
            return
        self.pool.on_step(worker, step, time.monotonic())

    def _on_train(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        self.session.learning = bool(request.data)
        response.success = True
        response.message = f"learning {'on' if request.data else 'off'} at {self.session.env_steps} env steps"
        return response

    def _on_save(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success, response.message = self.session.save(extra_counters=self.pool.counters())
        return response

    def _on_load(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success, response.message = self.session.load(self.session.config.checkpoint_dir)
        if response.success:
            self._restore_transport(self.session.checkpoint_counters)
        return response

    async def _on_evaluate(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        """No caller is refused for being second. One that comes during an /evaluate or the final
        evaluation gets that evaluation's result; during a periodic one (fewer episodes, of a policy
        still learning) it waits for it to end, then gets an evaluation of its own."""
        # Coroutine callback: the executor keeps spinning (the loop drives the episodes) and resumes
        # this when the loop completes the future.
        self.eval_callers += 1
        try:
            while self.eval_future is not None and self.eval_kind == "periodic":
                await self.eval_future
            future = self.eval_future or self._start_eval("service", self.session.config.eval_episodes)
            response.success, response.message = await future
        finally:
            self.eval_callers -= 1
        return response

    # -- evaluations on the workers --------------------------------------------------------------
    def _start_eval(self, kind: str, episodes: int) -> Future:
        """Drain, reset the workers and run `episodes` deterministic episodes (see _handle_eval)."""
        self.eval_future, self.eval_started = Future(), time.monotonic()
        self.eval_kind, self.eval_wanted = kind, episodes
        self.pool.request_eval()
        self.get_logger().info(f"{kind} evaluation of {episodes} episodes started")
        return self.eval_future

    def _handle_eval(self, now: float) -> None:
        pool, timeout = self.pool, self.pool.settings.stall_timeout
        if self.eval_future is None or pool.phase is Phase.RUN:
            return
        if now - self.eval_started > self.pool.settings.eval_timeout:
            pool.end_eval()
            self.eval_resets.clear()
            return self._finish_eval(False, f"evaluation timed out after {self.pool.settings.eval_timeout} s")
        if pool.phase is Phase.DRAIN:
            if not self.eval_resets and (pool.drained() or now - self.eval_started > timeout):
                for name in self.worker_names:
                    pool.forget_command(name)
                    if (future := self._call_reset(name)) is not None:
                        self.eval_resets[name] = future
                self.eval_resets_sent = now
            # A worker that dies after its reset was sent never answers: go on without it.
            waited_out = now - self.eval_resets_sent > timeout
            if self.eval_resets and (waited_out or all(f.done() for f in self.eval_resets.values())):
                keys = {
                    name: key for name, f in self.eval_resets.items() if (key := self._reset_key(name, f))
                }
                self.eval_resets.clear()
                if not keys:
                    pool.end_eval()
                    return self._finish_eval(False, "no worker could be reset for the evaluation")
                pool.begin_eval(self.eval_wanted, keys)
        if pool.eval_finished():
            summary = pool.end_eval()
            self.get_logger().info(f"evaluation: {json.dumps(summary)}")
            self._finish_eval(True, summary)

    def _reset_key(self, name: str, future: Future) -> tuple[int, int] | None:
        """The (session, episode) a worker's reset started; None leaves the worker out."""
        if not future.done():
            self.get_logger().error(f"/{name}/reset got no answer: worker left out of evaluation")
            return None
        try:
            reply = json.loads(future.result().message)
            return int(reply["session"]), int(reply["episode"])
        except (ValueError, KeyError, TypeError, AttributeError):
            self.get_logger().error(f"/{name}/reset gave no episode key: worker left out of evaluation")
            return None

    def _finish_eval(self, ok: bool, outcome: dict | str) -> None:
        """`outcome`: the evaluation's summary, or why it failed; callers of /evaluate get it as JSON."""
        future, self.eval_future = self.eval_future, None
        if self.eval_kind == "periodic":
            if ok:
                self.session.record_evaluation(outcome)
                rate = float(outcome["success_rate"] or 0.0)
                self.progress["eval_success_rate"].publish(Float64(data=rate))
            else:
                self.session.evaluation_failed(outcome)
        elif self.eval_kind == "final":
            self.exit_code, _ = self.session.result(ok, outcome, steps_seen=self.pool.total_steps_seen)
        if future is not None and not future.done():
            future.set_result((ok, json.dumps(outcome) if ok else outcome))

    # -- the loop --------------------------------------------------------------------------------
    def _call_reset(self, name: str) -> Future | None:
        client = self.reset_clients[name]
        return client.call_async(Trigger.Request()) if client.service_is_ready() else None

    def _send_actions(self, now: float) -> None:
        if not self.all_joined:
            if len(self.active) < len(self.worker_names) and now - self.started_at < JOIN_WAIT:
                return
            self.all_joined = True
        ready = self.pool.ready_workers(now, self.active)
        if not ready or self.session.sac is None:
            return
        for name, action in self.pool.act(ready, now).items():
            command = Float64MultiArray(data=array.array("d", self.pool.settings.command(action).tolist()))
            self.command_pubs[name].publish(command)

    def _handle_stalls(self, now: float) -> None:
        for name in self.pool.stalled_workers(now):
            if name not in self.stall_resets and (future := self._call_reset(name)) is not None:
                timeout = self.pool.settings.stall_timeout
                self.get_logger().warning(f"/{name} did not answer a command for {timeout} s: reset")
                self.stall_resets[name] = future
                self.pool.stall_resets += 1
        for name, future in list(self.stall_resets.items()):
            if future.done():
                self.pool.forget_command(name)
                del self.stall_resets[name]

    def _drive_training(self) -> None:
        """The session's decisions, in its order: evaluate when due, learn, checkpoint, finish."""
        session = self.session
        if self.eval_future is not None or self.pool.phase is not Phase.RUN:
            return
        if session.evaluation_due():
            self._start_eval("periodic", session.config.periodic_eval_episodes)
            return
        session.learn()
        if session.checkpoint_due():
            session.checkpoint(self.pool.counters())
        if session.finish_due() and self.active:  # the final evaluation needs a worker to run on
            then = session.finish(self.pool.counters())
            if then == "exit":
                self.exit_code = 0
            elif then == "evaluate":
                self._start_eval("final", session.config.eval_episodes)

    def _publish_progress(self) -> None:
        session, pool = self.session, self.pool
        if len(session.curve) > self.episodes_published:  # every loop turn: no list copy when none is new
            for record in session.curve.records[self.episodes_published :]:
                self.progress["episode_return"].publish(Float64(data=record.episode_return))
                self.progress["success_rate"].publish(Float64(data=session.success_rate()))
            self.episodes_published = len(session.curve)
        # Paced by every step seen (also while not learning), so throughput can be followed in deployment.
        if pool.total_steps_seen - self.last_progress_step < session.config.progress_every:
            return
        self.last_progress_step = pool.total_steps_seen
        for name, value in (("env_steps", session.env_steps), ("steps_seen", pool.total_steps_seen),
                            ("rejected_steps", pool.assembler.rejected)):  # fmt: skip
            self.counts[name].publish(Int64(data=value))
        metrics = session.progress()
        for name in ("q_loss", "policy_loss", "alpha"):
            if name in metrics:
                self.progress[name].publish(Float64(data=metrics[name]))
        self._publish_progress_marker()
        self.get_logger().info(
            f"env_steps={session.env_steps} updates={session.updates_done} episodes={len(session.curve)} "
            f"success_rate={session.success_rate():.2f} rejected={pool.assembler.rejected} "
            f"abandoned={pool.assembler.abandoned} commands={pool.commands_sent} "
            f"seen={pool.total_steps_seen} "
            + " ".join(f"{k}={v:.3g}" for k, v in metrics.items() if k in ("q_loss", "policy_loss", "alpha"))
        )

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
        curve = self.session.curve
        last = curve.records[-1].episode_return if len(curve) else float("nan")
        marker.text = (
            f"env steps {self.session.env_steps}  episodes {len(curve)}  "
            f"success {self.session.success_rate():.0%}  last return {last:.2f}"
        )
        self.progress_marker_pub.publish(MarkerArray(markers=[marker]))

    def _refresh_matching(self) -> None:
        # Lockstep needs both directions connected before the first command (else it is lost).
        self.active = {
            name
            for name in self.worker_names
            if self.command_pubs[name].get_subscription_count() > 0
            and self.step_subs[name].get_publisher_count() > 0
        }

    def loop(self) -> int:
        executor = common.make_executor(self)
        last_match = 0.0
        while rclpy.ok() and self.exit_code is None and not self.stop_requested:
            executor.spin_once(timeout_sec=0.0 if self.session.updates_due() > 0 else 0.02)
            if time.monotonic() - last_match > 0.1:
                self._refresh_matching()
                last_match = time.monotonic()
            self._drive_training()
            # Read the clock after the training step: it can block for seconds (a checkpoint with a
            # 100k-transition buffer takes ~7 s), and a time from before it made the final
            # evaluation's resets look stall_timeout old the moment they were sent.
            now = time.monotonic()
            self._send_actions(now)
            self._handle_eval(now)
            self._handle_stalls(now)
            self._publish_progress()
        if self.eval_future is not None and not self.eval_future.done():
            self.eval_future.set_result((False, "agent shutting down"))
        self._answer_waiting_callers(executor)
        return self.exit_code or 0

    def _answer_waiting_callers(self, executor: Any, grace: float = 2.0) -> None:
        """Every /evaluate caller gets its answer before the node exits: those that joined the final
        evaluation, and those that shared one whose first caller (`sac-grasp test`) stops the graph
        as soon as it has its own answer. Stops are graceful (the context is still up here)."""
        if not self.eval_callers:
            return
        deadline = time.monotonic() + grace
        while rclpy.ok() and self.eval_callers and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        linger = time.monotonic() + REPLY_LINGER  # the replies are sent; let DDS deliver them
        while rclpy.ok() and time.monotonic() < min(linger, deadline):
            executor.spin_once(timeout_sec=0.05)

    def close(self) -> None:
        if self.eval_future is not None and not self.eval_future.done():
            self.eval_future.set_result((False, "agent shutting down"))
        self.session.close()
        # One parseable line with the final counts (bench/load.py compares commands sent with steps seen).
        counters = json.dumps({**self.session.counters(), **self.pool.counters()})
        print(f"[agent_node] final counters: {counters}", file=sys.stderr, flush=True)


def main(args: list[str] | None = None) -> int:
    return common.run_node(AgentNode, args, graceful_stop=True)


if __name__ == "__main__":
    raise SystemExit(main())
