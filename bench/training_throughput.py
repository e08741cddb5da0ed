"""Env steps/s of in-process training with learning on: the captured update vs the plain eager one.

One grasp env driven by `TrainingSession` through the gymnasium collector (`sac-grasp train
--in-process`'s loop), one gradient update per env step (the default UTD ratio) after
`--learning-starts` random steps, the original networks (Q 3x512, policy 4x512, batch 128). The two
update paths (`cuda_graph: auto` and `off`) alternate rounds in the same run; the figure counts all
env steps of a round over its wall time, warm-up steps included (they are a small share). LeanRL's
reference: 725 env steps/s for CleanRL's SAC with torch.compile + CUDA graphs on an H100 (MuJoCo).

    python bench/training_throughput.py --device cuda [--steps 6000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym

import sac_grasp_ros.envs  # noqa: F401  (registers the grasp env)
from sac_grasp_ros.envs.config import GraspEnvConfig
from sac_grasp_ros.sac import SACConfig
from sac_grasp_ros.training.config import TrainingConfig
from sac_grasp_ros.training.gym_loop import train
from sac_grasp_ros.training.session import TrainingSession

GRASP_ENV = "sac_grasp_ros/SawyerGrasp-v0"
LEANRL_STEPS_PER_S = 725


def one_round(args: argparse.Namespace, setting: str, seed: int, out: Path) -> dict:
    env = gym.make(GRASP_ENV, config=GraspEnvConfig(seed=seed))
    trainer = TrainingConfig(
        total_steps=args.steps, on_finish="exit", save_buffer=False, seed=seed,
        checkpoint_dir=str(out / f"{setting}-{seed}"), progress_every=10 * args.steps,
    )  # fmt: skip
    sac = SACConfig(
        device=args.device, cuda_graph=setting, learning_starts=args.learning_starts, seed=seed,
        torch_threads=args.threads,
    )  # fmt: skip
    session = TrainingSession(trainer, sac)
    started = time.perf_counter()
    train(session, env, None, seed)
    wall = time.perf_counter() - started
    env.close()
    return {"env_steps_per_s": session.env_steps / wall, "updates": session.updates_done, "wall_s": wall}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cpu or cuda")
    parser.add_argument("--steps", type=int, default=6000, help="env steps per round")
    parser.add_argument("--learning-starts", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2, help="rounds per update path, alternating")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    rates: dict[str, list[float]] = {"auto": [], "off": []}
    with tempfile.TemporaryDirectory() as directory:
        # Untimed: first imports, MuJoCo model build, CUDA context, cuBLAS handles.
        one_round(
            argparse.Namespace(**{**vars(args), "steps": args.learning_starts + 50}),
            "auto",
            99,
            Path(directory),
        )
        for round_index in range(args.rounds):
            order = ["auto", "off"] if round_index % 2 == 0 else ["off", "auto"]
            for setting in order:
                result = one_round(args, setting, round_index, Path(directory))
                rates[setting].append(result["env_steps_per_s"])
                print(f"round {round_index} cuda_graph={setting}: {json.dumps(result)}", flush=True)
    captured, plain = statistics.median(rates["auto"]), statistics.median(rates["off"])
    print(
        f"in-process training, 1 grasp env, learning on ({args.device}): env steps/s "
        f"cuda_graph auto (captured on CUDA) {captured:.0f}, "
        f"off (eager) {plain:.0f} ({captured / plain:.2f}x); LeanRL's SAC on an H100: {LEANRL_STEPS_PER_S}"
    )
    print(json.dumps({"device": args.device, "captured_steps_per_s": round(captured, 1),
                      "eager_steps_per_s": round(plain, 1), "ratio": round(captured / plain, 3),
                      "steps": args.steps, "rounds": args.rounds}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
