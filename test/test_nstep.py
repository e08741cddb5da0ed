"""n-step returns (sac.nstep): folding rules at terminations and stream breaks, per-worker streams in
the TrainingSession, demo files folded alike, and the learner bootstrapping with gamma^n."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sac_grasp_ros.sac import SAC, SACConfig, load_demos, save_demos
from sac_grasp_ros.sac.nstep import NStepFolder, fold_transitions
from sac_grasp_ros.sac.replay import ReplayBatch
from sac_grasp_ros.training.config import TrainingConfig
from sac_grasp_ros.training.session import TrainingSession

GAMMA = 0.5  # powers of two: the expected sums below are exact in float32


def chain(length: int, first: float = 0.0, terminated_at_end: bool = True) -> list[tuple]:
    """An episode whose states are 1-element arrays first, first + 1, ... and reward k at step k."""
    steps = []
    for k in range(length):
        obs = np.array([first + k], np.float32)
        next_obs = np.array([first + k + 1], np.float32)
        steps.append(
            (
                obs,
                np.array([k / 10], np.float32),
                float(k + 1),
                next_obs,
                terminated_at_end and k == length - 1,
            )
        )
    return steps


def folded(folder: NStepFolder, steps: list[tuple]) -> list:
    return [row for step in steps for row in folder.push(*step)]


def test_one_step_passes_transitions_through():
    rows = folded(NStepFolder(1, GAMMA), chain(3, terminated_at_end=False))
    assert [row.reward for row in rows] == [1.0, 2.0, 3.0]
    assert [float(row.next_obs[0]) for row in rows] == [1.0, 2.0, 3.0]


def test_a_terminated_episode_gives_one_row_per_step_with_exact_partial_returns():
    rows = folded(NStepFolder(3, GAMMA), chain(5))
    assert [float(row.obs[0]) for row in rows] == [0, 1, 2, 3, 4]
    # rewards 1..5: full rows sum three of them, the rows at the end sum what is left (no bootstrap)
    assert [row.reward for row in rows] == [
        1 + 2 * 0.5 + 3 * 0.25,
        2 + 3 * 0.5 + 4 * 0.25,
        3 + 4 * 0.5 + 5 * 0.25,
        4 + 5 * 0.5,
        5.0,
    ]
    assert [float(row.next_obs[0]) for row in rows] == [3, 4, 5, 5, 5]
    assert [row.terminated for row in rows] == [False, False, True, True, True]
    assert [float(row.action[0]) for row in rows] == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_a_broken_stream_drops_the_short_rows_instead_of_bootstrapping_them_wrongly():
    folder = NStepFolder(3, GAMMA)
    truncated = folded(folder, chain(5, terminated_at_end=False))  # time limit: no termination
    assert [float(row.obs[0]) for row in truncated] == [0, 1, 2]
    after_reset = folded(folder, chain(4, first=100.0))  # the next episode does not continue state 5
    assert [float(row.obs[0]) for row in after_reset] == [100, 101, 102, 103]
    assert after_reset[0].reward == 1 + 2 * 0.5 + 3 * 0.25  # nothing of the old episode mixed in


def test_bad_n_step_is_refused_by_name():
    with pytest.raises(ValueError, match="n_step"):
        NStepFolder(0, GAMMA)
    with pytest.raises(ValueError, match="n_step"):
        SACConfig(n_step=0)
    assert SACConfig(gamma=0.9, n_step=3).bootstrap_discount == pytest.approx(0.729)


def as_arrays(steps: list[tuple]) -> dict[str, np.ndarray]:
    columns = list(zip(*steps, strict=True))
    return {
        "obs": np.stack(columns[0]),
        "actions": np.stack(columns[1]),
        "rewards": np.asarray(columns[2], np.float32),
        "next_obs": np.stack(columns[3]),
        "terminated": np.asarray(columns[4], bool),
    }


def test_demo_files_fold_like_live_transitions(tmp_path):
    episodes = chain(4) + chain(3, first=50.0)
    path = tmp_path / "demos.npz"
    save_demos(path, *as_arrays(episodes).values())
    demos = load_demos(path, 1, 1, seed=0, n_step=2, gamma=GAMMA)
    live = folded(NStepFolder(2, GAMMA), episodes)
    stored = demos.transitions()
    assert len(demos) == len(live) == 7
    np.testing.assert_array_equal(stored["rewards"], [row.reward for row in live])
    np.testing.assert_array_equal(stored["next_obs"][:, 0], [float(row.next_obs[0]) for row in live])
    assert len(load_demos(path, 1, 1, seed=0)) == 7  # one-step: as recorded
    with pytest.raises(ValueError, match="no 5-step transitions"):
        fold_transitions(as_arrays(chain(3, terminated_at_end=False)), 5, GAMMA)


def test_the_session_folds_each_worker_stream_on_its_own():
    sac = SACConfig(hidden_size=8, q_hidden_layers=1, policy_hidden_layers=1, batch_size=4,
                    buffer_capacity=100, device="cpu", torch_threads=1, seed=0,
                    n_step=2, gamma=GAMMA)  # fmt: skip
    session = TrainingSession(TrainingConfig(), sac)
    session.build(1, 1)
    for a, b in zip(chain(3), chain(3, first=10.0), strict=True):  # two workers, steps interleaved
        session.store(*a, stream="worker_0")
        session.store(*b, stream="worker_1")
    assert session.env_steps == 6  # env steps count transitions, not rows
    stored = session.buffer.transitions()
    starts = sorted(float(x) for x in stored["obs"][:, 0])
    assert starts == [0, 1, 2, 10, 11, 12]
    rows = zip(stored["obs"], stored["rewards"], stored["next_obs"], strict=True)
    by_start = {float(obs[0]): (float(reward), float(next_obs[0])) for obs, reward, next_obs in rows}
    assert by_start[10.0] == (1 + 2 * 0.5, 12.0)  # worker_1's rows never mix in worker_0's states
    assert by_start[1.0] == (2 + 3 * 0.5, 3.0)


def test_the_learner_bootstraps_with_gamma_to_the_n():
    """Same networks and batch: n_step 3 at gamma g updates exactly like one-step at gamma g^3."""
    batch = ReplayBatch(*(torch.rand(8, dim, generator=torch.Generator().manual_seed(dim)) for dim in (3, 2)),
                        torch.ones(8), torch.rand(8, 3), torch.zeros(8))  # fmt: skip
    common = {"hidden_size": 16, "q_hidden_layers": 1, "policy_hidden_layers": 1, "batch_size": 8,
              "device": "cpu", "torch_threads": 1, "seed": 0}  # fmt: skip
    n_step = SAC(3, 2, SACConfig(gamma=0.9, n_step=3, **common))
    one_step = SAC(3, 2, SACConfig(gamma=0.9**3, **common))
    other = SAC(3, 2, SACConfig(gamma=0.9, **common))
    torch.manual_seed(1)
    expected = n_step.update(batch)["q_loss"]
    torch.manual_seed(1)
    assert one_step.update(batch)["q_loss"] == pytest.approx(expected, rel=1e-6)
    torch.manual_seed(1)
    assert other.update(batch)["q_loss"] != pytest.approx(expected, rel=1e-3)
