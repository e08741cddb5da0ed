"""Live-view overhead: env steps/s of a short training through the ROS graph with the browser view
attached (`--view`, the view node subscribed to every worker and the agent) against the same training
without it, in one run.

    .venv/bin/python bench/view_overhead.py [--steps 1500] [--workers 1] [--rounds 1] [--browser]

Each round runs the training without the view, with it, with it, without it (ABBA: a drift of the
machine's load hits both alike); every run has the same config and seed. The rate is read from the
agent's log (env_steps against the node's clock), from 20 % of the steps to the end (start-up,
discovery, learning_starts excluded). `--browser` also keeps headless Chromium (test/browser.py) on
the page, so the page really streams; on one machine that browser's software WebGL competes for the
same cores, which a user's browser on another machine would not. Printed: steps/s of both and the
ratio with / without (target >= 0.95).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
LOG_LINE = re.compile(r"\[INFO\] \[(\d+\.\d+)\] \[agent_node\]: env_steps=(\d+) ")
VIEW_CPU = re.compile(r"\[view\] cpu ([\d.]+) s in ([\d.]+) s")


def config(steps: int, workers: int) -> dict:
    return {
        "graph": {"num_workers": workers, "respawn_workers": False, "seed": 0},
        "sim_node": {"ros__parameters": {
            "backend": "mujoco", "random_target": True, "max_episode_steps": 50, "observation": "extended",
            "reward": "shaped", "step_mode": "lockstep", "markers_every": 10, "joint_states_every": 1,
        }},
        "agent_node": {"ros__parameters": {
            "learning": True, "total_steps": steps, "on_finish": "evaluate_and_exit", "eval_episodes": 1,
            "eval_every": 0, "progress_every": 50,
            "sac": {"device": "cpu", "torch_threads": 1, "batch_size": 64, "learning_starts": 200, "seed": 0},
        }},
    }  # fmt: skip


def steps_per_second(agent_log: Path, total: int) -> float:
    """Rate between the first progress line at >= 20 % of the steps and the last one."""
    points = [(float(t), int(n)) for t, n in LOG_LINE.findall(agent_log.read_text())]
    points = [(t, n) for t, n in points if n >= 0.2 * total]
    if len(points) < 2:
        raise RuntimeError(f"too few progress lines in {agent_log}")
    (t0, n0), (t1, n1) = points[0], points[-1]
    return (n1 - n0) / (t1 - t0)


def run_training(
    cfg: Path, out: Path, domain: int, view_port: int | None, browser: bool
) -> tuple[float, float | None]:
    """env steps/s of one training, and the view process's CPU time per wall second (None: no view)."""
    command = [sys.executable, "-m", "sac_grasp_ros.cli", "train", "--config", str(cfg), "--out", str(out)]
    command += ["--domain-id", str(domain), "--localhost", "--no-progress"]
    if view_port is not None:
        command += ["--view", "--view-port", str(view_port)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    log = open(out.with_suffix(".log"), "w")  # noqa: SIM115
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    page = None
    try:
        if view_port is not None and browser:
            sys.path.insert(0, str(ROOT / "test"))
            from browser import HeadlessChromium

            view_log = out / "logs" / "view.log"
            while process.poll() is None and "live view at" not in (
                view_log.read_text() if view_log.exists() else ""
            ):
                time.sleep(0.5)
            page = HeadlessChromium()
            page.open(f"http://127.0.0.1:{view_port}/")
        if process.wait(timeout=900) != 0:
            raise RuntimeError(f"training failed; see {out.with_suffix('.log')}")
    finally:
        if page is not None:
            page.close()
        if process.poll() is None:
            process.kill()
        log.close()
    total = yaml.safe_load(cfg.read_text())["agent_node"]["ros__parameters"]["total_steps"]
    rate = steps_per_second(out / "logs" / "agent_node.log", total)
    view_log = out / "logs" / "view.log"
    share = None
    if view_log.exists() and (match := VIEW_CPU.search(view_log.read_text())):
        share = float(match.group(1)) / float(match.group(2))
    return rate, share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1, help="ABBA rounds (4 trainings each)")
    parser.add_argument("--browser", action="store_true", help="keep headless Chromium on the page")
    args = parser.parse_args()
    rates: dict[str, list[float]] = {"without": [], "with": []}
    shares: list[float] = []
    with tempfile.TemporaryDirectory(prefix="view-bench-") as tmp:
        cfg = Path(tmp) / "config.yaml"
        cfg.write_text(yaml.safe_dump(config(args.steps, args.workers)))
        domain = 150 + os.getpid() % 50
        for round_index in range(args.rounds):
            for turn, kind in enumerate(("without", "with", "with", "without")):
                out = Path(tmp) / f"r{round_index}-{turn}-{kind}"
                port = 8300 + turn if kind == "with" else None
                rate, share = run_training(cfg, out, domain, port, args.browser)
                rates[kind].append(rate)
                shares += [share] if share is not None else []
                note = f" (view process: {share:.1%} of a core)" if share is not None else ""
                print(f"round {round_index} {kind:>7} view: {rate:7.1f} env steps/s{note}", flush=True)
    without, with_view = float(np.mean(rates["without"])), float(np.mean(rates["with"]))
    cpu = f"the view process used {np.mean(shares):.1%} of a core" if shares else "no view CPU figure"
    print(
        f"env steps/s: without view {without:.1f}, with view {with_view:.1f} "
        f"({'with a headless browser on the page' if args.browser else 'no browser attached'}); "
        f"ratio {with_view / without:.3f} (target >= 0.95); {cpu}"
    )


if __name__ == "__main__":
    main()
