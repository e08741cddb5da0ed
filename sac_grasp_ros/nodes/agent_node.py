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
training decision is the session's, the workers' bookkeeping the `WorkerPool`'s, an evaluation's
stages the `EvaluationRunner`'s (graph/); this node translates between them and ROS, with the
per-worker links in `agent_links` and the progress topics in `agent_progress`.
The loop is hand-driven (`spin_once`): act, then at most `max_updates_per_loop` updates, so the
workers simulate while the agent learns.
"""

from __future__ import annotations

import array
import json
import sys
import time
from typing import Any

import rclpy
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.task import Future
from std_msgs.msg import Float64MultiArray
from std_srvs.srv import SetBool, Trigger

from sac_grasp_ros.graph.evaluation import EvaluationResult, EvaluationRunner
from sac_grasp_ros.graph.workers import WorkerPool, WorkerPoolSettings
from sac_grasp_ros.nodes import common
from sac_grasp_ros.nodes.agent_links import WorkerLinks
from sac_grasp_ros.nodes.agent_progress import ProgressTopics
from sac_grasp_ros.nodes.common import StartupError
from sac_grasp_ros.nodes.params import apply_parameter_changes, declare_dataclass
from sac_grasp_ros.nodes.step_messages import read_step
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
        self.links = WorkerLinks(self, self.worker_names, self._on_step)
        self.active: set[str] = set()
        self.started_at = time.monotonic()
        self.all_joined = False
        """False until every configured worker is connected or JOIN_WAIT has passed: DDS matches
        workers seconds apart at times, and the first ones would otherwise train alone."""
        self.progress = ProgressTopics(self)
        self.create_service(Trigger, "/evaluate", self._on_evaluate)
        self.create_service(SetBool, "/train", self._on_train)
        self.create_service(Trigger, "/save", self._on_save)
        self.create_service(Trigger, "/load", self._on_load)
        self.evaluations = EvaluationRunner(self.pool, self.links.reset, self._evaluated, self.get_logger())
        self.eval_callers = 0  # /evaluate requests not answered yet
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
        self.progress.restart(len(self.session.curve), self.pool.snapshot().steps_seen)

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
        try:
            step = read_step(msg)
            # The first message builds the learner (demo stages).
            self.session.build(len(step.observation), len(step.action))
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
        """No caller is refused for being second (graph.evaluation says how callers share)."""
        # Coroutine callback: the executor keeps spinning (the loop drives the episodes) and resumes
        # this when the runner answers.
        self.eval_callers += 1
        try:
            answer = Future()
            self.evaluations.request(self.session.config.eval_episodes, answer.set_result)
            result = await answer
            response.success, response.message = result.ok, result.message
        finally:
            self.eval_callers -= 1
        return response

    def _evaluated(self, result: EvaluationResult) -> None:
        """A periodic evaluation is the session's to record; the final one is the run's result."""
        if result.kind == "periodic":
            if result.ok:
                self.session.record_evaluation(result.summary)
                rate = float(result.summary["success_rate"] or 0.0)
                self.progress.evaluation(rate)
            else:
                self.session.evaluation_failed(result.reason)
        elif result.kind == "final":
            steps_seen = self.pool.snapshot().steps_seen
            self.exit_code, _ = self.session.result(result.ok, result.outcome, steps_seen=steps_seen)

    # -- the loop --------------------------------------------------------------------------------
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
            self.links.publish_command(name, command)

    def _handle_stalls(self, now: float) -> None:
        for name in self.pool.stall_resets_due(now):
            if self.links.reset(name, lambda message, name=name: self.pool.stall_reset_answered(name)):
                timeout = self.pool.settings.stall_timeout
                self.get_logger().warning(f"/{name} did not answer a command for {timeout} s: reset")
                self.pool.stall_reset_sent(name)

    def _drive_training(self) -> None:
        """The session's decisions, in its order: evaluate when due, learn, checkpoint, finish."""
        session = self.session
        if self.evaluations.running:
            return
        if session.evaluation_due():
            self.evaluations.start("periodic", session.config.periodic_eval_episodes)
            return
        session.learn()
        if session.checkpoint_due():
            session.checkpoint(self.pool.counters())
        if session.finish_due() and self.active:  # the final evaluation needs a worker to run on
            then = session.finish(self.pool.counters())
            if then == "exit":
                self.exit_code = 0
            elif then == "evaluate":
                self.evaluations.start("final", session.config.eval_episodes)

    def loop(self) -> int:
        executor = common.make_executor(self)
        last_match = 0.0
        while rclpy.ok() and self.exit_code is None and not self.stop_requested:
            executor.spin_once(timeout_sec=0.0 if self.session.updates_due() > 0 else 0.02)
            if time.monotonic() - last_match > 0.1:
                self.active = self.links.connected()
                last_match = time.monotonic()
            self._drive_training()
            # Read the clock after the training step: it can block for seconds (a checkpoint with a
            # 100k-transition buffer takes ~7 s), and a time from before it made the final
            # evaluation's resets look stall_timeout old the moment they were sent.
            now = time.monotonic()
            self._send_actions(now)
            self.evaluations.tick(now)
            self._handle_stalls(now)
            self.progress.publish(self.session, self.pool.snapshot())
        self.evaluations.abort("agent shutting down")
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
        self.evaluations.abort("agent shutting down")
        self.session.close()
        # One parseable line with the final counts (bench/load.py compares commands sent with steps seen).
        counters = json.dumps({**self.session.counters(), **self.pool.counters()})
        print(f"[agent_node] final counters: {counters}", file=sys.stderr, flush=True)


def main(args: list[str] | None = None) -> int:
    return common.run_node(AgentNode, args, graceful_stop=True)


if __name__ == "__main__":
    raise SystemExit(main())
