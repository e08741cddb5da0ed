"""Device-resident replay buffer: ring wrap-around, on-device sampling from its own generator, storage
placement (it replaces the host buffer), and files interchangeable with ReplayBuffer's.

Runs on the CPU device here; the CUDA checks skip without a GPU.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_replay_buffer import numbered

from sac_grasp_ros.sac import SAC, DeviceReplayBuffer, ReplayBuffer, SACConfig
from sac_grasp_ros.sac.device_buffer import INDEX_RANGE
from sac_grasp_ros.training.config import TrainingConfig
from sac_grasp_ros.training.session import TrainingSession

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def rewards_of(buffer: DeviceReplayBuffer) -> list[float]:
    return buffer.storage["rewards"][: len(buffer)].tolist()


def test_wrap_around_and_sizes_match_the_host_buffer() -> None:
    device, host = DeviceReplayBuffer(5, 3, 2, "cpu", seed=0), ReplayBuffer(5, 3, 2, seed=0)
    for i in range(7):
        row = [part[0] for part in numbered(i, 1)]
        for buffer in (device, host):
            buffer.add(row[0], row[1], float(row[2]), row[3], bool(row[4]))
    assert len(device) == 5 and device.position == 2 and int(device.size_tensor) == 5
    assert rewards_of(device) == [5, 6, 2, 3, 4]
    for chunk in (numbered(7, 4), numbered(20, 12)):  # across the end of the ring; more than capacity
        device.add_batch(*chunk)
        host.add_batch(*chunk)
        assert (len(device), device.position) == (len(host), host.position)
        for name, array in host.transitions().items():
            np.testing.assert_array_equal(device.transitions()[name], array)
    assert sorted(rewards_of(device)) == [27, 28, 29, 30, 31]


def test_partial_fill_counts_only_stored_rows() -> None:
    buffer = DeviceReplayBuffer(100, 3, 2, "cpu", seed=0)
    with pytest.raises(ValueError, match="empty"):
        buffer.sample(4)
    buffer.add_batch(*numbered(0, 7))
    assert len(buffer) == 7 and int(buffer.size_tensor) == 7
    assert set(buffer.sample(500).rewards.tolist()) == set(range(7))  # never a row past the fill level


def test_sampling_is_on_device_indices_from_the_seeded_generator() -> None:
    buffer = DeviceReplayBuffer(50, 3, 2, "cpu", seed=11)
    buffer.add_batch(*numbered(0, 37))
    generator = torch.Generator().manual_seed(11)  # the same draws, computed independently
    for _ in range(3):
        expected = torch.randint(0, INDEX_RANGE, (64,), generator=generator) % 37
        batch = buffer.sample(64)
        assert torch.equal(batch.rewards, expected.float())
        assert torch.equal(batch.obs, expected.float()[:, None].expand(-1, 3))
        assert torch.equal(batch.next_obs, batch.obs + 0.5)
        assert torch.equal(batch.terminated, (expected % 2).float())
        assert all(t.dtype == torch.float32 for t in batch)


def test_same_seed_same_sample_sequence_other_seed_another() -> None:
    def draws(seed: int) -> list[list[float]]:
        buffer = DeviceReplayBuffer(100, 3, 2, "cpu", seed=seed)
        buffer.add_batch(*numbered(0, 100))
        return [buffer.sample(32).rewards.tolist() for _ in range(4)]

    assert draws(3) == draws(3)
    assert draws(3) != draws(4)


def test_bad_transitions_are_refused_whole() -> None:
    buffer = DeviceReplayBuffer(10, 3, 2, "cpu", seed=0)
    obs, act, rew, nxt, term = numbered(0, 4)
    rew[2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        buffer.add_batch(obs, act, rew, nxt, term)
    with pytest.raises(ValueError, match="act_dim mismatch"):
        buffer.add_batch(obs, np.zeros((4, 3)), np.zeros(4), nxt, term)
    assert len(buffer) == 0 and int(buffer.size_tensor) == 0


def test_storage_lives_on_the_device_and_replaces_the_host_buffer() -> None:
    capacity = 1000
    device = DeviceReplayBuffer(capacity, 17, 7, "cpu", seed=0)
    assert all(tensor.device == torch.device("cpu") for tensor in device.storage.values())
    assert device.nbytes == ReplayBuffer(capacity, 17, 7).nbytes  # same bytes per transition
    assert not any(isinstance(value, np.ndarray) for value in vars(device).values())  # no host mirror
    # The learner hands out one buffer kind per update path; the session keeps only that one.
    small = {"hidden_size": 16, "q_hidden_layers": 1, "policy_hidden_layers": 1, "device": "cpu"}
    assert type(SAC(3, 1, SACConfig(**small)).make_buffer(10)) is ReplayBuffer
    assert type(SAC(3, 1, SACConfig(**small, cuda_graph="eager")).make_buffer(10)) is DeviceReplayBuffer
    session = TrainingSession(TrainingConfig(), SACConfig(**small, cuda_graph="eager", buffer_capacity=50))
    session.build(3, 1)
    assert type(session.buffer) is DeviceReplayBuffer
    assert not [value for value in vars(session).values() if isinstance(value, ReplayBuffer)]


@pytest.mark.parametrize("writer_kind", ["device", "host"])
def test_files_load_into_either_kind(tmp_path, writer_kind: str) -> None:
    writer = (
        DeviceReplayBuffer(8, 3, 2, "cpu", seed=1) if writer_kind == "device" else ReplayBuffer(8, 3, 2, 1)
    )
    writer.add_batch(*numbered(0, 5))
    writer.add_batch(*numbered(5, 6))  # wrapped: position 3
    writer.save(tmp_path / "buffer.npz")
    for reader in (DeviceReplayBuffer(8, 3, 2, "cpu", seed=9), ReplayBuffer(8, 3, 2, seed=9)):
        reader.load(tmp_path / "buffer.npz")
        assert (len(reader), reader.position) == (8, 3)
        for name, array in writer.transitions().items():
            np.testing.assert_array_equal(reader.transitions()[name], array)
        reader.add_batch(*numbered(50, 1))  # continues the ring where the writer stopped
        assert reader.transitions()["rewards"][3] == 50
    # The same kind continues the sample stream exactly.
    same = DeviceReplayBuffer(8, 3, 2, "cpu") if writer_kind == "device" else ReplayBuffer(8, 3, 2)
    same.load(tmp_path / "buffer.npz")
    assert torch.equal(same.sample(40).rewards, writer.sample(40).rewards)


def test_load_refuses_a_bad_file_and_keeps_the_contents(tmp_path) -> None:
    buffer = DeviceReplayBuffer(8, 3, 2, "cpu", seed=1)
    buffer.add_batch(*numbered(0, 5))
    other = DeviceReplayBuffer(9, 3, 2, "cpu", seed=1)
    other.add_batch(*numbered(0, 2))
    other.save(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="capacity mismatch"):
        buffer.load(tmp_path / "other.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable"):
        buffer.load(tmp_path / "junk.npz")
    assert rewards_of(buffer) == [0, 1, 2, 3, 4] and buffer.generation == 0
    buffer.save(tmp_path / "mine.npz")
    buffer.load(tmp_path / "mine.npz")
    assert buffer.generation == 1  # a captured graph of this buffer is captured again


def test_from_buffer_copies_exactly_the_source_rows() -> None:
    host = ReplayBuffer(100, 3, 2, seed=0)
    host.add_batch(*numbered(0, 9))
    copy = DeviceReplayBuffer.from_buffer(host, "cpu", seed=0)
    assert copy.capacity == 9 and len(copy) == 9
    for name, array in host.transitions().items():
        np.testing.assert_array_equal(copy.transitions()[name], array)


@needs_cuda
def test_cuda_storage_holds_no_host_memory_and_samples_on_the_device() -> None:
    buffer = DeviceReplayBuffer(1000, 17, 7, "cuda", seed=0)
    buffer.add_batch(*numbered(0, 300, 17, 7))
    assert buffer.host_nbytes == 0 and all(t.is_cuda for t in buffer.storage.values())
    batch = buffer.sample(256)
    assert all(t.is_cuda for t in batch) and torch.equal(batch.next_obs, batch.obs + 0.5)
    again = DeviceReplayBuffer(1000, 17, 7, "cuda", seed=0)
    again.add_batch(*numbered(0, 300, 17, 7))
    assert torch.equal(again.sample(256).rewards, batch.rewards)
