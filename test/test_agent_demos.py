"""The agent node's learning-from-demonstrations stages in real processes (rclpy, MuJoCo, torch).

A small scripted demo file (recorded with the workers' own settings) plus behaviour cloning, replay
prefill, critic pretraining and demo-anchored updates must give a policy that beats an untrained
one on /evaluate. Seeds are fixed (demo seeds, worker seed, agent seed).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip("rclpy", reason="rclpy (ros-rclpy wheels) is not installed")

from std_msgs.msg import Int64  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from sac_grasp_ros.envs.demos import record_scripted_demos  # noqa: E402

SIM = {
    "random_target": True,
    "max_episode_steps": 60,
    "observation": "extended",
    "reward": "shaped",
    "step_mode": "lockstep",
    "markers_every": 0,
    "joint_states_every": 0,
    "seed": 5,
}
SAC = {
    "hidden_size": 128,
    "q_hidden_layers": 2,
    "policy_hidden_layers": 2,
    "batch_size": 128,
    "learning_starts": 0,
    "policy_lr": 1e-5,
    "autotune_alpha": False,
    "init_alpha": 0.01,
    "buffer_capacity": 20000,
    "device": "cpu",
    "torch_threads": 1,
}
EVAL_EPISODES = 8


def evaluate(ros_client, agent) -> dict:
    reply = ros_client.call(Trigger, "/evaluate", timeout=90)
    assert reply.success, f"{reply.message} (agent log: {agent.log()[-2000:]})"
    return json.loads(reply.message)


def test_cloned_agent_beats_an_untrained_one_on_evaluate(start_node, ros_client, tmp_path: Path):
    demo_file = tmp_path / "demos.npz"
    stats = record_scripted_demos(SIM, episodes=30, seed=2_000_000, path=demo_file)
    assert stats.successes >= 25  # the scripted controller solves the task: the demos are worth cloning
    start_node("sim_node", "/worker_0", SIM)
    common = {"workers": ["worker_0"], "eval_episodes": EVAL_EPISODES, "seed": 1, "sac": SAC}

    cloned = start_node(
        "agent_node",
        "/",
        {
            **common,
            "demo_file": str(demo_file),
            "prefill_from_demos": -1,
            "bc_steps": 3000,
            "critic_pretrain_steps": 50,
            "bc_per_update": 1,
            "total_steps": 100,  # a few demo-anchored SAC updates, then learning stops (on_finish idle)
            "checkpoint_dir": str(tmp_path / "cloned"),
            "progress_every": 20,
        },
    )
    env_steps = [0]
    subscription = ros_client.node.create_subscription(
        Int64, "/agent_node/env_steps", lambda m: env_steps.__setitem__(0, m.data), 10
    )
    ros_client.spin_until(lambda: env_steps[0] >= 100, 60, f"100 env steps (agent log: {cloned.log_path})")
    trained = evaluate(ros_client, cloned)
    log = cloned.log()
    assert "behaviour cloning: 3000 steps" in log and "critic pretraining: 50 updates" in log
    assert "replay buffer prefilled with" in log
    assert cloned.stop() == 0
    ros_client.node.destroy_subscription(subscription)

    untrained = start_node("agent_node", "/", {**common, "learning": False})
    baseline = evaluate(ros_client, untrained)

    print(json.dumps({"cloned": trained, "untrained": baseline}))
    assert trained["episodes"] == baseline["episodes"] == EVAL_EPISODES
    # Measured with these seeds: cloned 7/8 grasps, return -9.1; untrained 0/8, return -51.3.
    assert trained["mean_return"] > baseline["mean_return"] + 5.0, (trained, baseline)
    assert trained["success_rate"] >= baseline["success_rate"] + 0.25, (trained, baseline)


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"bc_steps": 10}, "bc_steps need demonstrations: set demo_file"),
        ({"prefill_from_demos": 10, "critic_pretrain_steps": 5}, "need demonstrations"),
        ({"bc_lr": 0.0}, "bc_lr must be a finite number > 0"),
    ],
)
def test_bad_cloning_parameters_are_refused_with_a_clear_error(start_node, parameters, message):
    agent = start_node("agent_node", "/", {"workers": ["worker_0"], **parameters})
    assert agent.process.wait(timeout=30) != 0
    assert message in agent.log()


def test_critic_pretraining_on_less_than_a_batch_is_refused_at_start(start_node, tmp_path: Path):
    demo_file = tmp_path / "demos.npz"
    record_scripted_demos(SIM, episodes=1, seed=2_000_000, path=demo_file)
    parameters = {"demo_file": str(demo_file), "prefill_from_demos": 10, "critic_pretrain_steps": 5}
    agent = start_node("agent_node", "/", {"workers": ["worker_0"], "sac": {"batch_size": 32}, **parameters})
    assert agent.process.wait(timeout=30) != 0
    assert "prefill_from_demos >= sac.batch_size (32), got 10" in agent.log()
