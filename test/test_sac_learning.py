"""The learner actually learns: SAC solves Pendulum-v1 from scratch with a fixed seed.

Made cheap for a 2-core CI machine: 2x256 networks instead of the grasp task's 3/4x512, one torch
thread (measured faster than two when other processes share the machine), 1000 random warm-up steps,
and 6000 env steps (seeds 0 and 1 reached about -150 by 4000 steps; the 20k budget leaves margin).
"""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

from sac_grasp_ros.sac import SAC, SACConfig
from sac_grasp_ros.training.config import TrainingConfig
from sac_grasp_ros.training.gym_loop import evaluate, train
from sac_grasp_ros.training.session import TrainingSession

SOLVED = -250.0  # mean return over 10 deterministic episodes; a random policy scores about -1200


@pytest.fixture
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.mark.slow
def test_sac_solves_pendulum(one_thread, tmp_path) -> None:
    seed = 0
    config = SACConfig(
        hidden_size=256,
        q_hidden_layers=2,
        policy_hidden_layers=2,
        learning_starts=1000,
        buffer_capacity=10_000,
        device="cpu",
        seed=seed,
    )
    env = gym.make("Pendulum-v1")
    env.action_space.seed(seed)
    session = TrainingSession(
        TrainingConfig(total_steps=6_000, on_finish="exit", seed=seed, checkpoint_dir=str(tmp_path / "ck")),
        config,
    )
    train(session, env, None, seed)
    sac = session.sac
    before = evaluate(gym.make("Pendulum-v1"), SAC(3, 1, config), 3, seed=1000)  # untrained, for contrast
    result = evaluate(gym.make("Pendulum-v1"), sac, 10, seed=1000)
    assert sac.num_updates == 5_001
    assert before.mean_return < -700
    print(f"pendulum eval mean return {result.mean_return:.1f}")
    assert result.mean_return > SOLVED, f"eval returns {result.returns}"
