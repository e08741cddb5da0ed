"""Agent crash: the agent SIGKILLed mid-training and restarted with `resume: true`.

Real processes (sim_node, agent_node, MuJoCo, torch). The worker uses the original's fixed block
pose, so an evaluation (deterministic policy, learning paused, freshly reset workers) is a
deterministic function of the policy: comparing it before the crash and after the resume is a real
comparison, not a noisy one. What it proves:
- the restarted agent loads the last checkpoint by itself: same policy (identical evaluation),
  the replay buffer row for row, the counters (env steps, updates, rejection counts) and the
  learning curve;
- it goes on learning from there (env steps and updates continue from the restored counts);
- what was learned after the last checkpoint is all that is lost (bounded by checkpoint_every).
"""

from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import numpy as np
import pytest
from reliability_helpers import (
    children,
    record_figures,
    set_parameters,
    sim_parameters,
    small_agent,
    wait_for,
)

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip("rclpy", reason="rclpy (ros-rclpy wheels) is not installed")

from std_msgs.msg import Int64  # noqa: E402
from std_srvs.srv import SetBool, Trigger  # noqa: E402


def _checkpoint_state(directory: Path) -> tuple[dict, dict[str, np.ndarray], dict[str, np.ndarray]]:
    meta = json.loads((directory / "checkpoint.json").read_text())
    with np.load(directory / "buffer.npz", allow_pickle=False) as data:
        buffer = {name: data[name].copy() for name in data.files}
    with np.load(directory / "curve.npz", allow_pickle=False) as data:
        curve = {name: data[name].copy() for name in data.files}
    return meta["counters"], buffer, curve


def call_restarted_service(ros_client, name: str, attempts: int = 2, timeout: float = 60.0):
    """Call a Trigger service of a server that replaced a SIGKILLed one.

    Discovery may still match the dead server (it never said goodbye), so a request sent before the
    new server's endpoints are matched reaches only the dead one and is lost; a client of a
    restarted server resends. An evaluation here takes about a second, so a timeout means a lost
    request, not a slow answer.
    """
    for attempt in range(1, attempts + 1):
        try:
            return ros_client.call(Trigger, name, timeout=timeout)
        except TimeoutError:
            if attempt == attempts:
                raise


def test_agent_sigkilled_resumes_from_its_checkpoint_and_evaluates_no_worse(
    start_node, ros_client, tmp_path: Path
):
    sim = start_node("sim_node", "/worker_0", sim_parameters(seed=0, random_target=False))
    checkpoint = tmp_path / "checkpoint"
    params = small_agent(workers=["worker_0"], checkpoint_dir=str(checkpoint), resume=True, eval_episodes=2)
    agent = start_node("agent_node", "/", params)
    env_steps = [0]
    ros_client.node.create_subscription(
        Int64, "/agent_node/env_steps", lambda m: env_steps.__setitem__(0, m.data), 10
    )
    spin = lambda: ros_client.executor.spin_once(timeout_sec=0.05)  # noqa: E731
    wait_for(lambda: env_steps[0] >= 250, 120, f"250 env steps (agent log {agent.log_path})", spin)

    # The last checkpoint before the crash, and what its policy scores.
    assert ros_client.call(SetBool, "/train", SetBool.Request(data=False)).success
    saved = ros_client.call(Trigger, "/save", timeout=60)
    assert saved.success, saved.message
    saved_counters, saved_buffer, saved_curve = _checkpoint_state(checkpoint)
    before = ros_client.call(Trigger, "/evaluate", timeout=120)
    assert before.success, before.message
    assert ros_client.call(SetBool, "/train", SetBool.Request(data=True)).success
    crash_at = saved_counters["env_steps"] + 100
    wait_for(lambda: env_steps[0] >= crash_at, 120, "training after the checkpoint", spin)

    agent.process.kill()  # SIGKILL mid-training: no save, no cleanup
    agent.process.wait(timeout=10)
    lost = env_steps[0] - saved_counters["env_steps"]
    # Restarted paused, so the comparison sees the resumed policy before any new update changes it.
    resumed = start_node("agent_node", "/", dict(params, learning=False))
    wait_for(lambda: "resumed:" in resumed.log() or not resumed.alive(), 60, "the resume", spin)
    assert "resumed:" in resumed.log(), resumed.log()
    after = call_restarted_service(ros_client, "/evaluate")
    assert after.success, after.message
    summary_before, summary_after = json.loads(before.message), json.loads(after.message)
    assert summary_after["mean_return"] >= summary_before["mean_return"] - 1e-9, (before, after)
    assert summary_after["success_rate"] >= summary_before["success_rate"]
    assert summary_after == summary_before  # deterministic policy and scene: the same policy came back

    # Buffer, counters and curve came back exactly (learning paused: nothing added since).
    check = tmp_path / "after_resume"
    assert set_parameters(ros_client, "/agent_node", checkpoint_dir=str(check))[0].successful
    saved_again = ros_client.call(Trigger, "/save", timeout=60)
    assert saved_again.success, saved_again.message
    counters, buffer, curve = _checkpoint_state(check)
    for name in ("env_steps", "num_updates", "steps_rejected"):
        assert counters[name] == saved_counters[name], name
    # The evaluation's reset cut one running episode short: counted on top of the restored count.
    assert (
        saved_counters["episodes_abandoned"]
        <= counters["episodes_abandoned"]
        <= saved_counters["episodes_abandoned"] + 2
    )
    for name, array in saved_buffer.items():
        if name != "rng_state":
            np.testing.assert_array_equal(buffer[name], array, err_msg=name)
    for name, array in saved_curve.items():  # episodes driven while paused come after the restored ones
        np.testing.assert_array_equal(curve[name][: len(array)], array, err_msg=name)

    # Learning goes on from the restored counts, not from zero.
    env_steps[0] = 0
    assert ros_client.call(SetBool, "/train", SetBool.Request(data=True)).success
    target = saved_counters["env_steps"] + 100
    wait_for(lambda: env_steps[0] >= target, 120, "learning after the resume", spin)
    final = ros_client.call(Trigger, "/save", timeout=60)
    assert final.success, final.message
    final_counters = json.loads((check / "checkpoint.json").read_text())["counters"]
    assert final_counters["num_updates"] > saved_counters["num_updates"]
    assert resumed.stop() == 0, resumed.log()
    assert sim.stop() == 0, sim.log()
    record_figures(
        "agent_crash",
        agent_kills_survived=1,
        env_steps_at_checkpoint=saved_counters["env_steps"],
        env_steps_lost_since_checkpoint=lost,
        buffer_rows_restored=int(saved_buffer["size"]),
        curve_episodes_restored=len(saved_curve["episode"]),
        eval_before=summary_before,
        eval_after=summary_after,
    )


