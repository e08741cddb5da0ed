"""Replay buffer: ring wrap-around, sampling, validation, and .npz save/load without pickle."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sac_grasp_ros.sac import ReplayBuffer


def numbered(start: int, count: int, obs_dim: int = 3, act_dim: int = 2) -> tuple[np.ndarray, ...]:
    """Transitions whose values encode their index, so positions in the ring are checkable."""
    index = np.arange(start, start + count, dtype=np.float32)
    return (
        np.repeat(index[:, None], obs_dim, 1),
        np.repeat(index[:, None], act_dim, 1) / 100,
        index,
        np.repeat(index[:, None], obs_dim, 1) + 0.5,
        (index % 2).astype(bool),
    )


def test_wrap_around_keeps_the_newest_transitions() -> None:
    buffer = ReplayBuffer(5, 3, 2, seed=0)
    for i in range(7):
        obs, act, rew, nxt, term = numbered(i, 1)
        buffer.add(obs[0], act[0], float(rew[0]), nxt[0], bool(term[0]))
    assert len(buffer) == 5 and buffer.position == 2
    np.testing.assert_array_equal(buffer.arrays["rewards"], [5, 6, 2, 3, 4])
    np.testing.assert_array_equal(buffer.arrays["terminated"], [True, False, False, True, False])
    buffer.add_batch(*numbered(7, 4))  # crosses the end of the ring in one call
    np.testing.assert_array_equal(buffer.arrays["rewards"], [10, 6, 7, 8, 9])
    assert buffer.position == 1
    buffer.add_batch(*numbered(20, 12))  # more than capacity: only the newest 5 survive
    assert sorted(buffer.arrays["rewards"].tolist()) == [27, 28, 29, 30, 31] and len(buffer) == 5


def test_sample_returns_consistent_float_tensors() -> None:
    buffer = ReplayBuffer(100, 3, 2, seed=1)
    buffer.add_batch(*numbered(0, 50))
    batch = buffer.sample(64)
    assert all(t.dtype == torch.float32 for t in batch)
    assert batch.obs.shape == (64, 3) and batch.actions.shape == (64, 2) and batch.rewards.shape == (64,)
    # rows stay aligned: every field encodes the same index
    torch.testing.assert_close(batch.obs[:, 0], batch.rewards)
    torch.testing.assert_close(batch.next_obs[:, 0], batch.rewards + 0.5)
    torch.testing.assert_close(batch.terminated, batch.rewards % 2)
    assert batch.rewards.max() < 50  # never samples unfilled rows


def test_bad_transitions_are_refused_whole() -> None:
    buffer = ReplayBuffer(10, 3, 2)
    obs, act, rew, nxt, term = numbered(0, 4)
    obs[2, 1] = np.nan
    with pytest.raises(ValueError, match="'obs' contains NaN"):
        buffer.add_batch(obs, act, rew, nxt, term)
    with pytest.raises(ValueError, match="act_dim mismatch: found 3, expected 2"):
        buffer.add_batch(obs, np.zeros((4, 3)), rew, nxt, term)
    with pytest.raises(ValueError, match=r"'rewards' has shape \(3,\), expected \(4,\)"):
        buffer.add_batch(np.zeros((4, 3)), act, rew[:3], nxt, term)
    assert len(buffer) == 0 and buffer.position == 0
    with pytest.raises(ValueError, match="empty"):
        buffer.sample(1)


def test_save_load_round_trip_continues_sampling_identically(tmp_path) -> None:
    buffer = ReplayBuffer(8, 3, 2, seed=7)
    buffer.add_batch(*numbered(0, 11))
    buffer.sample(4)  # advance the generator before saving
    buffer.save(tmp_path / "buffer.npz")
    restored = ReplayBuffer(8, 3, 2, seed=123)
    restored.load(tmp_path / "buffer.npz")
    assert (restored.position, restored.size) == (buffer.position, buffer.size)
    for name, array in buffer.transitions().items():
        np.testing.assert_array_equal(restored.transitions()[name], array)
    for _ in range(3):
        for a, b in zip(buffer.sample(5), restored.sample(5), strict=True):
            torch.testing.assert_close(a, b)
    buffer.add_batch(*numbered(100, 3))
    restored.add_batch(*numbered(100, 3))
    np.testing.assert_array_equal(buffer.arrays["rewards"], restored.arrays["rewards"])


def test_partial_buffer_round_trip(tmp_path) -> None:
    buffer = ReplayBuffer(1000, 3, 2, seed=0)
    buffer.add_batch(*numbered(0, 10))
    buffer.save(tmp_path / "b.npz")
    restored = ReplayBuffer(1000, 3, 2)
    restored.load(tmp_path / "b.npz")
    assert len(restored) == 10 and restored.position == 10


def test_load_refuses_pickles_mismatches_and_truncation(tmp_path) -> None:
    buffer = ReplayBuffer(8, 3, 2, seed=0)
    buffer.add_batch(*numbered(0, 5))
    buffer.save(tmp_path / "good.npz")

    with pytest.raises(ValueError, match="obs_dim mismatch: found 3, expected 4"):
        ReplayBuffer(8, 4, 2).load(tmp_path / "good.npz")
    with pytest.raises(ValueError, match="capacity mismatch"):
        ReplayBuffer(9, 3, 2).load(tmp_path / "good.npz")

    arrays = dict(np.load(tmp_path / "good.npz"))
    np.savez(tmp_path / "pickled.npz", **{**arrays, "rewards": np.array([object()] * 5, dtype=object)})
    with pytest.raises(ValueError, match="pickled objects are not accepted"):
        ReplayBuffer(8, 3, 2).load(tmp_path / "pickled.npz")

    np.savez(tmp_path / "dtype.npz", **{**arrays, "rewards": arrays["rewards"].astype(np.float64)})
    with pytest.raises(ValueError, match="'rewards' has dtype float64, expected float32"):
        ReplayBuffer(8, 3, 2).load(tmp_path / "dtype.npz")

    data = (tmp_path / "good.npz").read_bytes()
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    target = ReplayBuffer(8, 3, 2)
    with pytest.raises(ValueError, match=r"truncated\.npz: not a readable replay buffer"):
        target.load(tmp_path / "truncated.npz")
    assert len(target) == 0  # nothing half-loaded

    with pytest.raises(FileNotFoundError, match=r"missing\.npz"):
        target.load(tmp_path / "missing.npz")


def test_memory_is_preallocated_at_the_documented_size() -> None:
    buffer = ReplayBuffer(1000, 17, 7)
    assert buffer.nbytes == 1000 * ((17 + 17 + 7 + 1) * 4 + 1)
