"""`sac-grasp train --in-process`: SAC on any gymnasium env id in this process, no ROS involved.

The reference path the ROS graph is compared against. Writes into --out: TensorBoard scalars,
rewards.csv, learning_curve.png, checkpoint/ (atomic, resumable with --resume), and prints one
JSON summary line on stdout (everything else goes to stderr).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym

from sac_grasp_ros.sac import SAC, ReplayBuffer, SACConfig, load_checkpoint, load_demos, save_checkpoint
from sac_grasp_ros.sac.checkpoint import META_FILE, CheckpointError
from sac_grasp_ros.sac.seeding import seed_everything
from sac_grasp_ros.training.curve import LearningCurve
from sac_grasp_ros.training.dataclass_cli import add_dataclass_arguments, dataclass_from_args
from sac_grasp_ros.training.loop import OffPolicyTrainer, TrainerCounters, env_dims, evaluate
from sac_grasp_ros.training.reporting import RunReporter, finite_or_none

LOG = logging.getLogger("sac_grasp_ros.train")
CHECKPOINT_DIR = "checkpoint"
SUMMARY_WINDOW = 100


@dataclass
class TrainConfig:
    """Run settings of the in-process trainer (the learner's own settings are in SACConfig)."""

    env: str = "Pendulum-v1"
    """gymnasium env id (sac_grasp_ros/SawyerGrasp-v0 is registered when sac_grasp_ros.envs is present)"""
    total_steps: int = 20_000
    """env steps to train for, counted from the start of the run (a resumed run continues the count)"""
    eval_episodes: int = 10
    """deterministic evaluation episodes at the end"""
    out: str | None = None
    """output directory; default runs/<env>-<seed>-<timestamp> (a resumed run: the checkpoint's run dir)"""
    checkpoint_every: int = 10_000
    """env steps between checkpoints (0: only at the end)"""
    resume: str | None = None
    """checkpoint directory (or run directory holding checkpoint/) to continue from"""
    demos: str | None = None
    """demonstration .npz mixed into each batch at --demo-ratio"""
    save_buffer: bool = True
    """store the replay buffer in checkpoints so a resumed run keeps its data"""
    progress: bool = True
    """show a tqdm progress bar on stderr"""
    tensorboard: bool = True
    """write TensorBoard scalars under <out>/tensorboard"""
    log_every: int = 1000
    """env steps between loss/speed scalars"""
    plot_every: int = 20
    """episodes between learning-curve PNG refreshes"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sac-grasp train --in-process",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_dataclass_arguments(parser, TrainConfig, "run")
    add_dataclass_arguments(parser, SACConfig, "learner (SACConfig)")
    return parser


def make_env(env_id: str) -> gym.Env:
    try:
        import sac_grasp_ros.envs  # noqa: F401  (registers sac_grasp_ros/SawyerGrasp-v0)
    except ImportError as error:
        LOG.debug("grasp env not registered: %s", error)
    try:
        return gym.make(env_id)
    except gym.error.Error as error:
        raise ValueError(f"cannot make env {env_id!r}: {error}") from error


def find_checkpoint(path: str) -> Path:
    """Accept a checkpoint directory or a run directory containing checkpoint/."""
    candidate = Path(path)
    if (candidate / META_FILE).exists() or not (candidate / CHECKPOINT_DIR / META_FILE).exists():
        return candidate
    return candidate / CHECKPOINT_DIR


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    run = dataclass_from_args(TrainConfig, args)
    try:
        sac_config = dataclass_from_args(SACConfig, args)
        return train(run, sac_config)
    except (ValueError, FileNotFoundError) as error:  # CheckpointError is a ValueError
        print(f"sac-grasp train --in-process: error: {error}", file=sys.stderr)
        return 2


def train(run: TrainConfig, sac_config: SACConfig) -> int:
    started = time.perf_counter()
    env = make_env(run.env)
    obs_dim, act_dim = env_dims(env)
    curve, counters = LearningCurve(), TrainerCounters()
    if run.resume:
        checkpoint_path = find_checkpoint(run.resume)
        loaded = load_checkpoint(checkpoint_path, device=sac_config.device)
        if (loaded.obs_dim, loaded.act_dim) != (obs_dim, act_dim):
            raise CheckpointError(
                f"{checkpoint_path}: learner is for obs_dim={loaded.obs_dim}, act_dim={loaded.act_dim}; "
                f"env {run.env} has {obs_dim}, {act_dim}"
            )
        sac, sac_config = loaded.sac, loaded.config
        LOG.info("learner settings come from the checkpoint; of the learner options only --device applies")
        buffer = ReplayBuffer(sac_config.buffer_capacity, obs_dim, act_dim, seed=sac_config.seed)
        if (checkpoint_path / "buffer.npz").exists():
            buffer.load(checkpoint_path / "buffer.npz")
        curve = LearningCurve.from_arrays(loaded.curve)
        counters = TrainerCounters.from_dict(loaded.counters)
        seed = sac_config.seed if sac_config.seed is not None else 0
        seed_everything(seed + counters.env_steps)  # fresh, reproducible streams for the continuation
        out = Path(run.out) if run.out else checkpoint_path.parent
        LOG.info(
            "resumed %s at env step %d (%d updates, %d buffered)",
            checkpoint_path,
            counters.env_steps,
            sac.num_updates,
            len(buffer),
        )
    else:
        if sac_config.seed is None:
            sac_config = dataclasses.replace(sac_config, seed=secrets.randbelow(2**31))
        seed = sac_config.seed
        sac = SAC(obs_dim, act_dim, sac_config)  # seeds python/numpy/torch
        buffer = ReplayBuffer(sac_config.buffer_capacity, obs_dim, act_dim, seed=seed)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = Path(run.out) if run.out else Path("runs") / f"{run.env.replace('/', '_')}-{seed}-{stamp}"
    env.action_space.seed(seed)
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_config.json").write_text(
        json.dumps({"run": dataclasses.asdict(run), "sac": sac_config.to_dict()}, indent=2)
    )
    demo = load_demos(run.demos, obs_dim, act_dim, seed=seed) if run.demos else None
    reporter = RunReporter(out, tensorboard=run.tensorboard, window=SUMMARY_WINDOW)
    trainer = OffPolicyTrainer(
        env=env,
        sac=sac,
        buffer=buffer,
        curve=curve,
        counters=counters,
        demo=demo,
        reporter=reporter,
        seed=seed + counters.env_steps,
        log_every=run.log_every,
        plot_every=run.plot_every,
        checkpoint_every=run.checkpoint_every,
    )

    def checkpoint() -> None:
        save_checkpoint(
            out / CHECKPOINT_DIR,
            sac,
            buffer if run.save_buffer else None,
            counters=trainer.counters.as_dict(),
            curve=curve.to_arrays(),
        )

    trainer.save_checkpoint = checkpoint
    try:
        trainer.run(run.total_steps, progress=run.progress)
    except KeyboardInterrupt:
        checkpoint()
        reporter.close()
        LOG.warning(
            "interrupted at env step %d; checkpoint saved to %s", counters.env_steps, out / CHECKPOINT_DIR
        )
        return 130
    checkpoint()
    reporter.plot(curve, title=f"{run.env} seed {seed}")

    eval_env = make_env(run.env)
    result = evaluate(eval_env, sac, run.eval_episodes, seed=seed + 1_000_000)
    eval_env.close()
    env.close()
    reporter.scalars(counters.env_steps, {"mean_return": result.mean_return}, prefix="eval")
    if result.success_rate is not None:
        reporter.scalars(counters.env_steps, {"success_rate": result.success_rate}, prefix="eval")
    reporter.close()
    summary = {
        "env": run.env,
        "seed": seed,
        "episodes": len(curve),
        "mean_return": finite_or_none(curve.mean_return(SUMMARY_WINDOW)),
        "success_rate": curve.success_rate(SUMMARY_WINDOW),
        "env_steps": counters.env_steps,
        "num_updates": sac.num_updates,
        "wall_s": round(time.perf_counter() - started, 3),
        "train_wall_s": round(counters.wall_s, 3),
        "eval_episodes": len(result.returns),
        "eval_mean_return": finite_or_none(result.mean_return),
        "eval_success_rate": result.success_rate,
        "out": str(out),
    }
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