def test_history_replayed_to_a_resumed_agent_is_not_paired_again():
    """A resumed agent gets each worker's last messages again (transient-local history); those up to
    the key saved with the checkpoint count as duplicates, so no transition enters the buffer twice."""
    from sac_grasp_ros.graph.protocol import StepMessage, TransitionAssembler, Verdict

    def step(k: int) -> StepMessage:
        rng = np.random.default_rng(k)
        return StepMessage(7, 3, k, float(k), False, False, False, rng.normal(size=7), rng.normal(size=17))

    before_crash = TransitionAssembler()
    stored = [t for k in range(10) if (t := before_crash.push("w", step(k))[1]) is not None]
    assert len(stored) == 9
    resumed = TransitionAssembler()
    resumed.set_floor("w", before_crash.last("w").key)
    replay = [resumed.push("w", step(k)) for k in range(4, 13)]  # history 4..9, then new steps 10..12
    assert [v for v, _ in replay[:6]] == [Verdict.DUPLICATE] * 6
    assert [v for v, _ in replay[6:]] == [Verdict.EPISODE_START, Verdict.TRANSITION, Verdict.TRANSITION]
    assert resumed.counts[Verdict.DUPLICATE] == 6


def test_launcher_respawns_a_killed_agent_which_resumes_and_finishes(ros_env, tmp_path: Path):
    """`sac-grasp train` with graph.respawn_agent: the agent SIGKILLed mid-run is started again, resumes
    from its last periodic checkpoint (not from zero) and the run ends normally with its evaluation."""
    import subprocess
    import sys

    import yaml

    from sac_grasp_ros import paths

    config = yaml.safe_load(paths.config_file("train_quick").read_text())
    config["graph"].update(respawn_agent=True, respawn_delay=0.5)
    config["agent_node"]["ros__parameters"].update(checkpoint_every=200, total_steps=1200, eval_episodes=2)
    config["agent_node"]["ros__parameters"]["sac"].update(learning_starts=200, hidden_size=32)
    config_file = tmp_path / "train.yaml"
    config_file.write_text(yaml.safe_dump(config))
    out = tmp_path / "run"
    command = [sys.executable, "-m", "sac_grasp_ros.cli", "train", "--config", str(config_file),
               "--out", str(out), "--localhost", "--domain-id", ros_env["ROS_DOMAIN_ID"]]  # fmt: skip
    train = subprocess.Popen(command, env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    agent_log = out / "logs" / "agent_node.log"
    try:
        wait_for(
            lambda: agent_log.exists() and "env_steps=500" in agent_log.read_text(), 180, "500 env steps"
        )
        (agent_pid,) = [
            pid for pid in children(train.pid) if "agent_node" in Path(f"/proc/{pid}/cmdline").read_text()
        ]
        os.kill(agent_pid, signal.SIGKILL)
        stdout, stderr = train.communicate(timeout=300)
    finally:
        if train.poll() is None:
            train.terminate()
            train.communicate(timeout=60)
    log = agent_log.read_text()
    assert train.returncode == 0, stderr + log
    assert "respawning /agent_node" in stderr
    resumed = [line for line in log.splitlines() if "resumed:" in line]
    assert len(resumed) == 1, log
    resumed_at = int(re.search(r"(\d+) env steps\)", resumed[0]).group(1))
    assert resumed_at >= 400  # the periodic checkpoint at 400+ came back, not a fresh start
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["episodes"] == 2
    meta = json.loads((out / "checkpoints" / "latest" / "checkpoint.json").read_text())
    assert meta["counters"]["env_steps"] >= 1200
    record_figures("agent_crash_launcher", agent_kills_survived=1, resumed_at_env_steps=resumed_at,
                   final_env_steps=meta["counters"]["env_steps"], final_eval=summary)  # fmt: skip
