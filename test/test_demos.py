"""Demonstrations: record to .npz, load with validation (no pickle), mix into batches at demo_ratio."""

from __future__ import annotations

import numpy as np
import pytest

from sac_grasp_ros.sac import SAC, ReplayBuffer, SACConfig, load_demos, save_demos
from sac_grasp_ros.sac.agent import sample_mixed


def constant_buffer(
    value: float, count: int, obs_dim: int = 3, act_dim: int = 2, seed: int = 0
) -> ReplayBuffer:
    buffer = ReplayBuffer(count, obs_dim, act_dim, seed=seed)
    buffer.add_batch(
        np.zeros((count, obs_dim)),
        np.zeros((count, act_dim)),
        np.full(count, value),
        np.zeros((count, obs_dim)),
        np.zeros(count, bool),
    )
    return buffer


def test_save_and_load_round_trip(tmp_path) -> None:
    rng = np.random.default_rng(0)
    rows = [
        (rng.standard_normal(3), rng.uniform(-1, 1, 2), float(i), rng.standard_normal(3), i == 4)
        for i in range(5)
    ]
    columns = [np.stack([row[k] for row in rows]) for k in range(5)]
    save_demos(tmp_path / "demo.npz", *columns)
    demos = load_demos(tmp_path / "demo.npz", obs_dim=3, act_dim=2)
    assert len(demos) == 5
    stored = demos.transitions()
    np.testing.assert_allclose(stored["obs"], np.stack([r[0] for r in rows]).astype(np.float32))
    np.testing.assert_array_equal(stored["rewards"], np.arange(5, dtype=np.float32))
    np.testing.assert_array_equal(stored["terminated"], [False] * 4 + [True])
    short_actions = [columns[0], columns[1][:4], *columns[2:]]
    with pytest.raises(ValueError, match=r"'actions' has shape \(4, 2\), expected \(5, 2\)"):
        save_demos(tmp_path / "short.npz", *short_actions)
    assert not (tmp_path / "short.npz").exists()


def test_wrong_action_space_and_bad_files_are_refused(tmp_path) -> None:
    """The original recorded 4-dim end_position demos for a 7-dim learner; that must fail loudly."""
    rng = np.random.default_rng(0)
    save_demos(
        tmp_path / "ee.npz",
        rng.standard_normal((6, 17)),
        rng.uniform(-1, 1, (6, 4)),
        np.zeros(6),
        rng.standard_normal((6, 17)),
        np.zeros(6, bool),
    )
    with pytest.raises(ValueError, match=r"ee\.npz: act_dim mismatch: found 4, expected 7"):
        load_demos(tmp_path / "ee.npz", obs_dim=17, act_dim=7)
    good = dict(np.load(tmp_path / "ee.npz"))
    np.savez(tmp_path / "pickled.npz", **{**good, "obs": np.array([{"a": 1}] * 6, dtype=object)})
    with pytest.raises(ValueError, match="pickled objects are not accepted"):
        load_demos(tmp_path / "pickled.npz")
    np.savez(tmp_path / "nofmt.npz", **{k: v for k, v in good.items() if k != "format"})
    with pytest.raises(ValueError, match="not a demonstration file"):
        load_demos(tmp_path / "nofmt.npz")
    np.savez(tmp_path / "missing.npz", **{k: v for k, v in good.items() if k != "next_obs"})
    with pytest.raises(ValueError, match=r"missing array\(s\) \['next_obs'\]"):
        load_demos(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="contains NaN"):
        save_demos(
            tmp_path / "nan.npz",
            np.full((2, 3), np.nan),
            np.zeros((2, 2)),
            np.zeros(2),
            np.zeros((2, 3)),
            np.zeros(2),
        )
    with pytest.raises(FileNotFoundError, match=r"nope\.npz"):
        load_demos(tmp_path / "nope.npz")


@pytest.mark.parametrize(("ratio", "expected"), [(0.25, 32), (0.5, 64), (0.0, 0), (0.1, 13)])
def test_batches_mix_demos_at_the_configured_ratio(ratio, expected) -> None:
    replay = constant_buffer(0.0, 1000)
    demos = constant_buffer(1.0, 50, seed=1)  # smaller than a batch: not appended whole
    batch = sample_mixed(replay, demos, 128, ratio)
    assert batch.rewards.shape == (128,)
    assert int(batch.rewards.sum()) == expected
    assert int(sample_mixed(replay, None, 128, ratio).rewards.sum()) == 0


class CountingSource:
    """A real demo buffer that also records how many rows each sample() asked for."""

    def __init__(self, buffer: ReplayBuffer) -> None:
        self.buffer, self.requests = buffer, []

    def __len__(self) -> int:
        return len(self.buffer)

    def sample(self, batch_size, device=None):
        self.requests.append(batch_size)
        return self.buffer.sample(batch_size, device)


def test_update_from_draws_a_share_of_every_batch_from_demos() -> None:
    sac = SAC(
        3,
        2,
        SACConfig(
            hidden_size=16,
            q_hidden_layers=1,
            policy_hidden_layers=1,
            batch_size=40,
            demo_ratio=0.25,
            device="cpu",
            seed=0,
        ),
    )
    demos = CountingSource(constant_buffer(1.0, 500, seed=2))
    sac.update_from(constant_buffer(0.0, 500), 3, demo=demos)
    assert demos.requests == [10, 10, 10]
