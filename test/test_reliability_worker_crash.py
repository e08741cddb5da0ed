"""Worker crashes during training: a simulator worker SIGKILLed again and again while the agent learns.

Real processes throughout (two sim_node workers, one agent_node, MuJoCo, torch). The test plays
the launcher's respawn itself (the same command again) so it can kill at any moment and knows
each process's audit stream. What it proves:
- the agent keeps storing transitions from the surviving worker while the other one is down;
- every restarted worker (a new session whose episode ids start again at 0) is driven again;
- no stored transition spans a crash: every row of the agent's replay buffer is two consecutive
  steps of one episode of one worker session, as the workers' crash-proof streams recorded them;
- the agent counts what it refused (steps_rejected, episodes_abandoned) in its saved counters.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from reliability_helpers import (
    legitimate_transitions,
    read_stream,
    record_figures,
    sim_parameters,
    small_agent,
    stored_transitions,
    wait_for,
)

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip("rclpy", reason="rclpy (ros-rclpy wheels) is not installed")

from std_msgs.msg import Float64MultiArray, Int64  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from sac_grasp_ros.nodes.common import STEP_QOS  # noqa: E402

KILLS = 10


def test_worker_sigkilled_ten_times_agent_keeps_learning_and_stores_no_spanning_transition(
    start_node, ros_client, tmp_path: Path
):
    streams = [tmp_path / f"worker_{i}.npy" for i in range(2)]
    worker_params = [sim_parameters(seed=i, record_steps=str(streams[i])) for i in range(2)]
    workers = [start_node("sim_node", f"/worker_{i}", worker_params[i]) for i in range(2)]
    checkpoint = tmp_path / "checkpoint"
    agent = start_node(
        "agent_node", "/", small_agent(workers=["worker_0", "worker_1"], checkpoint_dir=str(checkpoint))
    )
    env_steps = [0]
    ros_client.node.create_subscription(
        Int64, "/agent_node/env_steps", lambda m: env_steps.__setitem__(0, m.data), 10
    )
    survivor_steps = [0]
    ros_client.node.create_subscription(
        Float64MultiArray,
        "/worker_0/step",
        lambda m: survivor_steps.__setitem__(0, survivor_steps[0] + 1),
        STEP_QOS,
    )
    spin = lambda: ros_client.executor.spin_once(timeout_sec=0.05)  # noqa: E731
    wait_for(lambda: env_steps[0] >= 100, 120, f"100 env steps (agent log {agent.log_path})", spin)

    victim_stream = Path(f"{streams[1]}.stream")
    rng = random.Random(7)  # seeded pauses: kills land at different points of an episode
    progress_while_down = []
    for kill in range(KILLS):
        sessions_before = {s.session for s in read_stream(victim_stream)}
        workers[1].process.kill()  # SIGKILL: no cleanup, no goodbye message
        workers[1].process.wait(timeout=10)
        survivor_at_kill = survivor_steps[0]
        ros_client.spin_for(rng.uniform(0.2, 1.0))  # the respawn delay
        workers[1] = start_node("sim_node", "/worker_1", worker_params[1])

        def rejoined(sessions_before: set[int] = sessions_before) -> bool:
            new = [s for s in read_stream(victim_stream) if s.session not in sessions_before]
            return any(s.step >= 3 for s in new)  # the agent commanded the new process a few times

        wait_for(
            rejoined, 90, f"restart {kill + 1} of worker_1 to be driven again ({workers[1].log_path})", spin
        )
        progress_while_down.append(survivor_steps[0] - survivor_at_kill)
        assert agent.alive() and workers[0].alive(), agent.log()
        ros_client.spin_for(rng.uniform(0.0, 1.5))

    saved = ros_client.call(Trigger, "/save", timeout=60)
    assert saved.success, saved.message
    for node in (*workers, agent):
        assert node.stop() == 0, node.log()

    meta = json.loads((checkpoint / "checkpoint.json").read_text())
    counters = meta["counters"]
    stored = stored_transitions(checkpoint / "buffer.npz")
    produced = [legitimate_transitions(read_stream(Path(f"{path}.stream"))) for path in streams]
    unmatched = [key for key in stored if not any(key in rows for rows in produced)]
    assert not unmatched, f"{len(unmatched)} stored transitions are not consecutive steps of one episode"
    assert len(set(stored)) == len(stored), "a transition was stored twice"
    victim_sessions = {produced[1][key][0] for key in stored if key in produced[1]}
    all_sessions = {s.session for s in read_stream(victim_stream)}
    assert len(all_sessions) == KILLS + 1
    assert victim_sessions == all_sessions, "a restarted worker never contributed transitions"
    # The survivor was driven on while its neighbour was down (each outage lasts seconds).
    assert all(progress > 0 for progress in progress_while_down), progress_while_down
    assert counters["episodes_abandoned"] >= KILLS - 1, counters  # cut by the kill (rarely at an episode end)
    assert counters["steps_rejected"] == sum(
        counters[f"steps_{v}"] for v in ("gap", "duplicate", "stale", "aborted")
    )
    assert counters["env_steps"] == len(stored)
    record_figures(
        "worker_crash",
        kills_survived=KILLS,
        worker_sessions=len(all_sessions),
        stored_transitions=len(stored),
        transitions_spanning_a_crash=len(unmatched),
        steps_rejected=counters["steps_rejected"],
        steps_duplicate=counters["steps_duplicate"],
        steps_gap=counters["steps_gap"],
        steps_stale=counters["steps_stale"],
        episodes_abandoned=counters["episodes_abandoned"],
        stall_resets=counters["stall_resets"],
        survivor_steps_per_outage=progress_while_down,
    )
