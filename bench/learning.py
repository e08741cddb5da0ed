"""Learning curve of the grasp recipe for one seed and step budget, optionally against SB3's SAC.

Writes <out>/<name>/eval_curve.csv (env_steps, wall_s, updates, eval_success_rate, eval_mean_return,
train_success_100) and learning_curve.png (success and return against env steps and wall time).
Deterministic evaluations use the same fixed target seeds at every point and for every learner.

    python bench/learning.py --seed 0 --total-steps 30000 [--sb3] [--path inprocess|ros] [--out DIR]

--sb3 also trains Stable-Baselines3's SAC on the same env with the same network, batch and update
ratio, its own defaults otherwise (1,000 random warm-up steps, learning rate 3e-4 and automatic entropy
tuning; no demonstrations: SB3 has no demo mixing or cloning) and prints the ratios
recipe/SB3 of final success rate and wall time, measured in this run.

--path ros trains through the ROS graph (`sac-grasp train`, launcher) with the recipe's env and
learner settings. The graph's agent has no mid-run deterministic evaluation, so its curve is the
training episodes' success rate (last 100) from the checkpoint's curve.csv plus the final evaluation
from result.json. That path runs the same recipe through the agent node (config/train.yaml: demos
recorded by the launcher, cloning stages and demo-anchored updates in the agent; see docs/learning.md).
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

import numpy as np
import yaml

from sac_grasp_ros.sac import SACConfig
from sac_grasp_ros.training.grasp_recipe import (
    EVAL_SEED_OFFSET,
    EvalCurveWriter,
    RecipeConfig,
    make_env,
    plot_eval_curve,
    recipe_sac_config,
    run_recipe,
)


def run_inprocess(args: argparse.Namespace, out: Path) -> dict:
    run = RecipeConfig(
        total_steps=args.total_steps,
        eval_every=args.eval_every,
        eval_episodes=args.eval_episodes,
        final_eval_episodes=args.final_eval_episodes,
        demo_episodes=args.demo_episodes,
        prefill_episodes=args.prefill_episodes,
        bc_steps=args.bc_steps,
        critic_pretrain_steps=args.critic_pretrain_steps,
        out=str(out),
    )
    sac_config = SACConfig(**{**recipe_sac_config(), "seed": args.seed})
    return run_recipe(run, sac_config)


def run_sb3(args: argparse.Namespace, out: Path) -> dict:
    """SB3 SAC with the recipe's network/batch/update settings on the same env, same evaluations."""
    import torch
    from stable_baselines3 import SAC as SB3SAC
    from stable_baselines3.common.callbacks import BaseCallback

    settings = {**recipe_sac_config(), "learning_starts": 1000}  # plain SAC needs random warm-up steps
    torch.set_num_threads(settings["torch_threads"])
    out.mkdir(parents=True, exist_ok=True)
    run = RecipeConfig()
    env = make_env(run, args.seed)
    eval_env = make_env(run, args.seed + EVAL_SEED_OFFSET)
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

    def evaluate(episodes: int) -> tuple[float, float]:
        flags, returns = [], []
        for episode in range(episodes):
            obs, _ = eval_env.reset(seed=args.seed + EVAL_SEED_OFFSET + episode)
            done, total, success = False, 0.0, False
            while not done:
                action, _ = model.predict(obs, deterministic=True)
                obs, reward, terminated, truncated, info = eval_env.step(action)
                total += float(reward)
                success = success or bool(info["success"])
                done = terminated or truncated
            flags.append(success)
            returns.append(total)
        return float(np.mean(flags)), float(np.mean(returns))

    class EvalCallback(BaseCallback):
        def _on_step(self) -> bool:
            for info, done in zip(self.locals["infos"], self.locals["dones"], strict=True):
                if done:
                    successes.append(float(info.get("success", False)))
            steps = self.num_timesteps
            if steps % args.eval_every == 0 or steps == args.total_steps:
                episodes = args.final_eval_episodes if steps == args.total_steps else args.eval_episodes
                rate, mean_return = evaluate(episodes)
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


