"""The grasp training recipe: scripted demonstrations, replay prefill and SAC with periodic evaluation.

The plain in-process trainer (`training/inprocess.py`) makes envs by id with default settings; the
learning target needs env settings (random targets, extended observation, shaped reward) and a
deterministic evaluation curve against env steps and wall time, so this module drives the learner's
`OffPolicyTrainer` directly. It imports no rclpy.

    python -m sac_grasp_ros.training.grasp_recipe --out /tmp/run --total-steps 30000 --seed 0
    python -m sac_grasp_ros.training.grasp_recipe record demos.npz --episodes 100
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sac_grasp_ros.envs.grasp_env import GraspEnv
from sac_grasp_ros.sac import ReplayBuffer, SACConfig, load_demos, save_checkpoint
from sac_grasp_ros.sac.imitation import BC_CLIP, DemoAnchoredSAC, clone_demos, pretrain_critic
from sac_grasp_ros.training.curve import LearningCurve
from sac_grasp_ros.training.dataclass_cli import add_dataclass_arguments, dataclass_from_args
from sac_grasp_ros.training.demo_recording import (
    DemoStats,
    record_demos,
    scripted_transitions,
)
from sac_grasp_ros.training.loop import OffPolicyTrainer, TrainerCounters, evaluate
from sac_grasp_ros.training.reporting import EVAL_COLUMNS, EvalCurveWriter, plot_eval_curve

__all__ = [  # the cloning stages live in sac/imitation.py, demo recording in training/demo_recording.py
    "BC_CLIP",
    "EVAL_COLUMNS",
    "DemoAnchoredSAC",
    "DemoStats",
    "EvalCurveWriter",
    "RecipeConfig",
    "clone_demos",
    "make_env",
    "plot_eval_curve",
    "pretrain_critic",
    "record_demos",
    "run_recipe",
    "scripted_transitions",
]
LOG = logging.getLogger("sac_grasp_ros.recipe")
EVAL_SEED_OFFSET = 1_000_000
"""Evaluation episodes use seeds seed + this + i: fixed targets, never the training stream's."""


def recipe_sac_config() -> dict[str, Any]:
    """SACConfig overrides of the recipe (the rest keeps the learner's defaults); see docs/learning.md."""
    return {
        "hidden_size": 256,
        "q_hidden_layers": 2,
        "policy_hidden_layers": 2,
        "batch_size": 256,
        "learning_starts": 0,
        "utd_ratio": 1.0,
        "demo_ratio": 0.25,
        "policy_lr": 1e-5,
        "autotune_alpha": False,
        "init_alpha": 0.01,
        "device": "cpu",
        "torch_threads": 1,
    }


@dataclass
class RecipeConfig:
    """One training run of the recipe (the learner's own settings are in SACConfig)."""

    total_steps: int = 30_000
    """env steps to learn for (scripted prefill episodes are not counted)"""
    eval_every: int = 5_000
    """env steps between deterministic evaluations"""
    eval_episodes: int = 50
    """episodes per evaluation (fixed target seeds, the same at every evaluation)"""
    final_eval_episodes: int = 100
    """episodes of the last evaluation"""
    demo_episodes: int = 100
    """scripted episodes recorded as demonstrations, mixed into batches at demo_ratio (0: none)"""
    prefill_episodes: int = 20
    """scripted episodes written into the replay buffer before learning (counted in the curve as 0 steps)"""
    bc_steps: int = 3000
    """behaviour-cloning gradient steps of the policy on the demonstrations before any env step
    (Gaussian negative log-likelihood of the demo actions before the tanh; 0: none)"""
    critic_pretrain_steps: int = 2000
    """critic-only SAC updates on prefill + demonstrations after cloning, so the first actor updates
    follow a critic that already values the cloned behaviour instead of a random one (0: none)"""
    bc_per_update: int = 1
    """behaviour-cloning steps on a demo batch after every SAC update: anchors the policy to the
    demonstrations while the critic is still wrong away from them (0: plain SAC fine-tuning)"""
    bc_pretrain_lr: float = 1e-3
    """Adam learning rate of the behaviour-cloning pretraining"""
    bc_lr: float = 3e-4
    """Adam learning rate of the per-update behaviour-cloning steps"""
    demos: str | None = None
    """existing demonstration .npz to use instead of recording demo_episodes"""
    observation: str = "extended"
    """env observation: original | extended"""
    reward: str = "shaped"
    """env reward: original | shaped"""
    random_target: bool = True
    """random block placement at each reset"""
    max_episode_steps: int = 100
    """env steps before truncation"""
    out: str = "runs/recipe"
    """output directory: eval_curve.csv, episodes.csv, learning_curve.png, summary.json, demos.npz,
    checkpoint/ (the learner's checkpoint format, without the replay buffer)"""


