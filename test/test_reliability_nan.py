"""Simulator instability: a NaN or exploding physics state injected into a real sim_node while training.

Real processes (sim_node with `fault_injection`, agent_node, MuJoCo, torch). The injection writes
NaN, then 1e12 (past MuJoCo's 1e10 limit), into the MuJoCo velocities just before a step, through
the node's test-only `~/inject_*` services. What it proves:
- the step on which the physics diverged ends the episode, marked `aborted` (the env's nan_reset),
  and the node logs it; the scene is reset (next message: step 0 of the next episode, arm at home);
- the worker keeps running and is driven on afterwards;
- the agent stores neither the diverged step nor any transition spanning it (every buffer row is
  two consecutive, non-aborted steps of one episode), and counts the aborted steps.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from reliability_helpers import (
    legitimate_transitions,
    read_stream,
    record_figures,
    sim_parameters,
    small_agent,
    stored_transitions,
    transition_key,
    wait_for,
)

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip("rclpy", reason="rclpy (ros-rclpy wheels) is not installed")

from std_msgs.msg import Int64  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from sac_grasp_ros.scene.base import HOME_POSTURE  # noqa: E402

FAULTS = ("nan", "explosion", "nan")


def test_diverged_physics_ends_the_episode_resets_the_scene_and_is_never_stored(
    start_node, ros_client, tmp_path: Path
):
    record = tmp_path / "worker_0.npy"
    sim = start_node(
        "sim_node",
        "/worker_0",
        sim_parameters(seed=0, max_episode_steps=40, record_steps=str(record), fault_injection=True),
    )
    checkpoint = tmp_path / "checkpoint"
    agent = start_node("agent_node", "/", small_agent(workers=["worker_0"], checkpoint_dir=str(checkpoint)))
    env_steps = [0]
    ros_client.node.create_subscription(
        Int64, "/agent_node/env_steps", lambda m: env_steps.__setitem__(0, m.data), 10
    )
    spin = lambda: ros_client.executor.spin_once(timeout_sec=0.05)  # noqa: E731
    wait_for(lambda: env_steps[0] >= 100, 120, f"100 env steps (agent log {agent.log_path})", spin)
    stream = Path(f"{record}.stream")

    for index, fault in enumerate(FAULTS):
        reply = ros_client.call(Trigger, f"/worker_0/sim_node/inject_{fault}")
        assert reply.success, reply.message
        wait_for(
            lambda index=index: sum(s.aborted for s in read_stream(stream)) == index + 1,
            60,
            f"the injected {fault} to abort a step",
            spin,
        )
        aborted_at = len(read_stream(stream))
        wait_for(lambda at=aborted_at: len(read_stream(stream)) > at + 5, 60, "steps after the fault", spin)
    saved = ros_client.call(Trigger, "/save", timeout=60)
    assert saved.success, saved.message
    assert sim.alive() and agent.alive()
    assert sim.stop() == 0, sim.log()
    assert agent.stop() == 0, agent.log()

    steps = read_stream(stream)
    aborted = [i for i, s in enumerate(steps) if s.aborted]
    assert len(aborted) == len(FAULTS)
    for i in aborted:
        bad, before, after = steps[i], steps[i - 1], steps[i + 1]
        assert (bad.session, bad.episode) == (before.session, before.episode) and bad.step == before.step + 1
        assert bad.done and np.all(np.isfinite(bad.observation))
        # The scene was reset: a new episode starts with the arm at home, at rest.
        assert (after.episode, after.step) == (bad.episode + 1, 0)
        np.testing.assert_allclose(after.observation[:7], HOME_POSTURE, atol=1e-5)
        np.testing.assert_allclose(after.observation[7:14], 0.0, atol=1e-6)
    assert sim.log().count("nan_reset: the simulation diverged") == len(FAULTS), sim.log()

    stored = stored_transitions(checkpoint / "buffer.npz")
    legitimate = legitimate_transitions(steps)
    spanning = {
        transition_key(
            steps[i - 1].observation,
            steps[i].action,
            steps[i].reward,
            steps[i].observation,
            steps[i].terminated,
        )
        for i in aborted
    }
    assert not spanning & set(stored), "the diverged step was stored as a transition"
    assert all(key in legitimate for key in stored), "a stored transition is not two consecutive steps"
    # Learning went on after each fault: transitions of the episodes that followed were stored.
    episodes_after = {(steps[i].session, steps[i].episode + 1) for i in aborted}
    assert episodes_after <= {legitimate[key] for key in stored}
    counters = json.loads((checkpoint / "checkpoint.json").read_text())["counters"]
    assert counters["steps_aborted"] == len(FAULTS), counters
    record_figures(
        "nan_injection",
        faults_injected=len(FAULTS),
        episodes_aborted=len(aborted),
        aborted_steps_stored=len(spanning & set(stored)),
        steps_aborted_counted_by_agent=counters["steps_aborted"],
        stored_transitions=len(stored),
    )


def test_an_aborted_step_ends_the_episode_without_a_transition():
    """The assembler's side of the guard, message by message: the diverged step completes nothing,
    later messages of that episode are refused, the next episode pairs normally."""
    from sac_grasp_ros.graph.protocol import StepMessage, TransitionAssembler, Verdict

    def step(episode: int, k: int, aborted: bool = False) -> StepMessage:
        rng = np.random.default_rng([episode, k])
        return StepMessage(
            1, episode, k, 0.0, aborted, False, False, rng.normal(size=7), rng.normal(size=17), aborted
        )

    assembler = TransitionAssembler()
    verdicts = [
        assembler.push("w", msg)[0]
        for msg in (step(0, 0), step(0, 1), step(0, 2, aborted=True), step(0, 3), step(1, 0), step(1, 1))
    ]
    assert verdicts == [
        Verdict.EPISODE_START, Verdict.TRANSITION, Verdict.ABORTED, Verdict.DUPLICATE,
        Verdict.EPISODE_START, Verdict.TRANSITION,
    ]  # fmt: skip
    assert assembler.rejected == 2 and assembler.abandoned == 0
