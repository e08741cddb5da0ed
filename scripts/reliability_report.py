"""Regenerate RELIABILITY.md: run the fault and fuzz tests with their figures recorded, then write the table.

    .venv/bin/python scripts/reliability_report.py            # runs the tests (~4-6 min on 2 cores)
    .venv/bin/python scripts/reliability_report.py --figures DIR   # reuse figures of an earlier run

The tests write their figures (kills survived, transitions rejected, cases tried) as JSON into the
directory named by SAC_GRASP_RELIABILITY_OUT; the load figures are bench/load.py's last JSON output
(bench/results/load.json; the load run takes minutes and is run by hand). Pass/fail per test comes
from pytest's JUnit XML, so a failing test shows as FAILED in the table, not as missing figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_FILES = [
    "test/test_reliability_worker_crash.py",
    "test/test_reliability_agent_crash.py",
    "test/test_reliability_nan.py",
    "test/test_physics_property.py",
    "test/test_fuzz_nodes.py",
    "test/test_fuzz_config.py",
    "test/test_fuzz_files.py",
    "test/test_multihost.py",
]
# (figures file, test module, fault, how it is injected, promise checked)
ROWS = [
    ("worker_crash", "test_reliability_worker_crash", "Simulator worker crash",
     "SIGKILL of a worker 10 times during one training run, restarted each time (new session)",
     "agent keeps learning; worker rejoins; no transition spans a crash"),
    ("agent_crash", "test_reliability_agent_crash", "Agent crash",
     "SIGKILL of the agent mid-training, restarted with resume: true",
     "policy, buffer, counters, curve restored; evaluation no worse (same seeds, fixed target)"),
    ("agent_crash_launcher", "test_reliability_agent_crash", "Agent crash under the launcher",
     "SIGKILL of the agent during `sac-grasp train` with graph.respawn_agent: true",
     "agent respawned, resumes from its periodic checkpoint, run finishes with its evaluation"),
    ("nan_injection", "test_reliability_nan", "Simulator instability",
     "NaN / 1e12 written into MuJoCo qvel through sim_node ~/inject_* (fault_injection)",
     "episode ends (aborted, nan_reset), scene resets, diverged step never stored"),
    ("physics_property", "test_physics_property", "Physics blow-ups",
     "hypothesis: blocks, servo gains/damping, both control modes, random/scripted actions; NaN or "
     "1e12 state, a blow-up inside the grasp attempt, stale mass constants, a reset of a blown-up scene",
     "no NaN observation or reward, every blow-up ends its episode (nan_reset), accepted settings never "
     "blow up"),
    ("fuzz_command_topic", "test_fuzz_nodes", "Bad commands",
     "hypothesis: command arrays of any length, NaN/inf/huge, to a running sim_node",
     "malformed rejected (logged), valid clamped; node up and stepping"),
    ("fuzz_step_topic", "test_fuzz_nodes", "Bad step messages",
     "hypothesis: random layouts, lengths, keys, NaN/inf/huge values (and pairs) on a worker's step topic",
     "ignored with a logged reason; agent up, then trains; buffer rows finite (decode: 500 cases)"),
    ("fuzz_services_and_parameters", "test_fuzz_nodes", "Bad service calls / parameters",
     "hypothesis: /train bools, /load with bad paths, set_parameters random names/types/values",
     "answered or refused with a reason; nodes up and working"),
    ("fuzz_config_files", "test_fuzz_config", "Bad config files",
     "hypothesis: random text/bytes, malformed YAML, wrong types, unknown keys",
     "ValueError naming the problem; launcher exits 2, no traceback"),
    ("fuzz_checkpoint_files", "test_fuzz_files", "Damaged checkpoints",
     "hypothesis: truncation, random/flipped bytes, wrong shapes/dtypes, pickles, bad JSON values",
     "CheckpointError naming the file; a planted pickle never runs"),
    ("fuzz_demo_files", "test_fuzz_files", "Damaged demonstrations",
     "hypothesis: the same damage to a demonstration .npz",
     "ValueError naming the file; a planted pickle never runs"),
    ("multi_host", "test_multihost", "Workers on another host",
     "workers and agent in two network namespaces joined by a veth link (10.231.x.0/24)",
     "training across the link, SUBNET discovery"),
]  # fmt: skip


def run_tests(figures: Path, junit: Path) -> int:
    env = dict(os.environ, SAC_GRASP_RELIABILITY_OUT=str(figures))
    command = [
        sys.executable,
        "-m",
        "pytest",
        *TEST_FILES,
        "-q",
        "-p",
        "no:cacheprovider",
        f"--junitxml={junit}",
    ]
    return subprocess.run(command, cwd=ROOT, env=env).returncode


def outcomes(junit: Path) -> dict[str, str]:
    """test module -> 'passed' / 'FAILED' / 'skipped' (worst outcome of its tests)."""
    if not junit.exists():
        return {}
    result: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        module = case.get("classname", "").split(".")[-1]
        if case.find("failure") is not None or case.find("error") is not None:
            state = "FAILED"
        elif case.find("skipped") is not None:
            state = "skipped"
        else:
            state = "passed"
        if result.get(module) != "FAILED":
            result[module] = state if result.get(module) in (None, "passed") else result[module]
    return result


def format_figures(figures: dict) -> str:
    parts = []
    for key, value in figures.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        elif isinstance(value, list):
            value = " ".join(str(v) for v in value)
        parts.append(f"{key.replace('_', ' ')}: {value}")
    return "; ".join(parts)


def load_section(path: Path) -> list[str]:
    if not path.exists():
        return ["No load figures yet: run `.venv/bin/python bench/load.py` (10 minutes by default)."]
    load = json.loads(path.read_text())
    agent = load.get("memory", {}).get("agent", {})
    rows = [
        ("workers x minutes", f"{load['workers']} x {load['minutes']}"),
        ("machine", f"{load['cores']} cores; load average {load['load_average_start'][0]} at start, "
                    f"{load['load_average_end'][0]} at end (other programs share the cores)"),
        ("env steps", load["env_steps"]),
        ("commands sent / steps answering them",
         f"{load['commands_sent']} / {load['steps_answering_commands']}"),
        ("unanswered at shutdown (in flight) / dropped", f"{load['commands_unanswered_at_shutdown']} / "
                                                          f"{load['dropped_commands']}"),
        ("stall resets / rejected steps", f"{load['stall_resets']} / {load['steps_rejected']}"),
        ("steps/s first minute -> last minute", f"{load['steps_per_s_first_minute']} -> "
                                                f"{load['steps_per_s_last_minute']} "
                                                f"(ratio {load['throughput_ratio_last_vs_first']})"),
        ("agent RSS (settled start -> end)",
         f"{agent.get('rss_mb_start')} -> {agent.get('rss_mb_end')} MB; "
         f"replay rows filled meanwhile: {load['buffer_growth_mb_same_period']} MB"),
        ("agent growth beyond the buffer", f"{load['agent_growth_beyond_buffer_mb']} MB"),
        ("largest worker RSS growth", f"{load['max_worker_rss_growth_mb']} MB"),
    ]  # fmt: skip
    return ["| figure | value |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)]


def write_report(figures_dir: Path, states: dict[str, str], load_json: Path, seconds: float | None) -> Path:
    lines = [
        "# Reliability",
        "",
        "What the project promises for hours-long training and for driving real arms: nothing learned is",
        "lost, no bad transition enters the replay buffer, a bad input never crashes a node, and workers",
        "can live on other machines. Each row is a test that injects the fault into real processes (rclpy",
        "nodes, MuJoCo, torch) and checks the promise; the figures are the ones that run recorded.",
        "",
        "Regenerate: `.venv/bin/python scripts/reliability_report.py` (runs the tests below and rewrites",
        "this file; the load figures come from the last `bench/load.py` run).",
        "",
        "| fault | injected by | promise checked | test | result | figures |",
        "|---|---|---|---|---|---|",
    ]
    for name, module, fault, how, promise in ROWS:
        path = figures_dir / f"{name}.json"
        figures = format_figures(json.loads(path.read_text())) if path.exists() else "(no figures recorded)"
        state = states.get(module, "not run")
        lines.append(f"| {fault} | {how} | {promise} | `test/{module}.py` | {state} | {figures} |")
    lines += [
        "",
        "Counters behind the figures: the agent counts every step message that completed no transition",
        "(`steps_duplicate`, `steps_stale`, `steps_gap`, `steps_aborted`, sum `steps_rejected`) and every",
        "episode cut short without its last message (`episodes_abandoned`: worker crash, reset mid-episode).",
        "They are published on `~/rejected_steps`, logged with the progress line and saved in the",
        "checkpoint's counters.",
        "",
        "## Load (bench/load.py, run by hand)",
        "",
        *load_section(load_json),
        "",
    ]
    if seconds is not None:
        lines.append(f"Tests run in {seconds:.0f} s on {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}.")
        lines.append("")
    out = ROOT / "RELIABILITY.md"
    out.write_text("\n".join(lines))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--figures", help="directory of figures from an earlier run (skip running the tests)")
    parser.add_argument("--load-json", default=str(ROOT / "bench" / "results" / "load.json"))
    args = parser.parse_args()
    seconds = None
    code = 0
    if args.figures:
        figures = Path(args.figures)
        junit = figures / "junit.xml"
        if (figures / "run.json").exists():
            seconds = json.loads((figures / "run.json").read_text())["seconds"]
    else:
        figures = Path(tempfile.mkdtemp(prefix="reliability_"))
        junit = figures / "junit.xml"
        started = time.monotonic()
        code = run_tests(figures, junit)
        seconds = time.monotonic() - started
        (figures / "run.json").write_text(json.dumps({"seconds": seconds, "date": time.strftime("%Y-%m-%d")}))
    report = write_report(figures, outcomes(junit), Path(args.load_json), seconds)
    print(f"wrote {report} (figures in {figures}; pytest exit {code})")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