def ros_config(args: argparse.Namespace, out: Path) -> Path:
    """config/train.yaml with the recipe's env and learner settings, the budget and this seed."""
    from sac_grasp_ros import paths

    config = yaml.safe_load(Path(paths.config_file("train")).read_text())
    sim = config["sim_node"]["ros__parameters"]
    sim.update({"random_target": True, "observation": "extended", "reward": "shaped"})
    agent = config["agent_node"]["ros__parameters"]
    agent.update(
        {
            "total_steps": args.total_steps,
            "eval_episodes": args.final_eval_episodes,
            "checkpoint_dir": str(out / "checkpoint"),
            "checkpoint_every": args.eval_every,
        }
    )
    # train.yaml is the recipe (graph.demos, the agent's cloning stages and its SAC settings); the
    # network and batch settings are pinned to the in-process recipe's so both paths train the same nets.
    shared = ("hidden_size", "q_hidden_layers", "policy_hidden_layers", "batch_size", "utd_ratio", "device")
    agent["sac"].update({name: recipe_sac_config()[name] for name in shared})
    path = out / "train_recipe.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_ros(args: argparse.Namespace, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    config = ros_config(args, out)
    started = time.perf_counter()
    command = [
        sys.executable,
        "-m",
        "sac_grasp_ros.cli",
        "train",
        "--config",
        str(config),
        "--seed",
        str(args.seed),
        "--out",
        str(out),
        "--localhost",
        "--domain-id",
        str(150 + args.seed % 50),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    wall_s = time.perf_counter() - started
    (out / "launcher.log").write_text(completed.stdout + completed.stderr)
    if completed.returncode != 0:
        raise RuntimeError(
            f"ROS training failed with exit {completed.returncode}; see {out / 'launcher.log'}"
        )
    result = json.loads((out / "result.json").read_text())
    curve_csv = out / "checkpoint" / "curve.csv"
    writer = EvalCurveWriter(out / "eval_curve.csv")
    with open(curve_csv, newline="") as file:
        episodes = list(csv.DictReader(file))
    for index in range(0, len(episodes), 50):
        window = episodes[max(0, index - 99) : index + 1]
        writer.append(
            {
                "env_steps": int(episodes[index]["env_steps"]),
                "wall_s": float(episodes[index]["wall_s"]),
                "updates": -1,
                "eval_success_rate": float("nan"),
                "eval_mean_return": float(np.mean([float(r["episode_return"]) for r in window])),
                "train_success_100": float(np.mean([float(r["success"]) for r in window])),
            }
        )
    final_rate = float(result.get("success_rate", float("nan")))
    summary = {"seed": args.seed, "wall_s": round(wall_s, 2), "final_eval_success_rate": final_rate}
    (out / "summary.json").write_text(json.dumps({**summary, "result": result}, indent=2))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--total-steps", type=int, default=30_000)
    parser.add_argument("--eval-every", type=int, default=5_000)
    parser.add_argument("--eval-episodes", type=int, default=50)
    parser.add_argument("--final-eval-episodes", type=int, default=100)
    parser.add_argument("--demo-episodes", type=int, default=RecipeConfig.demo_episodes)
    parser.add_argument("--prefill-episodes", type=int, default=RecipeConfig.prefill_episodes)
    parser.add_argument("--bc-steps", type=int, default=RecipeConfig.bc_steps)
    parser.add_argument("--critic-pretrain-steps", type=int, default=RecipeConfig.critic_pretrain_steps)
    parser.add_argument("--path", choices=("inprocess", "ros"), default="inprocess")
    parser.add_argument("--sb3", action="store_true", help="also train the SB3 SAC reference")
    parser.add_argument("--out", default=None, help="output directory (default: a temporary one)")
    args = parser.parse_args(argv)
    out = Path(args.out or tempfile.mkdtemp(prefix="bench_learning_"))
    main_run = run_ros if args.path == "ros" else run_inprocess
    summary = main_run(args, out / f"{args.path}-seed{args.seed}")
    print(json.dumps({"recipe": summary}), flush=True)
    if args.sb3:
        reference = run_sb3(args, out / f"sb3-seed{args.seed}")
        print(json.dumps({"sb3": reference}), flush=True)
        ours, theirs = summary["final_eval_success_rate"], reference["final_eval_success_rate"]
        success_ratio = ours / theirs if theirs > 0 else None  # undefined when SB3 never succeeds
        wall_ratio = summary["wall_s"] / max(reference["wall_s"], 1e-9)
        ratio_text = f"{success_ratio:.2f}" if success_ratio is not None else "undefined (SB3 at 0)"
        print(
            f"recipe/SB3 at {args.total_steps} env steps: success {ours:.2f} vs {theirs:.2f} "
            f"(ratio {ratio_text}, difference {ours - theirs:+.2f}), wall ratio {wall_ratio:.2f}"
        )
        print(
            json.dumps(
                {
                    "success_ratio": success_ratio,
                    "success_difference": ours - theirs,
                    "wall_ratio": wall_ratio,
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
