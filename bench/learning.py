"""Learning curve of the default training for one seed and step budget, optionally against SB3's SAC.

    python bench/learning.py --seed 0 [1 2] [--total-steps 100000] [--sb3] [--path ros|inprocess|sb3]
        [--grid-eval] [--config config/train_demos.yaml --total-steps 10000] [--out DIR]

--path ros (default) runs the default training, `sac-grasp train` on config/train.yaml (the ROS
graph: simulator workers + agent node; SAC from scratch; with --config config/train_demos.yaml the
demonstrations are recorded by the launcher first), with this seed and budget. The agent evaluates
the deterministic policy every eval_every env steps and writes the curve itself
(<out>/ros-seed<N>/eval_curve.csv and eval_curve.png: success rate and return against env steps and
wall time); the final evaluation measures the best evaluated policy on fresh episodes. The
bench counts every env step (learner, evaluation and scripted demos) and, for several seeds, draws
them together (<out>/seeds.csv, seeds.png).

--grid-eval (ros path) also runs `sac-grasp evaluate --random 100` (sac_grasp_ros.evaluate: the
5 x 5 grid of positions x 3 yaw bins, plus 100 seeded random placements) with the run's env settings
on the same placements for: the policy the final evaluation measured (<out>/ros-seed<N>/grid/), the
policy before any SAC update when the recipe has demo stages (checkpoints/pretrained, grid_before_rl/)
and the scripted controller (grid_scripted/ of the first seed: deterministic on seeded placements, it
is evaluated once per bench run); with several seeds it prints README's teacher table.

--path inprocess runs the same config in one process (`sac-grasp train --in-process --config`: the
same TrainingSession as the agent node, fed by one gymnasium env; fixed evaluation target seeds).
--sb3 also trains Stable-Baselines3's SAC on the same env
with the same network, batch and update ratio, its own defaults otherwise (1,000 random warm-up
steps, learning rate 3e-4, automatic entropy tuning; no demonstrations: SB3 has no demo mixing or
cloning), evaluated like the in-process recipe, and prints recipe/SB3 ratios of final success rate
and wall time measured in this run; --path sb3 trains only the SB3 reference.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from sac_grasp_ros.curve_csv import read_rows
from sac_grasp_ros.envs.config import read_env_config
from sac_grasp_ros.evaluate import PNG_FILE, SCRIPTED, GridSpec, grid_evaluation
from sac_grasp_ros.paths import config_file
from sac_grasp_ros.training import cli as in_process
from sac_grasp_ros.training.checkpointer import BEST_CHECKPOINT, PRETRAINED_CHECKPOINT
from sac_grasp_ros.training.gym_loop import EVAL_SEED_OFFSET, evaluate
from sac_grasp_ros.training.reporting import EVAL_COLUMNS, EVAL_CURVE_CSV, EvalCurveWriter, plot_eval_curve


def run_inprocess(args: argparse.Namespace, out: Path) -> dict:
    """The ROS path's config in one process: the same TrainingSession, fed by one gymnasium env."""
    config = args.config or str(config_file("train"))
    argv = ["--config", config, "--seed", str(args.seed), "--total-steps", str(args.total_steps)]
    summary = in_process.run(in_process.parse([*argv, "--out", str(out), "--no-progress"]))
    rows = read_rows(out / EVAL_CURVE_CSV, EVAL_COLUMNS) or []
    return {
        **summary,
        "final_eval_success_rate": summary["eval_success_rate"],
        "first_eval_at_90": next((r for r in rows if r["eval_success_rate"] >= 0.9), None),
    }


def recipe_settings(config: str | None) -> in_process.InProcessTraining:
    """Env and learner settings of the training config (SB3 gets the same network, batch and ratio)."""
    return in_process.defaults_from_config(config or str(config_file("train")))


