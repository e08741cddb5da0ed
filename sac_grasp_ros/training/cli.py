"""`sac-grasp train --in-process`: the trainer the agent node runs, on a gymnasium env in this process.

With `--config config/train.yaml` it runs the recipe the ROS graph runs, from the same file: the env
from the `sim_node` block, the trainer from `agent_node`, the learner from `agent_node.sac`, the
demonstrations from `graph.demos`, the seed from `graph.seed`; flags override the file. Without a
config: SAC on any gymnasium env id. Writes into --out: TensorBoard scalars, rewards.csv,
learning_curve.png, eval_curve.csv/png, checkpoint/ (resumable with --resume), and prints one JSON
summary line on stdout (everything else goes to stderr). The command line is generated from the
config dataclasses by tyro.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import tyro

from sac_grasp_ros.command_line import IfGiven, option_value
from sac_grasp_ros.command_line import parse as parse_options
from sac_grasp_ros.envs.config import GraspEnvConfig
from sac_grasp_ros.sac import SACConfig
from sac_grasp_ros.sac.checkpoint import META_FILE
from sac_grasp_ros.training.config import TrainingConfig
from sac_grasp_ros.training.reporting import SUCCESS_WINDOW, finite_or_none, run_reporter
from sac_grasp_ros.training.session import TrainingSession

LOG = logging.getLogger("sac_grasp_ros.train")
CHECKPOINT_DIR = "checkpoint"
GRASP_ENV = "sac_grasp_ros/SawyerGrasp-v0"


def _in_process_defaults() -> TrainingConfig:
    return TrainingConfig(
        total_steps=20_000, on_finish="evaluate_and_exit", checkpoint_every=10_000, progress_every=1000
    )


@dataclass
class InProcessTraining:
    """Train SAC in this process (no ROS): the same TrainingSession as the agent node."""

    trainer: Annotated[TrainingConfig, tyro.conf.OmitArgPrefixes] = field(
        default_factory=_in_process_defaults
    )
    sac: SACConfig = field(default_factory=SACConfig)
    sim: GraspEnvConfig = field(default_factory=GraspEnvConfig)
    """settings of the grasp env (used when --env is the grasp env)"""
    env: str = "Pendulum-v1"
    """gymnasium env id (sac_grasp_ros/SawyerGrasp-v0 is the grasp task)"""
    config: IfGiven[str | None] = None
    """graph config YAML (e.g. config/train.yaml) to take env, trainer, learner, demos and seed from"""
    out: IfGiven[str | None] = None
    """output directory (default: runs/<env>-<seed>-<timestamp>)"""
    progress: bool = True
    """show a tqdm progress bar on stderr"""


def defaults_from_config(path: str) -> InProcessTraining:
    """The graph config's settings as in-process defaults (one source of truth for both paths)."""
    from sac_grasp_ros.graph.spec import graph_config, load_config, node_parameters
    from sac_grasp_ros.graph.workers import WorkerPoolSettings

    config = load_config(path)
    agent = node_parameters(config, "agent_node")
    sac_values = agent.pop("sac", {}) or {}
    pool_fields = {f.name for f in dataclasses.fields(WorkerPoolSettings)}
    trainer_values = {k: v for k, v in agent.items() if k not in pool_fields}
    try:
        trainer_values.setdefault("seed", graph_config(config).seed)
        return InProcessTraining(
            trainer=TrainingConfig.from_dict(trainer_values),
            sac=SACConfig.from_dict(sac_values),
            sim=GraspEnvConfig.from_node_parameters(node_parameters(config, "sim_node")),
            env=GRASP_ENV,
            config=path,
        )
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path}: {error}") from error


def parse(argv: list[str]) -> InProcessTraining:
    """The options: the config file's settings (`--config`, read first) overridden by the flags. A
    null of the config files is a value here too (`--sac.target-entropy None`)."""
    config = option_value(argv, "--config")
    default = defaults_from_config(config) if config else None
    return parse_options(InProcessTraining, argv, "sac-grasp train --in-process", default, config=())


def make_env(args: InProcessTraining, seed: int) -> Any:
    import gymnasium as gym

    import sac_grasp_ros.envs  # noqa: F401  (registers the grasp env)

    try:
        if args.env == GRASP_ENV:
            return gym.make(args.env, config=dataclasses.replace(args.sim, seed=seed))
        return gym.make(args.env)
    except gym.error.Error as error:
        raise ValueError(f"cannot make env {args.env!r}: {error}") from error


def prepare(args: InProcessTraining, out: Path) -> TrainingConfig:
    """Output paths under `out`, and for a graph config what `sac-grasp train` prepares too: env.yaml
    for the checkpoints and the recorded graph.demos."""
    trainer = dataclasses.replace(
        args.trainer,
        report_dir=str(out),
        checkpoint_dir=str(out / CHECKPOINT_DIR),
        result_file=args.trainer.result_file or str(out / "result.json"),
    )
    if args.trainer.resume and not (out / CHECKPOINT_DIR / META_FILE).exists():
        raise ValueError(f"--resume: no checkpoint directory {out / CHECKPOINT_DIR} (train with --out first)")
    if args.config and args.env == GRASP_ENV:  # a resumed run too: its checkpoints carry env.yaml
        from sac_grasp_ros.graph.prepare import prepare_training
        from sac_grasp_ros.graph.spec import load_config

        sim = dataclasses.asdict(args.sim)
        prepared = prepare_training(load_config(args.config), out, {"seed": trainer.seed}, sim)
        trainer.env_file = str(prepared.env_file)
        if prepared.demo_file is not None and not args.trainer.demo_file:
            trainer.demo_file = str(prepared.demo_file)
    return trainer


def run(args: InProcessTraining) -> dict[str, Any]:
    """Train, evaluate, and return the summary printed as the last line."""
    from sac_grasp_ros.training import gym_loop

    started = time.perf_counter()
    seed = args.trainer.seed
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else Path("runs") / f"{args.env.replace('/', '_')}-{seed}-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    trainer = prepare(args, out)
    session = TrainingSession(trainer, args.sac, LOG, run_reporter(trainer, "in-process"))
    (out / "train_config.json").write_text(
        json.dumps(
            {"env": args.env, "trainer": dataclasses.asdict(trainer), "sac": session.sac_config.to_dict()},
            indent=2,
        )
    )
    env, eval_env = make_env(args, seed), make_env(args, seed + gym_loop.EVAL_SEED_OFFSET)
    try:
        session.start()  # a resumed run logs where it goes on from; its learner settings are the checkpoint's
        env.action_space.seed(seed)
        result = gym_loop.train(session, env, eval_env, seed, progress=args.progress) or {}
    finally:
        session.close()
        env.close()
        eval_env.close()
    curve = session.curve
    return {
        "env": args.env,
        "seed": seed,
        "episodes": len(curve),
        "mean_return": finite_or_none(curve.mean_return(SUCCESS_WINDOW)),
        "success_rate": curve.success_rate(SUCCESS_WINDOW),
        "env_steps": session.env_steps,
        "num_updates": session.updates_done,
        "wall_s": round(time.perf_counter() - started, 3),
        "eval_episodes": result.get("episodes", 0),
        "eval_mean_return": finite_or_none(result.get("mean_return")),
        "eval_success_rate": result.get("success_rate"),
        "policy": result.get("policy", "last"),
        "stages": session.stages,
        "out": str(out),
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        summary = run(parse(argv))
    except (ValueError, FileNotFoundError) as error:  # CheckpointError is a ValueError
        print(f"sac-grasp train --in-process: error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
