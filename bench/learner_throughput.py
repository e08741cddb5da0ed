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

On CUDA (`--device cuda`) each shape gets three rows measured in the same alternating rounds: our
captured update (whole updates replayed from CUDA graphs on the device-resident buffer), our plain
eager update (`cuda_graph: off`, the path before the capture) and SB3; beside them the GPU time per
update of back-to-back graph replays (CUDA events): the floor the host could at best reach.

    python bench/learner_throughput.py [--threads 1] [--rounds 7] [--updates 20] [--compile]
    python bench/learner_throughput.py --device cuda --updates 500 [--shapes small,original,large]
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
from sac_grasp_ros.sac.captured import WARMUP_UPDATES

OBS_DIM, ACT_DIM = 17, 7  # the grasp env's "original" observation and joint-velocity action
FILL = 20_000
SHAPES = {  # name -> (hidden size, Q hidden layers, policy hidden layers, batch size)
    "small": (256, 2, 2, 256),  # CleanRL/LeanRL's SAC
    "original": (512, 3, 4, 128),  # the original trainer's
    "large": (1024, 3, 3, 1024),
}


def random_transitions(seed: int, count: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "obs": rng.standard_normal((count, OBS_DIM)).astype(np.float32),
        "actions": rng.uniform(-1, 1, (count, ACT_DIM)).astype(np.float32),
        "rewards": rng.standard_normal(count).astype(np.float32),
        "next_obs": rng.standard_normal((count, OBS_DIM)).astype(np.float32),
        "terminated": rng.random(count) < 0.03,
    }


def make_sb3(data: dict[str, np.ndarray], device: str, shape: str = "original"):
    from stable_baselines3 import SAC as SB3SAC
    from stable_baselines3.common.logger import configure

    hidden, q_layers, policy_layers, _ = SHAPES[shape]

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
        batch_size=SHAPES[shape][3],
        tau=0.01,
        gamma=0.99,
        ent_coef="auto",
        device=device,
        seed=0,
        policy_kwargs={"net_arch": {"pi": [hidden] * policy_layers, "qf": [hidden] * q_layers}},
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
    parser.add_argument(
        "--shapes", default=None, help=f"cuda: comma list of {', '.join(SHAPES)} (default: all three)"
    )
    parser.add_argument("--updates-per-replay", type=int, default=1, help="cuda: updates per graph replay")
    parser.add_argument("--floor-replays", type=int, default=200, help="cuda: replays timed for the floor")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if torch.device(args.device).type == "cuda":
        return main_cuda(args)

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


def sac_config(shape: str, **overrides) -> SACConfig:
    hidden, q_layers, policy_layers, batch = SHAPES[shape]
    values = {"hidden_size": hidden, "q_hidden_layers": q_layers, "policy_hidden_layers": policy_layers}
    return SACConfig(**values, batch_size=batch, seed=0, **overrides)


def measure_cuda_shape(args: argparse.Namespace, shape: str, data: dict[str, np.ndarray]) -> dict:
    """One shape on CUDA: captured vs eager vs SB3 in alternating rounds, then the GPU floor."""
    device, batch = args.device, SHAPES[shape][3]
    common = {"device": device, "compile": args.compile, "cuda_graph_updates": args.updates_per_replay}
    captured = SAC(OBS_DIM, ACT_DIM, sac_config(shape, **common))
    eager = SAC(OBS_DIM, ACT_DIM, sac_config(shape, **{**common, "cuda_graph": "off"}))
    device_replay = captured.make_buffer(FILL, seed=0)
    device_replay.add_batch(*data.values())
    host_replay = ReplayBuffer(FILL, OBS_DIM, ACT_DIM, seed=0)
    host_replay.add_batch(*data.values())
    sb3 = make_sb3(data, device, shape)
    learners = {
        "captured": lambda count: captured.update_from_tensors(device_replay, count),
        "eager": lambda count: eager.update_from_tensors(host_replay, count),
        "sb3": lambda count: sb3.train(gradient_steps=count, batch_size=batch),
    }
    # The captured learner's warm-up updates and both captures (K updates and 1) happen here, untimed.
    warmup = max(args.warmup, WARMUP_UPDATES + args.updates_per_replay + 1)
    for run in learners.values():
        run(warmup)
    rates: dict[str, list[float]] = {name: [] for name in learners}
    for round_index in range(args.rounds):
        order = list(learners) if round_index % 2 == 0 else list(reversed(learners))
        for name in order:
            torch.cuda.synchronize()
            start = time.perf_counter()
            learners[name](args.updates)
            torch.cuda.synchronize()
            rates[name].append(args.updates / (time.perf_counter() - start))
    floor_ms = captured.runner(device_replay).gpu_ms_per_update(args.floor_replays)
    medians = {name: statistics.median(values) for name, values in rates.items()}
    per_round = {
        "vs_sb3": [a / b for a, b in zip(rates["captured"], rates["sb3"], strict=True)],
        "vs_eager": [a / b for a, b in zip(rates["captured"], rates["eager"], strict=True)],
    }
    hidden, q_layers, policy_layers, _ = SHAPES[shape]
    return {
        "shape": shape,
        "networks": f"Q {q_layers}x{hidden}, policy {policy_layers}x{hidden}",
        "batch_size": batch,
        **{f"{name}_updates_per_s": round(value, 1) for name, value in medians.items()},
        **{f"ratio_{key}": round(statistics.median(values), 2) for key, values in per_round.items()},
        "gpu_floor_ms_per_update": round(floor_ms, 4),
        "gpu_floor_updates_per_s": round(1000.0 / floor_ms, 1),
        "device_buffer_host_nbytes": device_replay.host_nbytes,
    }


def main_cuda(args: argparse.Namespace) -> int:
    """The CUDA rows: one line per shape, then every figure as one JSON line."""
    shapes = (args.shapes or ",".join(SHAPES)).split(",")
    unknown = [shape for shape in shapes if shape not in SHAPES]
    if unknown:
        raise SystemExit(f"unknown shape(s) {unknown}; known: {list(SHAPES)}")
    data = random_transitions(0, FILL)
    rows = [measure_cuda_shape(args, shape, data) for shape in shapes]
    name = torch.cuda.get_device_name(torch.device(args.device))
    for row in rows:
        print(
            f"{name} {row['networks']}, batch {row['batch_size']}: updates/s captured "
            f"{row['captured_updates_per_s']:.0f}, eager {row['eager_updates_per_s']:.0f}, "
            f"SB3 {row['sb3_updates_per_s']:.0f}; captured/SB3 {row['ratio_vs_sb3']:.2f}x, "
            f"captured/eager {row['ratio_vs_eager']:.2f}x; GPU floor {row['gpu_floor_ms_per_update']:.3f} "
            f"ms/update ({row['gpu_floor_updates_per_s']:.0f}/s), {args.updates_per_replay} update(s)/replay"
        )
    memory = buffer_memory(args.buffer_capacity)
    print(f"host replay buffer 1e6 (CPU path): {memory['buffer_nbytes'] / 2**20:.0f} MiB; device path: 0 MiB")
    summary = {"device": args.device, "gpu": name, "rounds": args.rounds, "updates_per_round": args.updates}
    print(json.dumps({**summary, "updates_per_replay": args.updates_per_replay, "rows": rows, **memory}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