class SB3Actor:
    """An SB3 model behind the learner's `act` (batch in, actions in [-1, 1] out), so the recipe's own
    `training.loop.evaluate` measures both learners the same way."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        action, _ = self.model.predict(obs, deterministic=deterministic)
        return self.model.policy.scale_action(action)


def run_sb3(args: argparse.Namespace, out: Path) -> dict:
    """SB3 SAC with the recipe's network/batch/update settings on the same env, same evaluations."""
    import torch
    from stable_baselines3 import SAC as SB3SAC
    from stable_baselines3.common.callbacks import BaseCallback

    recipe = recipe_settings(args.config)
    # Plain SAC needs random warm-up steps: the recipe's own (the scratch recipe's 5,000), else 1,000.
    settings = {**recipe.sac.to_dict(), "learning_starts": recipe.sac.learning_starts or 1000}
    torch.set_num_threads(max(1, settings["torch_threads"]))
    out.mkdir(parents=True, exist_ok=True)
    env = in_process.make_env(recipe, args.seed)
    eval_env = in_process.make_env(recipe, args.seed + EVAL_SEED_OFFSET)
    hidden = [settings["hidden_size"]] * settings["q_hidden_layers"]
    model = SB3SAC(
        "MlpPolicy",
        env,
        learning_rate=3e-4,
        ent_coef="auto",
        buffer_size=1_000_000,
        learning_starts=settings["learning_starts"],
        batch_size=settings["batch_size"],
        tau=0.01,
        gamma=0.99,
        train_freq=1,
        gradient_steps=max(1, round(settings["utd_ratio"])),
        policy_kwargs={"net_arch": {"pi": hidden, "qf": hidden}},
        seed=args.seed,
        device="cpu",
        verbose=0,
    )
    writer = EvalCurveWriter(out / "eval_curve.csv")
    started = time.perf_counter()
    successes: list[float] = []

    class EvalCallback(BaseCallback):
        def _on_step(self) -> bool:
            for info, done in zip(self.locals["infos"], self.locals["dones"], strict=True):
                if done:
                    successes.append(float(info.get("success", False)))
            steps = self.num_timesteps
            if steps % args.eval_every == 0 or steps == args.total_steps:
                episodes = args.final_eval_episodes if steps == args.total_steps else args.eval_episodes
                result = evaluate(eval_env, SB3Actor(model), episodes, seed=args.seed + EVAL_SEED_OFFSET)
                rate, mean_return = float(result.success_rate or 0.0), result.mean_return
                row = {
                    "env_steps": steps,
                    "wall_s": round(time.perf_counter() - started, 2),
                    "updates": int(model._n_updates),
                    "eval_success_rate": rate,
                    "eval_mean_return": round(mean_return, 3),
                    "train_success_100": float(np.mean(successes[-100:])) if successes else 0.0,
                }
                writer.append(row)
                print(json.dumps({"sb3": row}), flush=True)
                plot_eval_curve(writer.rows, out / "learning_curve.png", f"SB3 SAC, seed {args.seed}")
            return True

    model.learn(total_timesteps=args.total_steps, callback=EvalCallback())
    env.close()
    eval_env.close()
    final = writer.rows[-1]
    summary = {
        "seed": args.seed,
        "env_steps": final["env_steps"],
        "wall_s": round(time.perf_counter() - started, 2),
        "final_eval_success_rate": final["eval_success_rate"],
        "first_eval_at_90": next((r for r in writer.rows if r["eval_success_rate"] >= 0.9), None),
        "out": str(out),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def run_ros(args: argparse.Namespace, out: Path) -> dict:
    """The default training, `sac-grasp train` on config/train.yaml, for this seed and budget.

    The agent evaluates every eval_every env steps (config: 1,000 steps, 50 episodes) and writes
    eval_curve.csv/png itself; the final evaluation (100 fresh episodes) measures the best of those.
    """
    out.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "sac_grasp_ros.cli",
        "train",
        "--seed",
        str(args.seed),
        "--out",
        str(out),
    ]
    command += ["--total-steps", str(args.total_steps), "--eval-episodes", str(args.final_eval_episodes)]
    command += ["--localhost", "--domain-id", str(args.domain_base + args.seed % 50), "--no-progress"]
    if args.config:
        command += ["--config", args.config]
    if args.num_workers:
        command += ["--num-workers", str(args.num_workers)]
    started = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    wall_s = time.perf_counter() - started
    (out / "launcher.log").write_text(completed.stdout + completed.stderr)
    if completed.returncode != 0:
        raise RuntimeError(
            f"ROS training failed with exit {completed.returncode}; see {out / 'launcher.log'}"
        )
    result = json.loads((out / "result.json").read_text())
    rows = (
        read_rows(out / EVAL_CURVE_CSV, EVAL_COLUMNS) or []
    )  # written by the agent (report_dir), with its PNG
    demo_steps = 0
    if (out / "demos.npz").is_file():
        with np.load(out / "demos.npz", allow_pickle=False) as demos:
            demo_steps = len(demos["rewards"])
    summary = {
        "seed": args.seed,
        "wall_s": round(wall_s, 2),
        "final_eval_success_rate": float(result["success_rate"]),
        "final_eval_episodes": int(result["episodes"]),
        "policy": result.get("policy"),
        "selected_at_env_steps": result.get("selected_at_env_steps"),
        "learner_env_steps": int(result["env_steps"]),
        "evaluation_env_steps": int(result["steps_seen"]) - int(result["env_steps"]),
        "scripted_env_steps": demo_steps,
        "total_env_steps": int(result["steps_seen"]) + demo_steps,
        "first_eval_at_90": next((r for r in rows if r["eval_success_rate"] >= 0.9), None),
        "out": str(out),
    }
    if args.grid_eval:
        summary.update(placement_evaluations(out))
    (out / "summary.json").write_text(json.dumps({**summary, "result": result}, indent=2))
    return summary


