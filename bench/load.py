"""Load: 8 simulator workers against one learning agent for N minutes, through `sac-grasp train`.

    .venv/bin/python bench/load.py [--workers 8] [--minutes 10] [--json bench/results/load.json]

Measured, from outside the processes (nothing in the nodes is special-cased for this run):
- memory: resident set size of every node process, sampled every --sample-every seconds. The
  agent's growth is compared with the replay-buffer rows it filled in the same time (the buffer is
  allocated up front and paged in as it fills, so that growth is expected); workers should be flat.
- dropped commands: the agent's final counters (printed at shutdown): commands sent vs step
  messages that answered one (`total_steps_seen`), in flight at shutdown at most one per worker;
  plus reset-after-stall events (a command left unanswered for stall_timeout).
- throughput stability: env steps/s over the first and the last full minute (from the agent's
  timestamped progress lines), printed as a ratio last / first (1.0 = stable).
The machine's load average is recorded at the start and the end: other programs share the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROW_BYTES = 4 * (17 + 7 + 1 + 17) + 1  # obs, action, reward, next_obs (float32), terminated (bool)
PROGRESS = re.compile(r"\[(\d+\.\d+)\] \[agent_node\]: env_steps=(\d+) .*? seen=(\d+)")


def config(workers: int, capacity: int) -> dict:
    return {
        "graph": {"num_workers": workers, "respawn_workers": False, "seed": 0},
        "sim_node": {
            "ros__parameters": {
                "random_target": True,
                "max_episode_steps": 50,
                "reward": "shaped",
                "step_mode": "lockstep",
                "markers_every": 0,
                "joint_states_every": 0,
            }
        },
        "agent_node": {
            "ros__parameters": {
                "learning": True,
                "total_steps": 0,
                "on_finish": "idle",
                "checkpoint_every": 0,
                "progress_every": 500,
                "sac": {
                    "hidden_size": 128,
                    "batch_size": 128,
                    "learning_starts": 1000,
                    "utd_ratio": 0.25,
                    "buffer_capacity": capacity,
                    "device": "cpu",
                    "torch_threads": 1,
                },
            }
        },
    }


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    try:
        return [int(p) for p in path.read_text().split()]
    except OSError:
        return []


def label(pid: int) -> str | None:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    args = [a.decode(errors="replace") for a in cmdline]
    for arg in args:
        if arg.startswith("__ns:=/") and arg != "__ns:=/":
            return arg[len("__ns:=/") :]
    return "agent" if any("agent_node" in a for a in args) else None


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def rate_in(points: list[tuple[float, int]], start: float, end: float) -> float | None:
    """Steps/s between the first and last progress points inside [start, end]."""
    inside = [(t, n) for t, n in points if start <= t <= end]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return None
    return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sample-every", type=float, default=5.0, help="seconds between memory samples")
    parser.add_argument("--buffer-capacity", type=int, default=1_000_000)
    parser.add_argument("--json", default="bench/results/load.json", help="where the figures are written")
    args = parser.parse_args()

    load_before = os.getloadavg()
    out = Path(tempfile.mkdtemp(prefix="sac_grasp_load_"))
    config_file = out / "load.yaml"
    config_file.write_text(yaml.safe_dump(config(args.workers, args.buffer_capacity)))
    command = [
        sys.executable, "-m", "sac_grasp_ros.cli", "train", "--config", str(config_file), "--out", str(out),
        "--localhost", "--domain-id", str(150 + os.getpid() % 80),
    ]  # fmt: skip
    launcher = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = time.time()
    samples: dict[str, list[tuple[float, float]]] = {}
    try:
        while time.time() - started < args.minutes * 60:
            time.sleep(args.sample_every)
            if launcher.poll() is not None:
                raise RuntimeError(
                    f"the launcher exited early ({launcher.returncode}): {launcher.stderr.read()}"
                )
            now = time.time() - started
            for pid in children(launcher.pid):
                name, rss = label(pid), rss_mb(pid)
                if name and rss is not None:
                    samples.setdefault(name, []).append((now, rss))
    finally:
        launcher.send_signal(signal.SIGTERM)
        try:
            launcher.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            launcher.kill()
    load_after = os.getloadavg()

    agent_log = (out / "logs" / "agent_node.log").read_text(errors="replace")
    points = [(float(t), int(seen)) for t, _, seen in PROGRESS.findall(agent_log)]
    env_points = [(float(t), int(steps)) for t, steps, _ in PROGRESS.findall(agent_log)]
    final = json.loads(agent_log.split("final counters: ")[-1].splitlines()[0])
    first_t = points[0][0] if points else started
    last_t = points[-1][0] if points else started
    first_minute = rate_in(points, first_t, first_t + 60)
    last_minute = rate_in(points, last_t - 60, last_t)

    warm = min(60.0, args.minutes * 60 / 4)  # start-up and the first buffer pages excluded
    memory = {}
    for name, series in sorted(samples.items()):
        settled = [rss for t, rss in series if t >= warm] or [series[-1][1]]
        memory[name] = {"rss_mb_start": round(settled[0], 1), "rss_mb_end": round(settled[-1], 1),
                        "rss_mb_max": round(max(rss for _, rss in series), 1)}  # fmt: skip
    # Buffer rows filled between the agent's first settled sample and the end.
    warm_abs = started + warm
    steps_at_warm = next((n for t, n in env_points if t >= warm_abs), 0)
    steps_end = final["env_steps"]
    buffer_growth_mb = min(steps_end - steps_at_warm, args.buffer_capacity) * ROW_BYTES / 2**20
    agent = memory.get("agent", {})
    workers = {k: v for k, v in memory.items() if k != "agent"}
    in_flight = final["commands_sent"] - final["total_steps_seen"]
    result = {
        "workers": args.workers,
        "minutes": args.minutes,
        "load_average_start": [round(x, 2) for x in load_before],
        "load_average_end": [round(x, 2) for x in load_after],
        "cores": os.cpu_count(),
        "env_steps": final["env_steps"],
        "commands_sent": final["commands_sent"],
        "steps_answering_commands": final["total_steps_seen"],
        "commands_unanswered_at_shutdown": in_flight,
        "dropped_commands": max(0, in_flight - args.workers),
        "stall_resets": final["stall_resets"],
        "steps_rejected": final["steps_rejected"],
        "steps_per_s_first_minute": round(first_minute, 1) if first_minute else None,
        "steps_per_s_last_minute": round(last_minute, 1) if last_minute else None,
        "throughput_ratio_last_vs_first": round(last_minute / first_minute, 3)
        if first_minute and last_minute
        else None,
        "agent_rss_growth_mb": round(agent.get("rss_mb_end", 0) - agent.get("rss_mb_start", 0), 1),
        "buffer_growth_mb_same_period": round(buffer_growth_mb, 1),
        "agent_growth_beyond_buffer_mb": round(
            agent.get("rss_mb_end", 0) - agent.get("rss_mb_start", 0) - buffer_growth_mb, 1
        ),
        "max_worker_rss_growth_mb": round(
            max((w["rss_mb_end"] - w["rss_mb_start"] for w in workers.values()), default=0.0), 1
        ),
        "memory": memory,
        "rss_series": {
            name: [(round(t), round(rss, 1)) for t, rss in series] for name, series in samples.items()
        },
    }
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    summary = {k: v for k, v in result.items() if k not in ("memory", "rss_series")}
    print(json.dumps(summary, indent=2))
    print(f"figures written to {path}; logs in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
