"""Gradient updates per second of this SAC learner vs Stable-Baselines3's SAC, measured in one run.

Both learners get the original trainer's architecture (Q 3x512, policy 4x512, batch 128, Adam 3e-4,
automatic entropy tuning), the same torch thread count, and replay buffers filled with the same
random transitions of the grasp env's shapes (obs 17, act 7). Rounds alternate between the two so
background load hits both alike; warm-up updates are excluded. Prints the ratio (median of per-round
ratios), the memory of a 1e6-transition replay buffer of those shapes, and a JSON line last.

Where the difference comes from on CPU (the work is matmul-bound): per sample, ours runs 4P + 6Q
multiply-adds (P policy, Q twin-critic parameters) against SB3's 4P + 7Q, because the actor loss
evaluates the critics on detached weights instead of computing critic weight gradients that are then
discarded; fused Adam replaces the per-tensor loop; no .item() per step.

    python bench/learner_throughput.py [--threads 1] [--rounds 7] [--updates 20] [--compile]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time

import gymnasium as gym
import numpy as np
import torch

from sac_grasp_ros.sac import SAC, ReplayBuffer, SACConfig

OBS_DIM, ACT_DIM = 17, 7  # the grasp env's "original" observation and joint-velocity action
FILL = 20_000


def random_transitions(seed: int, count: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "obs": rng.standard_normal((count, OBS_DIM)).astype(np.float32),
        "actions": rng.uniform(-1, 1, (count, ACT_DIM)).astype(np.float32),
        "rewards": rng.standard_normal(count).astype(np.float32),
        "next_obs": rng.standard_normal((count, OBS_DIM)).astype(np.float32),
        "terminated": rng.random(count) < 0.03,
    }


def make_sb3(data: dict[str, np.ndarray], device: str):
    from stable_baselines3 import SAC as SB3SAC
    from stable_baselines3.common.logger import configure

    class ShapesOnly(gym.Env):
        observation_space = gym.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32)
        action_space = gym.spaces.Box(-1.0, 1.0, (ACT_DIM,), np.float32)

        def reset(self, seed=None, options=None):
            return np.zeros(OBS_DIM, np.float32), {}

        def step(self, action):
            return np.zeros(OBS_DIM, np.float32), 0.0, False, False, {}

    model = SB3SAC(
        "MlpPolicy",
        ShapesOnly(),
        learning_rate=3e-4,
        buffer_size=FILL,
        learning_starts=0,
        batch_size=128,
        tau=0.01,
        gamma=0.99,
        ent_coef="auto",
        device=device,
        seed=0,
        policy_kwargs={"net_arch": {"pi": [512] * 4, "qf": [512] * 3}},
    )
    model.set_logger(configure(None, [""]))
    buffer = model.replay_buffer
    count = len(data["obs"])
    buffer.observations[:count, 0] = data["obs"]
    buffer.next_observations[:count, 0] = data["next_obs"]
    buffer.actions[:count, 0] = data["actions"]
    buffer.rewards[:count, 0] = data["rewards"]
    buffer.dones[:count, 0] = data["terminated"]
    buffer.pos, buffer.full = count % buffer.buffer_size, count == buffer.buffer_size
    return model


def buffer_memory(capacity: int) -> dict[str, int]:
    """nbytes of a full-capacity buffer and the resident-set growth once every row has been written."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    buffer = ReplayBuffer(capacity, OBS_DIM, ACT_DIM, seed=0)
    chunk = random_transitions(1, 100_000)
    for _ in range(capacity // 100_000):
        buffer.add_batch(*chunk.values())
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "buffer_capacity": capacity,
        "buffer_nbytes": buffer.nbytes,
        "buffer_peak_rss_growth_bytes": after - before,
        "bytes_per_transition": buffer.nbytes // capacity,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both learners")
    parser.add_argument("--rounds", type=int, default=7, help="alternating measurement rounds")
    parser.add_argument("--updates", type=int, default=20, help="gradient updates per learner per round")
    parser.add_argument("--warmup", type=int, default=5, help="updates per learner before timing")
    parser.add_argument("--compile", action="store_true", help="torch.compile our update functions")
    parser.add_argument("--buffer-capacity", type=int, default=1_000_000)
    parser.add_argument(
        "--device", default="cpu", help="cpu or cuda, for both learners (measured here on CPU)"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    data = random_transitions(0, FILL)
    ours = SAC(OBS_DIM, ACT_DIM, SACConfig(seed=0, device=args.device, compile=args.compile))
    replay = ReplayBuffer(FILL, OBS_DIM, ACT_DIM, seed=0)
    replay.add_batch(*data.values())
    sb3 = make_sb3(data, args.device)
    synchronize = torch.cuda.synchronize if ours.device.type == "cuda" else (lambda: None)

    def run_ours(count: int) -> None:
        ours.update_from(replay, count)

    def run_sb3(count: int) -> None:
        sb3.train(gradient_steps=count, batch_size=128)

    learners = {"ours": run_ours, "sb3": run_sb3}
    for run in learners.values():
        run(args.warmup)
    rates: dict[str, list[float]] = {name: [] for name in learners}
    for round_index in range(args.rounds):
        order = list(learners) if round_index % 2 == 0 else list(reversed(learners))  # no first-mover bias
        for name in order:
            run = learners[name]
            synchronize()
            start = time.perf_counter()
            run(args.updates)
            synchronize()  # queued GPU work counts for the round that issued it
            rates[name].append(args.updates / (time.perf_counter() - start))
    ours_rate, sb3_rate = statistics.median(rates["ours"]), statistics.median(rates["sb3"])
    # Headline: median of per-round ratios; both learners in a round saw about the same machine load.
    round_ratios = [a / b for a, b in zip(rates["ours"], rates["sb3"], strict=True)]
    ratio = statistics.median(round_ratios)
    memory = buffer_memory(args.buffer_capacity)
    print(
        f"updates/s  ours {ours_rate:.1f}  SB3 {sb3_rate:.1f} (medians)  ratio {ratio:.2f}x "
        f"(median of per-round ratios, range {min(round_ratios):.2f}-{max(round_ratios):.2f}; "
        f"{args.threads} thread(s), {args.device})"
    )
    print(f"replay buffer 1e6 x (obs {OBS_DIM}, act {ACT_DIM}): {memory['buffer_nbytes'] / 2**20:.0f} MiB")
    print(
        json.dumps(
            {
                "ours_updates_per_s": round(ours_rate, 2),
                "sb3_updates_per_s": round(sb3_rate, 2),
                "ratio": round(ratio, 3),
                "ratio_of_medians": round(ours_rate / sb3_rate, 3),
                "round_ratio_min": round(min(round_ratios), 3),
                "round_ratio_max": round(max(round_ratios), 3),
                "threads": args.threads,
                "device": args.device,
                "compile": args.compile,
                "rounds": args.rounds,
                "updates_per_round": args.updates,
                **memory,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