GRID = GridSpec(random=100)
"""`sac-grasp evaluate --random 100`: the 5 x 5 x 3 grid plus 100 seeded random placements"""


def placement_evaluations(out: Path) -> dict:
    """`sac-grasp evaluate` on the same placements, with the run's env settings: the policy the final
    evaluation measured ("grid"), the policy before any SAC update when the demo stages left one
    ("grid_before_rl", checkpoints/pretrained) and the scripted controller ("grid_scripted")."""
    checkpoints = out / "checkpoints"
    final = checkpoints / BEST_CHECKPOINT  # what the final evaluation measured (keep_best)
    final = final if final.is_dir() else checkpoints / "latest"
    evaluations = {"grid": grid_summary(final, out / "grid")}
    pretrained = checkpoints / PRETRAINED_CHECKPOINT
    if pretrained.is_dir():
        evaluations["grid_before_rl"] = grid_summary(pretrained, out / "grid_before_rl")
    env = read_env_config(None, final).to_dict()
    evaluations["grid_scripted"] = scripted_summary(env, out / "grid_scripted")
    return evaluations


_scripted_by_env: dict[str, dict] = {}
"""scripted controller summaries of this bench run, by env settings"""


def scripted_summary(env: dict, out: Path) -> dict:
    """The scripted controller on GRID with these env settings. It is deterministic and the placements
    are seeded, so the seeds of one bench run share one evaluation (written to the first seed's `out`)."""
    key = json.dumps({k: v for k, v in env.items() if k != "seed"}, sort_keys=True)
    if key not in _scripted_by_env:
        _scripted_by_env[key] = grid_summary(SCRIPTED, out, env)
    return _scripted_by_env[key]


def grid_summary(policy: Path | str, out: Path, env: dict | None = None) -> dict:
    """One `sac-grasp evaluate` (GRID) of `policy`, with `env` settings for the scripted controller;
    evaluation.json and evaluation.png land in `out`. Success and mean steps-to-grasp on the grid, on
    the random placements, and on both."""
    summary = grid_evaluation(policy, out, GRID, env_overrides=env)
    keys = ("success_rate", "mean_steps_to_grasp")
    return {
        "episodes": summary["episodes"],
        **{key: summary[key] for key in keys},
        "on_grid": {key: summary["grid"][key] for key in keys},
        "random": {key: summary["random"][key] for key in keys},
        "png": str(out / PNG_FILE),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, nargs="+", default=[0], help="one run per seed, in turn")
    parser.add_argument("--total-steps", type=int, default=100_000, help="learner env steps (train.yaml's)")
    parser.add_argument("--eval-every", type=int, default=5_000)
    parser.add_argument("--eval-episodes", type=int, default=50)
    parser.add_argument("--final-eval-episodes", type=int, default=100)
    parser.add_argument(
        "--path",
        choices=("ros", "inprocess", "sb3"),
        default="ros",
        help="ros: the default training through the ROS graph; inprocess: the same config in one process; "
        "sb3: only the Stable-Baselines3 reference",
    )
    parser.add_argument("--config", help="graph config (default config/train.yaml)")
    parser.add_argument("--num-workers", type=int, help="ros path: simulator workers (default: the config's)")
    parser.add_argument(
        "--domain-base",
        type=int,
        default=150,
        help="ros path: seed N runs on ROS_DOMAIN_ID base + N %% 50 (two benches at once: two bases)",
    )
    parser.add_argument("--sb3", action="store_true", help="also train the SB3 SAC reference")
    parser.add_argument("--sb3-steps", type=int, help="SB3's env step budget (default: --total-steps)")
    parser.add_argument("--out", default=None, help="output directory (default: a temporary one)")
    parser.add_argument(
        "--grid-eval",
        action="store_true",
        help="ros path: also evaluate the final policy on the placement grid (sac-grasp evaluate)",
    )
    args = parser.parse_args(argv)
    out = Path(args.out or tempfile.mkdtemp(prefix="bench_learning_"))
    summaries = []
    for seed in args.seed:
        summaries.append(run_seed(argparse.Namespace(**{**vars(args), "seed": seed}), out))
    if args.path == "ros" and len(summaries) > 1:
        combine_seeds([summary["recipe"] for summary in summaries], out)
    return 0


