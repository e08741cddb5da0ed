"""Episode bookkeeping and the training loop's handling of termination vs truncation."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np

from sac_grasp_ros.sac import SACConfig
from sac_grasp_ros.training.config import TrainingConfig
from sac_grasp_ros.training.curve import EpisodeTracker, LearningCurve, success_from_info
from sac_grasp_ros.training.gym_loop import ActionScaler, evaluate, train
from sac_grasp_ros.training.session import TrainingSession


def test_tracker_accounts_each_env_separately() -> None:
    tracker = EpisodeTracker(num_envs=2)
    assert tracker.step(0, 1.0, False, None, 1, 0.1) is None
    assert tracker.step(1, 5.0, False, False, 2, 0.2) is None
    record = tracker.step(0, 2.0, True, None, 3, 0.3)
    assert (record.episode, record.episode_return, record.episode_length, record.success) == (1, 3.0, 2, None)
    record = tracker.step(1, 1.0, True, True, 4, 0.4)
    assert (record.episode, record.episode_return, record.success) == (2, 6.0, True)
    assert tracker.curve.success_rate() == 1.0 and tracker.curve.mean_return() == 4.5


def test_curve_round_trips_through_arrays() -> None:
    tracker = EpisodeTracker()
    for step, (reward, success) in enumerate([(1.0, None), (-2.0, False), (3.5, True)], start=1):
        tracker.step(0, reward, True, success, step * 10, step * 0.5)
    arrays = tracker.curve.to_arrays()
    assert math.isnan(arrays["success"][0]) and arrays["success"][1:].tolist() == [0.0, 1.0]
    restored = LearningCurve.from_arrays(arrays)
    assert restored.records == tracker.curve.records
    assert restored.success_rate() == 0.5  # unknown successes are left out of the rate
    assert EpisodeTracker(curve=restored).episodes == 3  # numbering continues after a resume


def test_success_flag_keys() -> None:
    assert success_from_info({"success": 1}) is True
    assert success_from_info({"is_success": False}) is False
    assert success_from_info({}) is None


class CountdownEnv(gym.Env):
    """Terminates when its counter observation reaches 3; TimeLimit(2) truncates episodes starting at 0.

    A real (tiny) environment, used to see exactly which transitions the trainer stores as terminal.
    """

    observation_space = gym.spaces.Box(-10.0, 10.0, (1,), np.float32)
    action_space = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.count = float(self.np_random.integers(0, 2))
        return np.array([self.count], np.float32), {}

    def step(self, action):
        assert -2.0 <= float(action[0]) <= 2.0
        self.count += 1
        terminated = self.count >= 3
        return np.array([self.count], np.float32), 1.0, terminated, False, {"success": terminated}


def test_trainer_stores_terminations_but_not_truncations_as_terminal(tmp_path) -> None:
    env = gym.wrappers.TimeLimit(CountdownEnv(), max_episode_steps=2)
    config = SACConfig(
        hidden_size=8,
        q_hidden_layers=1,
        policy_hidden_layers=1,
        batch_size=4,
        learning_starts=10,
        device="cpu",
        seed=0,
    )
    session = TrainingSession(
        TrainingConfig(
            total_steps=40, on_finish="exit", progress_every=10, checkpoint_dir=str(tmp_path / "ck")
        ),
        config,
    )
    train(session, env, None, seed=0)
    sac, stored = session.sac, session.buffer.transitions()
    next_counts = stored["next_obs"][:, 0]
    np.testing.assert_array_equal(stored["terminated"], next_counts >= 3)
    assert (
        ~stored["terminated"] & (next_counts == 2)
    ).any()  # truncated episodes (start 0) kept bootstrapping
    # next_obs is the episode's real last observation, never the reset observation
    np.testing.assert_array_equal(next_counts, stored["obs"][:, 0] + 1)
    assert sac.num_updates == 31 and session.env_steps == 40
    lengths = [r.episode_length for r in session.curve.records]
    successes = [r.success for r in session.curve.records]
    assert all(length == 2 for length in lengths)
    assert successes == [length == 2 and s for length, s in zip(lengths, successes, strict=True)]
    result = evaluate(gym.wrappers.TimeLimit(CountdownEnv(), max_episode_steps=2), sac, 4, seed=0)
    assert len(result.returns) == 4 and result.success_rate is not None


def test_action_scaler_maps_unit_box_to_env_bounds() -> None:
    scaler = ActionScaler(
        gym.spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 10.0], np.float32))
    )
    np.testing.assert_allclose(scaler.to_env(np.array([-1.0, 1.0])), [-2.0, 10.0])
    np.testing.assert_allclose(scaler.to_env(np.array([0.0, 0.0])), [0.0, 5.0])
    np.testing.assert_allclose(scaler.to_env(np.array([5.0, -5.0])), [2.0, 0.0])  # clipped


def test_the_older_curve_layout_still_loads() -> None:
    """The agent node used to store `length` and 0-based episodes without wall time (the layout of
    an earlier shipped policy, trained at yaw 0, whose first five episodes these are)."""
    arrays = {  # rounded; env_steps count all four workers' steps
        "episode": np.arange(5, dtype=np.int64),
        "episode_return": np.array([-2.2936, -3.9433, 0.6830, -8.7163, 2.4463]),
        "success": np.ones(5),
        "length": np.array([31, 32, 29, 35, 28], dtype=np.int64),
        "env_steps": np.array([122, 125, 243, 259, 355], dtype=np.int64),
    }
    curve = LearningCurve.from_arrays(arrays)
    assert len(curve) == len(arrays["episode_return"]) > 0
    assert curve.records[0].episode == 1 and curve.records[-1].episode == len(curve)
    assert [r.episode_length for r in curve.records] == arrays["length"].tolist()
    assert LearningCurve.from_arrays(curve.to_arrays()).records == curve.records  # new layout round trip