def make_env(run: RecipeConfig, seed: int) -> GraspEnv:
    return GraspEnv(
        random_target=run.random_target,
        control_mode="joint_velocity",
        observation=run.observation,
        reward=run.reward,
        max_episode_steps=run.max_episode_steps,
        seed=seed,
    )


def write_episode_csv(curve: LearningCurve, path: Path) -> None:
    arrays = curve.to_arrays()
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(list(arrays))
        for row in zip(*(values.tolist() for values in arrays.values()), strict=True):
            writer.writerow(row)


def run_recipe(run: RecipeConfig, sac_config: SACConfig) -> dict[str, Any]:
    """Train with periodic deterministic evaluation; returns (and writes) the summary."""
    started = time.perf_counter()
    seed = 0 if sac_config.seed is None else sac_config.seed
    sac_config = dataclasses.replace(sac_config, seed=seed)
    out = Path(run.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(
        json.dumps({"recipe": dataclasses.asdict(run), "sac": sac_config.to_dict()}, indent=2)
    )
    env = make_env(run, seed)
    obs_dim, act_dim = int(env.observation_space.shape[0]), int(env.action_space.shape[0])
    sac = DemoAnchoredSAC(obs_dim, act_dim, sac_config, run.bc_per_update, run.bc_lr)
    buffer = ReplayBuffer(sac_config.buffer_capacity, obs_dim, act_dim, seed=seed)

    demo = None
    scripted_steps = 0  # env steps the scripted controller took: part of the honest step budget
    demo_path = Path(run.demos) if run.demos else out / "demos.npz"
    if run.demos is None and run.demo_episodes > 0:
        # Demo targets come from a seed range disjoint from training and evaluation.
        stats = record_demos(env, run.demo_episodes, seed + 2_000_000, demo_path)
        LOG.info("recorded demos: %s", stats)
        scripted_steps += stats.transitions
    if run.demos is not None or run.demo_episodes > 0:
        demo = load_demos(demo_path, obs_dim, act_dim, seed=seed)
    if run.prefill_episodes > 0:
        arrays, stats = scripted_transitions(env, run.prefill_episodes, seed + 3_000_000)
        buffer.add_batch(
            arrays["obs"], arrays["actions"], arrays["rewards"], arrays["next_obs"], arrays["terminated"]
        )
        LOG.info("prefilled replay buffer: %s", stats)
        scripted_steps += stats.transitions
    if run.bc_steps > 0:
        if demo is None:
            raise ValueError("bc_steps > 0 needs demonstrations (demo_episodes > 0 or demos)")
        LOG.info(
            "behaviour cloning: final loss %.3f",
            clone_demos(sac, demo, run.bc_steps, sac_config.batch_size, lr=run.bc_pretrain_lr),
        )
    if run.critic_pretrain_steps > 0:
        if len(buffer) < sac_config.batch_size:
            raise ValueError("critic_pretrain_steps > 0 needs prefill_episodes filling at least one batch")
        loss = pretrain_critic(sac, buffer, demo, run.critic_pretrain_steps)
        LOG.info("critic pretraining: final q_loss %.3f", loss)
    setup_s = time.perf_counter() - started

    eval_env = make_env(run, seed + EVAL_SEED_OFFSET)
    writer = EvalCurveWriter(out / "eval_curve.csv")
    curve, counters = LearningCurve(), TrainerCounters()
    trainer = OffPolicyTrainer(env=env, sac=sac, buffer=buffer, curve=curve, counters=counters, demo=demo)
    if run.bc_steps > 0 or run.critic_pretrain_steps > 0:
        result = evaluate(eval_env, sac, run.eval_episodes, seed=seed + EVAL_SEED_OFFSET)
        row = {
            "env_steps": 0,
            "wall_s": round(time.perf_counter() - started, 2),
            "updates": sac.num_updates,
            "eval_success_rate": float(result.success_rate or 0.0),
            "eval_mean_return": round(result.mean_return, 3),
            "train_success_100": 0.0,
        }
        writer.append(row)
        print(json.dumps(row), flush=True)
    checkpoints = list(range(run.eval_every, run.total_steps, run.eval_every)) if run.eval_every > 0 else []
    checkpoints.append(run.total_steps)
    for stop in checkpoints:
        trainer.seed = seed + counters.env_steps  # each chunk's first reset draws a new target stream
        trainer.run(stop, progress=False)
        episodes = run.final_eval_episodes if stop == run.total_steps else run.eval_episodes
        result = evaluate(eval_env, sac, episodes, seed=seed + EVAL_SEED_OFFSET)
        row = {
            "env_steps": counters.env_steps,
            "wall_s": round(time.perf_counter() - started, 2),
            "updates": sac.num_updates,
            "eval_success_rate": float(result.success_rate or 0.0),
            "eval_mean_return": round(result.mean_return, 3),
            "train_success_100": float(curve.success_rate(100) or 0.0),
        }
        writer.append(row)
        LOG.info("%s", row)
        print(json.dumps(row), flush=True)
        plot_eval_curve(writer.rows, out / "learning_curve.png", f"grasp recipe, seed {seed}")
    write_episode_csv(curve, out / "episodes.csv")
    # The learner's checkpoint format (atomic); the policy loads with load_checkpoint for deployment.
    save_checkpoint(out / "checkpoint", sac, None, counters=counters.as_dict(), curve=curve.to_arrays())
    final = writer.rows[-1]
    reached = next((row for row in writer.rows if row["eval_success_rate"] >= 0.9), None)
    summary = {
        "seed": seed,
        "env_steps": counters.env_steps,
        "scripted_env_steps": scripted_steps,
        "updates": sac.num_updates,
        "setup_s": round(setup_s, 2),
        "wall_s": round(time.perf_counter() - started, 2),
        "final_eval_success_rate": final["eval_success_rate"],
        "final_eval_episodes": run.final_eval_episodes,
        "first_eval_at_90": reached,
        "out": str(out),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    env.close()
    eval_env.close()
    return summary


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sac_grasp_ros.training.grasp_recipe",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_dataclass_arguments(parser, RecipeConfig, "recipe")
    add_dataclass_arguments(parser, SACConfig, "learner (SACConfig)")
    parser.set_defaults(**recipe_sac_config())
    return parser


def record_main(argv: list[str] | None = None) -> int:
    """Write a scripted demonstration file for a learner that loads demos (e.g. the ROS agent node)."""
    parser = argparse.ArgumentParser(
        prog="python -m sac_grasp_ros.training.grasp_recipe record",
        description="record scripted grasp demonstrations to a .npz (sac_grasp_ros.demos/1 format)",
    )
    parser.add_argument("out", help="demonstration file to write")
    parser.add_argument("--episodes", type=int, default=RecipeConfig.demo_episodes)
    parser.add_argument("--seed", type=int, default=2_000_000)
    parser.add_argument("--observation", choices=("original", "extended"), default=RecipeConfig.observation)
    parser.add_argument("--reward", choices=("original", "shaped"), default=RecipeConfig.reward)
    args = parser.parse_args(argv)
    env = make_env(RecipeConfig(observation=args.observation, reward=args.reward), args.seed)
    try:
        stats = record_demos(env, args.episodes, args.seed, args.out)
    except ValueError as error:
        print(f"grasp_recipe record: error: {error}", file=sys.stderr)
        return 2
    finally:
        env.close()
    print(json.dumps({"out": args.out, **dataclasses.asdict(stats)}))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["record"]:
        return record_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        run = dataclass_from_args(RecipeConfig, args)
        sac_config = dataclass_from_args(SACConfig, args)
        summary = run_recipe(run, sac_config)
    except (ValueError, FileNotFoundError) as error:
        print(f"grasp_recipe: error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