def run_seed(args: argparse.Namespace, out: Path) -> dict:
    """One seed: the chosen path, then the SB3 reference if asked, and their ratios."""
    sb3_args = argparse.Namespace(**{**vars(args), "total_steps": args.sb3_steps or args.total_steps})
    if args.path == "sb3":
        reference = run_sb3(sb3_args, out / f"sb3-seed{args.seed}")
        print(json.dumps({"sb3": reference}), flush=True)
        return {"sb3": reference}
    main_run = run_ros if args.path == "ros" else run_inprocess
    summary = main_run(args, out / f"{args.path}-seed{args.seed}")
    print(json.dumps({"recipe": summary}), flush=True)
    if not args.sb3:
        return {"recipe": summary}
    reference = run_sb3(sb3_args, out / f"sb3-seed{args.seed}")
    print(json.dumps({"sb3": reference}), flush=True)
    ours, theirs = summary["final_eval_success_rate"], reference["final_eval_success_rate"]
    success_ratio = ours / theirs if theirs > 0 else None  # undefined when SB3 never succeeds
    wall_ratio = summary["wall_s"] / max(reference["wall_s"], 1e-9)
    ratio_text = f"{success_ratio:.2f}" if success_ratio is not None else "undefined (SB3 at 0)"
    print(
        f"recipe/SB3 (SB3 at {sb3_args.total_steps} env steps): success {ours:.2f} vs {theirs:.2f} "
        f"(ratio {ratio_text}, difference {ours - theirs:+.2f}), wall ratio {wall_ratio:.2f}"
    )
    ratios = {"success_ratio": success_ratio, "success_difference": ours - theirs, "wall_ratio": wall_ratio}
    print(json.dumps(ratios))
    return {"recipe": summary, "sb3": reference, **ratios}


def combine_seeds(summaries: list[dict], out: Path) -> None:
    """All seeds' evaluation curves in one CSV and one PNG, and README's table rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    with open(out / "seeds.csv", "w", newline="") as combined:
        writer = csv.writer(combined)
        writer.writerow(["seed", "env_steps", "wall_s", "eval_success_rate", "eval_mean_return"])
        for summary in summaries:
            with open(Path(summary["out"]) / EVAL_CURVE_CSV, newline="") as file:
                rows = list(csv.DictReader(file))
            for row in rows:
                writer.writerow(
                    [
                        summary["seed"],
                        row["env_steps"],
                        row["wall_s"],
                        row["eval_success_rate"],
                        row["eval_mean_return"],
                    ]
                )
            steps = [float(row["env_steps"]) for row in rows]
            axis.plot(
                steps,
                [float(row["eval_success_rate"]) for row in rows],
                marker="o",
                label=f"seed {summary['seed']}",
            )
    axis.axhline(0.9, color="grey", linestyle="--", linewidth=0.8, label="target 90 %")
    axis.axhline(0.085, color="tab:red", linestyle=":", linewidth=0.8, label="original, 60k steps: 8.5 %")
    axis.set_xlabel("learner env steps")
    axis.set_ylabel("deterministic success (periodic evaluations)")
    axis.set_ylim(-0.02, 1.02)
    axis.legend(loc="lower left")
    figure.tight_layout()
    figure.savefig(out / "seeds.png", dpi=80)
    plt.close(figure)
    header = ("seed", "env steps: learner + evaluation + scripted = total", "final success", "policy", "wall")
    print("| " + " | ".join(header) + " |")
    for summary in summaries:
        print(
            f"| {summary['seed']} | {summary['learner_env_steps']:,} + {summary['evaluation_env_steps']:,} + "
            f"{summary['scripted_env_steps']:,} = {summary['total_env_steps']:,} | "
            f"{summary['final_eval_success_rate']:.0%} | "
            f"{summary['policy']} at {summary['selected_at_env_steps']} | "
            f"{summary['wall_s']:.0f} s |"
        )
    print_placement_table(summaries)
    print(json.dumps({"seeds_csv": str(out / "seeds.csv"), "seeds_png": str(out / "seeds.png")}))


def print_placement_table(summaries: list[dict]) -> None:
    """README's teacher comparison (--grid-eval): per seed, the final policy, the policy before RL
    (demo recipes) and the scripted controller on the same placements."""
    rows = [("final", "grid"), ("before RL", "grid_before_rl"), ("scripted", "grid_scripted")]
    if not any("grid" in summary for summary in summaries):
        return
    print("| seed | policy | random: success, steps to grasp | grid: success, steps to grasp |")
    for summary in summaries:
        for name, key in rows:
            if key in summary:
                cells = [summary[key][where] for where in ("random", "on_grid")]
                text = [f"{c['success_rate']:.0%}, {_steps(c['mean_steps_to_grasp'])}" for c in cells]
                print(f"| {summary['seed']} | {name} | {text[0]} | {text[1]} |")


def _steps(mean_steps: float | None) -> str:
    return "-" if mean_steps is None else f"{mean_steps:.1f}"


if __name__ == "__main__":
    sys.exit(main())
