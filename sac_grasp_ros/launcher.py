"""`sac-grasp train|test|worker|deploy`: start the ROS graph as processes where `ros2 launch` is missing.

The nodes come from `graph.arguments.node_specs`, the same translation the launch files use. Each runs
as `python -m sac_grasp_ros.nodes.<node> --ros-args -r __ns:=... -r __node:=... --params-file F`;
the launcher supervises them (respawns workers that die), forwards SIGINT/SIGTERM as SIGTERM and
shuts everything down cleanly. It also prepares the environment a pip venv needs: a writable
ROS_LOG_DIR, AMENT_PREFIX_PATH including the venv, and optionally a private ROS_DOMAIN_ID.

The graph ends as under `ros2 launch` (graph.lifetime.graph_end_reason): when the agent (deploy: the
policy node) exits, or a node that is not respawned dies; the exit status is ros2 launch's too: 0 when
that node finished cleanly, 1 when it failed (its log is named), 0 after Ctrl-C or SIGTERM (every
node stopped cleanly); bad arguments, config or policy give 2 before anything starts (ros2 launch: 1).

train: ends when the agent exits (config on_finish=evaluate_and_exit: its evaluation JSON, written
to <out>/result.json, is printed as the last line). test: one worker + the agent in deployment
mode with a trained policy; the launcher calls /evaluate itself and prints the JSON.
worker: simulator workers only, until interrupted. deploy: policy_node driving a velocity
controller (played by one realtime simulator at the root namespace), until interrupted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Annotated, Any, ClassVar

import tyro
import yaml

from sac_grasp_ros import paths
from sac_grasp_ros.command_line import IfGiven, usage_error
from sac_grasp_ros.command_line import parse as parse_options
from sac_grasp_ros.graph.arguments import VIEW_PORT, LaunchArguments, node_specs, prepare_run
from sac_grasp_ros.graph.lifetime import die_with_parent, graph_end_reason
from sac_grasp_ros.graph.protocol import StepMode
from sac_grasp_ros.graph.spec import DEPLOY_COMMAND_TOPIC, ROLES, NodeSpec, Role, params_file_content
from sac_grasp_ros.run_summary import bin_dir, training_summary


def _stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


@dataclass
class GraphOptions:
    """Start a graph (the options every role has; names as the `LaunchArguments` fields)."""

    role: ClassVar[Role]
    config: IfGiven[str | None] = None
    """graph config YAML (default: config/train.yaml)"""
    num_workers: IfGiven[int | None] = None
    """simulator workers (overrides graph.num_workers)"""
    seed: IfGiven[int | None] = None
    """base seed (overrides graph.seed)"""
    out: IfGiven[str | None] = None
    """output directory: logs, parameter files, checkpoints, result.json (default: runs/<role>-<time>)"""
    domain_id: IfGiven[int | None] = None
    """ROS_DOMAIN_ID for all nodes (0..232; default: the environment's)"""
    localhost: bool = False
    """ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST"""
    timeout: float = 0.0
    """give up after this many seconds (0: never)"""
    step_mode: IfGiven[StepMode | None] = None
    """simulator step_mode override (default: the config's)"""


@dataclass
class LiveViewOptions(GraphOptions):
    """The options of a role that can serve the live view (train, test, deploy)."""

    view: bool = False
    """serve the live view in a browser (view_node)"""
    view_port: IfGiven[int | None] = None
    """HTTP port of the live view (default: 8080)"""


@dataclass
class TrainOptions(LiveViewOptions):
    """Train through the ROS 2 graph: simulator workers and the agent, from a config in config/."""

    role: ClassVar[Role] = "train"
    quick: bool = False
    """short run on config/train_quick.yaml, on this host only (README)"""
    total_steps: IfGiven[int | None] = None
    """env steps to train (overrides the agent's total_steps)"""
    remote_workers: IfGiven[int | None] = None
    """also drive N workers of other hosts (`sac-grasp worker --first-index <num_workers>` there)"""
    eval_episodes: IfGiven[int | None] = None
    """episodes of the final evaluation (overrides the agent's eval_episodes)"""
    progress: Annotated[bool, tyro.conf.arg(help_behavior_hint="(default: when stderr is a terminal)")] = (
        field(default_factory=_stderr_is_terminal)
    )
    """progress bar from the agent's topics"""


@dataclass
class TestOptions(LiveViewOptions):
    """Evaluate a trained policy on one simulator worker through the ROS 2 graph; print the JSON."""

    role: ClassVar[Role] = "test"
    config: IfGiven[str | None] = None
    """graph config YAML (default: config/test.yaml)"""
    policy: IfGiven[str | None] = None
    """policy checkpoint directory (default: models/sawyer_grasp_sac)"""
    eval_episodes: IfGiven[int | None] = None
    """episodes to evaluate (overrides the agent's eval_episodes)"""
    video: Annotated[IfGiven[str | None], tyro.conf.arg(metavar="DIR")] = None
    """write a GIF of each evaluation episode to DIR"""
    record: Annotated[IfGiven[str | None], tyro.conf.arg(metavar="DIR")] = None
    """record the workers' topics to DIR/evaluation.mcap"""


@dataclass
class WorkerOptions(GraphOptions):
    """Run simulator workers only, for an agent on another host of the same ROS domain."""

    role: ClassVar[Role] = "worker"
    first_index: IfGiven[int | None] = None
    """index of the first worker (other hosts: other ranges; overrides graph.first_index)"""


@dataclass
class DeployOptions(LiveViewOptions):
    """Drive a ros2_control velocity controller with a trained policy (a simulator plays the robot)."""

    role: ClassVar[Role] = "deploy"
    config: IfGiven[str | None] = None
    """graph config YAML (default: config/deploy.yaml)"""
    policy: IfGiven[str | None] = None
    """checkpoint directory or exported policy.pt (default: models/sawyer_grasp_sac)"""
    command_topic: IfGiven[str | None] = None
    """velocity controller command topic (default: the config's)"""
    episodes: int = 0
    """stop after N whole episodes of the simulated robot, print their success as JSON (0: run on)"""


ROLE_OPTIONS: dict[str, type[GraphOptions]] = {
    options.role: options for options in (TrainOptions, TestOptions, WorkerOptions, DeployOptions)
}
"""The options of each role (`sac-grasp <role> --help`)"""
DEFAULT_CONFIG = {"train": "train", "test": "test", "worker": "train", "deploy": "deploy"}
"""The config/ file each role starts from without --config"""


def parse_args(argv: list[str]) -> GraphOptions:
    """The options of one role (argv[0]), with the defaults that depend on others (--quick) filled in."""
    if not argv or argv[0] not in ROLES:
        usage_error("sac-grasp", f"expected a role, one of {{{','.join(ROLES)}}}, got {argv[:1]}")
    role = argv[0]
    prog = f"sac-grasp {role}"
    args = parse_options(ROLE_OPTIONS[role], argv[1:], prog)
    if isinstance(args, TrainOptions) and args.quick:
        args.config = args.config or str(paths.config_file("train_quick"))
        args.localhost = True
        if args.domain_id is None:
            args.domain_id = 100 + os.getpid() % 100  # away from the default domain 0 of a ROS install
    args.config = args.config or str(paths.config_file(DEFAULT_CONFIG[role]))
    if args.domain_id is not None and not 0 <= args.domain_id <= 232:
        usage_error(prog, f"--domain-id must be in 0..232, got {args.domain_id}")
    if isinstance(args, DeployOptions) and args.episodes < 0:
        usage_error(prog, f"--episodes must be >= 0, got {args.episodes}")
    return args


def node_environment(out: Path, domain_id: int | None, localhost: bool) -> dict[str, str]:
    """Environment for the node processes (rclpy from a pip venv needs these to start)."""
    env = dict(os.environ)
    home = Path(env.get("HOME", "/nonexistent"))
    if "ROS_LOG_DIR" not in env and not (os.access(home, os.W_OK) and "ROS_HOME" not in env):
        env["ROS_LOG_DIR"] = str((out / "ros_log").resolve())
    prefixes = [p for p in env.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    if sys.prefix not in prefixes:
        prefixes.append(sys.prefix)
    env["AMENT_PREFIX_PATH"] = os.pathsep.join(prefixes)
    if domain_id is not None:
        env["ROS_DOMAIN_ID"] = str(domain_id)
    if localhost:
        env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def node_command(spec: NodeSpec, params_file: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        spec.module,
        "--ros-args",
        "-r",
        f"__ns:={spec.namespace}",
        "-r",
        f"__node:={spec.name}",
        *[arg for source, target in spec.remappings.items() for arg in ("-r", f"{source}:={target}")],
        "--params-file",
        str(params_file),
    ]


@dataclass
class Supervised:
    """One node process and what is needed to restart it."""

    spec: NodeSpec
    command: list[str]
    log_path: Path
    process: subprocess.Popen | None = None
    log: IO[bytes] | None = None
    restart_at: float | None = None
    restarts: int = 0
    exit_codes: list[int] = field(default_factory=list)


class Supervisor:
    """Starts, watches, respawns and stops the node processes."""

    def __init__(self, specs: list[NodeSpec], out: Path, env: dict[str, str]) -> None:
        self.env = env
        self.nodes: list[Supervised] = []
        params_dir = out / "params"
        logs_dir = out / "logs"
        params_dir.mkdir(parents=True, exist_ok=True)
        logs_dir.mkdir(parents=True, exist_ok=True)
        for spec in specs:
            label = spec.fqn.strip("/").replace("/", "__")
            params_file = params_dir / f"{label}.yaml"
            params_file.write_text(yaml.safe_dump(params_file_content(spec), sort_keys=False))
            self.nodes.append(Supervised(spec, node_command(spec, params_file), logs_dir / f"{label}.log"))
        self.stopping = False

    def start(self, node: Supervised) -> None:
        node.log = open(node.log_path, "ab")  # noqa: SIM115 - kept open for the process's lifetime
        # A new session: a terminal's Ctrl-C reaches only the launcher, which then stops the nodes
        # in order (and does not mistake their exit for a crash to respawn). A launcher killed outright
        # (SIGKILL, a CI timeout) takes its nodes along instead of leaving them running.
        node.process = subprocess.Popen(
            node.command,
            stdout=node.log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        node.restart_at = None

    def start_all(self) -> None:
        for node in self.nodes:
            self.start(node)

    def poll(self) -> list[Supervised]:
        """Respawn what should be respawned; returns nodes that exited for good since the last poll."""
        ended = []
        now = time.monotonic()
        for node in self.nodes:
            if node.process is None:
                if node.restart_at is not None and now >= node.restart_at and not self.stopping:
                    node.restarts += 1
                    print(f"[launcher] respawning {node.spec.fqn} (restart {node.restarts})", file=sys.stderr)
                    self.start(node)
                continue
            code = node.process.poll()
            if code is None:
                continue
            node.exit_codes.append(code)
            node.process = None
            if node.log:
                node.log.close()
            # An agent that finished (exit 0) is done; one that crashed is respawned and resumes.
            crashed = code != 0 or node.spec.executable != "agent_node"
            if node.spec.respawn and not self.stopping and crashed:
                print(f"[launcher] {node.spec.fqn} exited with {code}; see {node.log_path}", file=sys.stderr)
                node.restart_at = now + node.spec.respawn_delay
            else:
                ended.append(node)
        return ended

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to every node, then SIGKILL to those still alive after `grace` seconds."""
        self.stopping = True
        running = [n for n in self.nodes if n.process is not None and n.process.poll() is None]
        for node in running:
            node.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for node in running:
            try:
                node.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"[launcher] {node.spec.fqn} ignored SIGTERM: killed", file=sys.stderr)
                node.process.kill()
                node.process.wait()
        for node in self.nodes:
            if node.log and not node.log.closed:
                node.log.close()


def adopt_ros_environment(env: dict[str, str]) -> None:
    """Give this process the nodes' ROS settings before it talks to them (same domain, log dir)."""
    for name in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "ROS_LOG_DIR", "AMENT_PREFIX_PATH"):
        if name in env:
            os.environ[name] = env[name]


def start_progress_monitor(args: TrainOptions, specs: list[NodeSpec], env: dict[str, str]) -> Any:
    """The training progress bar (`--progress`; default: when stderr is a terminal), or None."""
    if not args.progress:
        return None
    total = next((int(s.parameters.get("total_steps", 0)) for s in specs if s.executable == "agent_node"), 0)
    adopt_ros_environment(env)
    from sac_grasp_ros.nodes.progress_monitor import ProgressMonitor

    return ProgressMonitor(total)


def start_episode_monitor(args: GraphOptions, specs: list[NodeSpec], env: dict[str, str]) -> Any:
    """deploy --episodes N: the simulated robot's episodes under the policy, counted from its step
    topic (or None without --episodes)."""
    if not isinstance(args, DeployOptions) or not args.episodes:
        return None
    sim = next(s for s in specs if s.executable == "sim_node")
    policy = next(s for s in specs if s.executable == "policy_node")
    command_topic = str(policy.parameters.get("command_topic", DEPLOY_COMMAND_TOPIC))
    adopt_ros_environment(env)
    from sac_grasp_ros.nodes.episode_monitor import EpisodeMonitor

    return EpisodeMonitor(f"{sim.namespace.rstrip('/')}/step", command_topic)


def main(argv: list[str]) -> int:
    launched = time.monotonic()  # before the demonstrations are recorded: "launch to result"
    try:
        args = parse_args(argv)
        run = LaunchArguments.from_options(args)  # the options node_specs reads; out defaulted there
        out = Path(run.out)
        out.mkdir(parents=True, exist_ok=True)
        preparation = prepare_run(run)  # train: env.yaml and recorded demos, before any node starts
        specs = node_specs(run, preparation=preparation)
    except (FileNotFoundError, ValueError) as error:
        print(f"sac-grasp {argv[0] if argv else ''}: {error}", file=sys.stderr)
        return 2
    env = node_environment(out, args.domain_id, args.localhost)
    supervisor = Supervisor(specs, out, env)
    stop_signal: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        stop_signal.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    names = ", ".join(s.fqn for s in specs)
    print(
        f"[launcher] {args.role}: {names}; output in {out} (ROS_DOMAIN_ID={env.get('ROS_DOMAIN_ID', '0')})",
        file=sys.stderr,
    )
    if getattr(args, "view", False):
        port = run.view_port or VIEW_PORT
        where = f"if taken, the next free port: see {out}/logs/view.log"
        print(f"[launcher] live view: http://localhost:{port} ({where})", file=sys.stderr)
    started = time.monotonic()
    code = 0
    result_line = None
    monitor = None
    graph_end: list[str] = []

    def graph_ended() -> bool:
        """Poll the nodes (respawning workers); True once an exit ends the graph (graph_end_reason,
        as under ros2 launch), with its exit status in `code`: 0 when that node finished, else 1."""
        nonlocal code
        for node in supervisor.poll():
            returncode = node.exit_codes[-1]
            if (reason := graph_end_reason(node.spec, returncode)) is not None:
                graph_end.append(reason if returncode == 0 else f"{reason}; see {node.log_path}")
                code = 0 if returncode == 0 else 1
        return bool(graph_end)

    try:
        supervisor.start_all()
        if args.role == "train":
            monitor = start_progress_monitor(args, specs, env)
        episodes = start_episode_monitor(args, specs, env)
        monitor = monitor or episodes
        if args.role == "test":
            adopt_ros_environment(env)
            from sac_grasp_ros.nodes.evaluate_client import call_evaluate  # rclpy: only for `test`

            ok, message = call_evaluate(args.timeout or 600.0, lambda: bool(stop_signal) or graph_ended())
            if not ok and not stop_signal:
                why = graph_end[0] if graph_end else message
                print(f"[launcher] evaluation failed: {why}", file=sys.stderr)
                code = 1
            elif ok:
                result_line = message
                (out / "result.json").write_text(message)
        while args.role != "test" and not stop_signal:
            if monitor is not None:
                monitor.poll()
            if episodes is not None and episodes.tally.episodes >= args.episodes:
                summary = {**episodes.tally.summary(), "policy": run.policy_path().as_posix()}
                result_line = json.dumps(summary)
                (out / "result.json").write_text(result_line + "\n")
                print(f"[launcher] {args.episodes} episodes done", file=sys.stderr)
                break
            if graph_ended():
                print(f"[launcher] {graph_end[0]}", file=sys.stderr)
                break
            if args.timeout and time.monotonic() - started > args.timeout:
                print(f"[launcher] timeout after {args.timeout} s", file=sys.stderr)
                code = 1
                break
            time.sleep(0.1)
    finally:
        if monitor is not None:
            monitor.close()
        supervisor.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if args.role == "train" and code == 0 and not stop_signal and (out / "result.json").is_file():
        result_line = (out / "result.json").read_text().strip()
    print(f"[launcher] done in {time.monotonic() - started:.1f} s (exit {code})", file=sys.stderr)
    if result_line is not None:
        try:
            parsed = json.loads(result_line)
        except json.JSONDecodeError:
            print(result_line)
        else:
            if args.role == "train" and code == 0:
                workers = sum(spec.executable == "sim_node" for spec in specs)
                summary = training_summary(parsed, out, workers, time.monotonic() - launched, bin_dir())
                print(summary, file=sys.stderr)
            print(json.dumps(parsed))
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
