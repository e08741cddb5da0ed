"""Seeding: the same seed on the same CPU gives the same numbers, weights, actions and updates."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from sac_grasp_ros.sac import SAC, ReplayBuffer, SACConfig, resolve_device, seed_everything


def draws() -> tuple[float, float, float]:
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_seed_everything_repeats_every_generator() -> None:
    seed_everything(123)
    first = draws()
    seed_everything(123)
    assert draws() == first
    seed_everything(124)
    assert draws() != first


def learn(seed: int) -> tuple[np.ndarray, dict[str, float]]:
    config = SACConfig(
        hidden_size=32, q_hidden_layers=2, policy_hidden_layers=2, batch_size=32, device="cpu", seed=seed
    )
    sac = SAC(4, 2, config)
    rng = np.random.default_rng(seed)
    buffer = ReplayBuffer(300, 4, 2, seed=seed)
    buffer.add_batch(
        rng.standard_normal((300, 4)),
        rng.uniform(-1, 1, (300, 2)),
        rng.standard_normal(300),
        rng.standard_normal((300, 4)),
        rng.random(300) < 0.1,
    )
    metrics = sac.update_from(buffer, 5)
    return sac.act(np.ones((3, 4), np.float32)), metrics


def test_same_seed_same_learning_run() -> None:
    actions_a, metrics_a = learn(7)
    actions_b, metrics_b = learn(7)
    np.testing.assert_array_equal(actions_a, actions_b)
    assert metrics_a == metrics_b
    actions_c, _ = learn(8)
    assert not np.array_equal(actions_a, actions_c)


def test_device_choice() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match=r"SACConfig\.device"):
        SACConfig(device="tpu")
