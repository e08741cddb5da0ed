"""Checkpoint directories: round trip, exact resume, atomic replacement, clear errors on bad files."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from sac_grasp_ros.sac import SAC, CheckpointError, ReplayBuffer, SACConfig, load_checkpoint, save_checkpoint
from sac_grasp_ros.sac.checkpoint import CHECKPOINT_FILES, LEARNER_FILE, META_FILE
from sac_grasp_ros.training.curve import EpisodeRecord, LearningCurve

SMALL = {
    "hidden_size": 32,
    "q_hidden_layers": 2,
    "policy_hidden_layers": 2,
    "device": "cpu",
    "batch_size": 16,
}


def make_learner(obs_dim: int = 4, act_dim: int = 2, **overrides) -> SAC:
    return SAC(obs_dim, act_dim, SACConfig(**{**SMALL, "seed": 0, **overrides}))


def make_buffer(obs_dim: int = 4, act_dim: int = 2, seed: int = 0) -> ReplayBuffer:
    rng = np.random.default_rng(seed)
    buffer = ReplayBuffer(500, obs_dim, act_dim, seed=seed)
    count = 200
    buffer.add_batch(
        rng.standard_normal((count, obs_dim)),
        rng.uniform(-1, 1, (count, act_dim)),
        rng.standard_normal(count),
        rng.standard_normal((count, obs_dim)),
        rng.random(count) < 0.1,
    )
    return buffer


def sample_curve(episodes: int = 3) -> LearningCurve:
    curve = LearningCurve()
    for i in range(episodes):
        curve.append(
            EpisodeRecord(i + 1, 10 * (i + 1), -float(i), 10, None if i == 0 else bool(i % 2), 0.5 * i)
        )
    return curve


def test_round_trip_gives_identical_actions_and_state(tmp_path) -> None:
    sac, buffer = make_learner(), make_buffer()
    sac.update_from(buffer, 5)
    curve = sample_curve()
    save_checkpoint(
        tmp_path / "ck", sac, buffer, counters={"env_steps": 200, "wall_s": 1.5}, curve=curve.to_arrays()
    )
    assert {p.name for p in (tmp_path / "ck").iterdir()} == set(CHECKPOINT_FILES)
    restored_buffer = ReplayBuffer(500, 4, 2)
    loaded = load_checkpoint(tmp_path / "ck", buffer=restored_buffer)
    assert loaded.buffer_loaded and len(restored_buffer) == 200
    assert loaded.counters == {"num_updates": 5, "env_steps": 200, "wall_s": 1.5}
    assert loaded.sac.num_updates == 5 and loaded.config == sac.config
    obs = np.random.default_rng(1).standard_normal((6, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.sac.act(obs, deterministic=True), sac.act(obs, deterministic=True))
    torch.manual_seed(11)
    stochastic = sac.act(obs)
    torch.manual_seed(11)
    np.testing.assert_array_equal(loaded.sac.act(obs), stochastic)
    restored_curve = LearningCurve.from_arrays(loaded.curve)
    assert restored_curve.records == curve.records
    assert loaded.sac.alpha.item() == sac.alpha.item()


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path) -> None:
    """Counters, optimiser moments, targets and the alpha schedule all survive: the next updates match."""
    sac, buffer = make_learner(), make_buffer()
    sac.update_from(buffer, 4)
    save_checkpoint(tmp_path / "ck", sac, buffer, counters={"env_steps": 4})
    rng_state = torch.get_rng_state()
    uninterrupted = sac.update_from(buffer, 4)

    fresh = make_learner(seed=99)  # different initial weights: everything must come from the file
    fresh_buffer = ReplayBuffer(500, 4, 2, seed=5)
    load_checkpoint(tmp_path / "ck", sac=fresh, buffer=fresh_buffer)
    torch.set_rng_state(rng_state)
    resumed = fresh.update_from(fresh_buffer, 4)
    assert fresh.num_updates == sac.num_updates == 8
    assert resumed == uninterrupted
    for a, b in zip(
        sac.state_dict()["q_target"].values(), fresh.state_dict()["q_target"].values(), strict=True
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert fresh.alpha.item() == sac.alpha.item()


def test_saving_again_replaces_atomically_and_leaves_no_temporaries(tmp_path) -> None:
    sac = make_learner()
    save_checkpoint(tmp_path / "ck", sac, counters={"env_steps": 1})
    sac.num_updates = 7
    save_checkpoint(tmp_path / "ck", sac, counters={"env_steps": 2})
    assert os.listdir(tmp_path) == ["ck"]
    assert load_checkpoint(tmp_path / "ck").counters["env_steps"] == 2


class ExplodingBuffer(ReplayBuffer):
    def save(self, path) -> None:
        with open(path, "wb") as file:
            file.write(b"partial")
        raise OSError("disk full (simulated)")


def test_interrupted_save_keeps_previous_checkpoint(tmp_path) -> None:
    sac = make_learner()
    save_checkpoint(tmp_path / "ck", sac, counters={"env_steps": 1})
    sac.num_updates = 99
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path / "ck", sac, ExplodingBuffer(10, 4, 2), counters={"env_steps": 2})
    assert os.listdir(tmp_path) == ["ck"]  # temporary directory cleaned up
    loaded = load_checkpoint(tmp_path / "ck")
    assert loaded.counters["env_steps"] == 1 and loaded.sac.num_updates == 0


def test_falls_back_to_the_previous_directory_between_the_two_renames(tmp_path) -> None:
    save_checkpoint(tmp_path / "ck", make_learner(), counters={"env_steps": 3})
    os.rename(tmp_path / "ck", tmp_path / ".ck.old")  # the state right after the first rename
    assert load_checkpoint(tmp_path / "ck").counters["env_steps"] == 3


@pytest.mark.parametrize(
    ("learner_kwargs", "message"),
    [
        ({"obs_dim": 5}, "obs_dim=4, act_dim=2; the learner has obs_dim=5, act_dim=2"),
        ({"act_dim": 3}, "act_dim=2; the learner has obs_dim=4, act_dim=3"),
        ({"hidden_size": 64}, "network sizes differ \\(hidden_size: checkpoint 32 vs learner 64\\)"),
        ({"q_hidden_layers": 3}, "q_hidden_layers: checkpoint 2 vs learner 3"),
        ({"q_layer_norm": True}, "q_layer_norm: checkpoint False vs learner True"),
        ({"critic": "crossq"}, "critic: checkpoint sac vs learner crossq"),
    ],
)
def test_mismatched_learner_is_refused_with_file_and_field(tmp_path, learner_kwargs, message) -> None:
    save_checkpoint(tmp_path / "ck", make_learner())
    dims = {"obs_dim": learner_kwargs.pop("obs_dim", 4), "act_dim": learner_kwargs.pop("act_dim", 2)}
    other = make_learner(**dims, **learner_kwargs)
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(tmp_path / "ck", sac=other)
    assert str(tmp_path / "ck" / META_FILE) in str(info.value)


def test_corrupt_or_incomplete_checkpoints_give_clear_errors(tmp_path) -> None:
    checkpoint = tmp_path / "ck"
    save_checkpoint(checkpoint, make_learner())
    learner_bytes = (checkpoint / LEARNER_FILE).read_bytes()

    (checkpoint / LEARNER_FILE).write_bytes(learner_bytes[: len(learner_bytes) // 3])
    with pytest.raises(CheckpointError, match=f"{LEARNER_FILE}: unreadable or corrupt"):
        load_checkpoint(checkpoint)

    (checkpoint / LEARNER_FILE).unlink()
    with pytest.raises(CheckpointError, match=f"{LEARNER_FILE}: missing"):
        load_checkpoint(checkpoint)

    (checkpoint / LEARNER_FILE).write_bytes(learner_bytes)
    meta = json.loads((checkpoint / META_FILE).read_text())
    (checkpoint / META_FILE).write_text("{not json")
    with pytest.raises(CheckpointError, match=f"{META_FILE}: unreadable or corrupt"):
        load_checkpoint(checkpoint)
    (checkpoint / META_FILE).write_text(json.dumps({**meta, "config": {**meta["config"], "bogus": 1}}))
    with pytest.raises(CheckpointError, match=r"unknown SACConfig field.*bogus"):
        load_checkpoint(checkpoint)
    (checkpoint / META_FILE).unlink()
    with pytest.raises(CheckpointError, match=f"{META_FILE}: missing"):
        load_checkpoint(checkpoint)
    with pytest.raises(CheckpointError, match="no checkpoint directory"):
        load_checkpoint(tmp_path / "nowhere")


class NotATensor:
    """Any class instance: weights_only loading must refuse to unpickle it."""


def test_pickled_objects_in_learner_file_are_refused(tmp_path) -> None:
    checkpoint = tmp_path / "ck"
    sac = make_learner()
    save_checkpoint(checkpoint, sac)
    state = sac.state_dict()
    state["policy"] = NotATensor()
    torch.save(state, checkpoint / LEARNER_FILE)
    with pytest.raises(CheckpointError, match=f"{LEARNER_FILE}: unreadable or corrupt.*Unpickl"):
        load_checkpoint(checkpoint)


def test_tensor_shape_mismatch_inside_learner_file_is_named(tmp_path) -> None:
    checkpoint = tmp_path / "ck"
    sac = make_learner()
    save_checkpoint(checkpoint, sac)
    state = sac.state_dict()
    state["policy"]["net.0.weight"] = torch.zeros(3, 3)
    torch.save(state, checkpoint / LEARNER_FILE)
    with pytest.raises(
        CheckpointError, match=r"'policy.net.0.weight' has shape \(3, 3\), expected \(32, 4\)"
    ):
        load_checkpoint(checkpoint)


def test_counters_must_be_numbers(tmp_path) -> None:
    with pytest.raises(TypeError, match="counter 'env_steps'"):
        save_checkpoint(tmp_path / "ck", make_learner(), counters={"env_steps": "10"})
    assert not (tmp_path / "ck").exists()
