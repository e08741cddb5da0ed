"""Replay buffer whose storage lives on the learner's device: sampling and gathering need no host.

The captured update (`captured.py`) draws indices with `torch.randint` from a generator on the
buffer's device, reduces them modulo the fill level held in a device tensor, and gathers rows with
`index_select`: a CUDA graph can replay all of it, and no host memory or host sync is involved. On
CUDA this buffer replaces the host `ReplayBuffer` (the rows are not kept twice). Files use the
`ReplayBuffer` format, so either kind loads the other's saves.
"""

from __future__ import annotations

import json
import os

import numpy as np
import torch

from sac_grasp_ros.sac.replay import (
    TRANSITION_FIELDS,
    ReplayBatch,
    ReplayBuffer,
    TransitionRing,
    read_buffer_file,
    seed_from_state,
    transition_shapes,
    write_buffer_file,
)

INDEX_RANGE = 2**62
"""randint's upper bound before the modulo by the fill level: the bias is below size / 2**62"""
TORCH_DTYPES = {"obs": torch.float32, "actions": torch.float32, "rewards": torch.float32}
TORCH_DTYPES |= {"next_obs": torch.float32, "terminated": torch.bool}
TORCH_STATE_KEY = "torch_generator"
"""rng_state of a saved device buffer: {"torch_generator": hex bytes, "device_type": "cuda"|"cpu"}"""


class DeviceReplayBuffer(TransitionRing):
    """Fixed-capacity ring buffer in tensors on `device`, sampled uniformly from its own torch generator.

    Bookkeeping (position, size) stays on the host for `len()`; `size_tensor` mirrors the fill
    level on the device for the captured sampler, which reads it in place on every replay.
    """

    def __init__(
        self, capacity: int, obs_dim: int, act_dim: int, device: torch.device | str, seed: int | None = None
    ) -> None:
        super().__init__(capacity, obs_dim, act_dim)
        self.device = torch.device(device)
        self.generator = torch.Generator(device=self.device)
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(int(seed) % 2**63)
        self.generation = 0
        """bumped when `load` replaces the sampler state: a captured graph of this buffer is re-captured"""
        # Rows past `size` are never read, so the storage need not be zeroed.
        self.storage = {
            name: torch.empty((self.capacity, *shape), dtype=TORCH_DTYPES[name], device=self.device)
            for name, shape in transition_shapes(self.obs_dim, self.act_dim).items()
        }
        self.size_tensor = torch.zeros((), dtype=torch.int64, device=self.device)

    @classmethod
    def from_buffer(
        cls, source: ReplayBuffer | DeviceReplayBuffer, device: torch.device | str, seed: int | None = None
    ) -> DeviceReplayBuffer:
        """A device copy holding exactly `source`'s transitions (demonstrations for the captured update)."""
        copy = cls(max(len(source), 1), source.obs_dim, source.act_dim, device, seed)
        if len(source):
            copy.add_batch(*source.transitions().values())
        return copy

    @property
    def nbytes(self) -> int:
        """Bytes of the storage tensors (the same per transition as `ReplayBuffer`)."""
        return sum(tensor.numel() * tensor.element_size() for tensor in self.storage.values())

    @property
    def host_nbytes(self) -> int:
        """Bytes of transition storage in host memory: none when the device is not the CPU."""
        return self.nbytes if self.device.type == "cpu" else 0

    def _stored(self) -> None:
        self.size_tensor.fill_(self.size)  # a kernel on the stream, no sync

    def _write(self, name: str, start: int, rows: np.ndarray) -> None:
        if len(rows):
            # A pageable source is staged by the driver before the call returns: no device sync here.
            self.storage[name][start : start + len(rows)].copy_(torch.from_numpy(rows), non_blocking=True)

    def draw(self, batch_size: int) -> ReplayBatch:
        """`batch_size` uniform samples (with replacement), on the device, with no host check or sync.

        What a captured update calls: every tensor it touches has a fixed address. The caller
        makes sure the buffer is not empty (`sample` does).
        """
        indices = torch.randint(
            0, INDEX_RANGE, (batch_size,), generator=self.generator, device=self.device
        ).remainder_(self.size_tensor)
        rows = {name: tensor.index_select(0, indices) for name, tensor in self.storage.items()}
        rows["terminated"] = rows["terminated"].to(torch.float32)
        return ReplayBatch(**rows)

    def sample(self, batch_size: int, device: torch.device | str | None = None) -> ReplayBatch:
        """Uniformly sample `batch_size` transitions as float32 tensors (ReplayBuffer's interface)."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty DeviceReplayBuffer")
        batch = self.draw(batch_size)
        return batch if device is None else batch.to(device)

    def transitions(self) -> dict[str, np.ndarray]:
        """The stored transitions in storage order, copied to host arrays of the `ReplayBuffer` dtypes."""
        return {name: tensor[: self.size].cpu().numpy() for name, tensor in self.storage.items()}

    def rng_state(self) -> dict[str, str]:
        state = self.generator.get_state().numpy().tobytes().hex()
        return {TORCH_STATE_KEY: state, "device_type": self.device.type}

    def save(self, path: str | os.PathLike) -> None:
        """Write the `ReplayBuffer` file format (rows copied to the host for the write), atomically."""
        write_buffer_file(
            path, self.capacity, self.position, self.size, json.dumps(self.rng_state()), self.transitions()
        )

    def load(self, path: str | os.PathLike) -> None:
        """Replace the contents with a saved buffer of either kind; validates everything first.

        The sampler continues exactly from a state saved on the same device type; a state of the
        other kind (numpy, or torch on another device type) seeds the generator deterministically.
        """
        saved = read_buffer_file(path, self.capacity, self.obs_dim, self.act_dim)
        generator = torch.Generator(device=self.device)  # checked before anything here changes
        state = saved.rng_state
        try:
            if state.get(TORCH_STATE_KEY) is not None and state.get("device_type") == self.device.type:
                generator.set_state(
                    torch.tensor(list(bytes.fromhex(state[TORCH_STATE_KEY])), dtype=torch.uint8)
                )
            else:
                generator.manual_seed(seed_from_state(state))
        except (ValueError, TypeError, RuntimeError) as error:  # not hex, or the wrong length
            raise ValueError(f"{path}: bad rng_state: {error}") from error
        self.position, self.size = 0, 0
        if saved.size:
            self.add_batch(*(saved.arrays[name] for name in TRANSITION_FIELDS))
        self.position = saved.position
        # In place: a graph that registered this generator keeps reading the same state object.
        self.generator.set_state(generator.get_state())
        self.generation += 1
