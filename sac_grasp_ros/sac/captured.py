"""SAC updates on device-resident sources, run eagerly or replayed from a captured CUDA graph.

Why: on CUDA an update at these sizes is ~190 kernel launches, and the host time to issue them
(8.4 ms at 2x256, batch 256) is ~18x the GPU time (0.48 ms), so a GPU learned no faster than a
laptop CPU. `update_step` does one whole update as device work only: indices drawn on
the device, rows gathered from `DeviceReplayBuffer`, critic, actor and temperature steps, target
lerp. It is captured once with `torch.cuda.graph` after warm-up updates on a side stream (as in
PyTorch's whole-network capture and LeanRL's SAC) and replayed: one host call per K updates, no
host sync. The same function runs eagerly (CPU tests, `cuda_graph: eager`), so the captured update
is the eager one by construction. Metrics are the graph's output tensors, read only when logged.
"""

from __future__ import annotations

from typing import Protocol

import torch

from sac_grasp_ros.sac.config import CUDA_GRAPH_SETTINGS, SACConfig
from sac_grasp_ros.sac.device_buffer import DeviceReplayBuffer
from sac_grasp_ros.sac.replay import ReplayBatch


class CapturableLearner(Protocol):
    """What the runner needs of `SAC` (named here so this module does not import agent.py)."""

    config: SACConfig
    device: torch.device
    num_updates: int

    def update_body(self, batch: ReplayBatch) -> dict[str, torch.Tensor]: ...


WARMUP_UPDATES = 3
"""eager updates on a side stream before capture: optimiser state and kernels initialised"""


def update_path(setting: str, device: torch.device) -> str:
    """`captured` (CUDA graphs), `eager` (the same update function without capture) or `classic`.

    auto: captured on CUDA, classic on CPU (where the update is matmul-bound and launches are cheap).
    off: classic everywhere. eager: the device-buffer update without capture, on any device.
    """
    if setting not in CUDA_GRAPH_SETTINGS:
        raise ValueError(f"cuda_graph must be one of {CUDA_GRAPH_SETTINGS}, got {setting!r}")
    if setting == "off":
        return "classic"
    if setting == "eager":
        return "eager"
    return "captured" if device.type == "cuda" else "classic"


def same_device(first: torch.device, second: torch.device) -> bool:
    """`cuda` and `cuda:0` are the same device when 0 is the current one."""

    def index(device: torch.device) -> int:
        if device.index is not None or device.type != "cuda":
            return device.index or 0
        return torch.cuda.current_device()

    return first.type == second.type and index(first) == index(second)


def update_step(
    sac: CapturableLearner, buffer: DeviceReplayBuffer, demo: DeviceReplayBuffer | None, demo_count: int
) -> dict[str, torch.Tensor]:
    """One SAC update drawn from device sources: the body captured in the graph and run eagerly alike.

    The batch is `sample_mixed`'s: batch_size - demo_count rows from the buffer, then demo_count
    from the demonstrations.
    """
    batch = buffer.draw(sac.config.batch_size - demo_count)
    if demo_count:
        batch = ReplayBatch.concat(batch, demo.draw(demo_count))
    return sac.update_body(batch)


class UpdateRunner:
    """`num_updates` updates of one learner on fixed device sources: eagerly, or by graph replays.

    Captured graphs hold the addresses of the learner's parameters, optimiser state, the sources'
    storage and generators: a runner belongs to one (learner state, buffer, demo) and is rebuilt
    when any is replaced (`SAC.load_state_dict`, another buffer, a buffer `load`).
    """

    def __init__(
        self,
        sac: CapturableLearner,
        buffer: DeviceReplayBuffer,
        demo: DeviceReplayBuffer | None,
        demo_count: int,
        capture: bool,
        updates_per_replay: int = 1,
        warmup: int = WARMUP_UPDATES,
    ) -> None:
        if updates_per_replay < 1 or warmup < 1:
            raise ValueError(
                f"updates_per_replay and warmup must be >= 1, got {updates_per_replay}, {warmup}"
            )
        self.sac, self.buffer, self.demo, self.demo_count = sac, buffer, demo, demo_count
        self.key = self.key_of(buffer, demo, demo_count)
        self.capture = capture
        self.updates_per_replay = updates_per_replay
        self.warmup_left = warmup if capture else 0
        self.graphs: dict[int, tuple[torch.cuda.CUDAGraph, dict[str, torch.Tensor]]] = {}
        self.side_stream = torch.cuda.Stream(sac.device) if capture else None

    @staticmethod
    def key_of(buffer: DeviceReplayBuffer, demo: DeviceReplayBuffer | None, demo_count: int) -> tuple:
        demo_generation = demo.generation if demo is not None else None
        return (id(buffer), buffer.generation, id(demo), demo_generation, demo_count)

    def step(self) -> dict[str, torch.Tensor]:
        return update_step(self.sac, self.buffer, self.demo, self.demo_count)

    def run(self, num_updates: int) -> dict[str, torch.Tensor]:
        """Run the updates; the last one's metrics as device tensors (the graph's outputs: read them
        before the next call if the values of this call are wanted)."""
        if num_updates <= 0:
            return {}
        if len(self.buffer) == 0:
            raise ValueError("cannot sample a batch: the replay buffer is empty")
        if self.demo_count and (self.demo is None or len(self.demo) == 0):
            raise ValueError("cannot sample a batch: the demonstration source is empty")
        metrics: dict[str, torch.Tensor] = {}
        remaining = num_updates
        if not self.capture:
            for _ in range(num_updates):
                metrics = self.step()
            remaining = 0
        elif self.warmup_left:
            count = min(self.warmup_left, remaining)
            metrics = self._warm_up(count)
            self.warmup_left -= count
            remaining -= count
        while remaining:
            size = self.updates_per_replay if remaining >= self.updates_per_replay else 1
            graph, outputs = self._graph(size)
            graph.replay()
            metrics = outputs
            remaining -= size
        self.sac.num_updates += num_updates
        return dict(metrics)

    def _warm_up(self, count: int) -> dict[str, torch.Tensor]:
        """Real updates on a side stream (lazy optimiser state, cuBLAS handles) before any capture."""
        current = torch.cuda.current_stream(self.sac.device)
        self.side_stream.wait_stream(current)
        with torch.cuda.stream(self.side_stream):
            for _ in range(count):
                metrics = self.step()
        current.wait_stream(self.side_stream)
        return metrics

    def _graph(self, size: int) -> tuple[torch.cuda.CUDAGraph, dict[str, torch.Tensor]]:
        if size not in self.graphs:
            graph = torch.cuda.CUDAGraph()
            # The default CUDA generator (policy noise) is registered by the capture itself.
            generators = {id(self.buffer.generator): self.buffer.generator}
            if self.demo_count:
                generators[id(self.demo.generator)] = self.demo.generator
            for generator in generators.values():
                graph.register_generator_state(generator)
            # Each graph its own memory pool: a shared one would let the 1-update graph's outputs
            # live in blocks the K-update graph overwrites on its replays (its gradients).
            with torch.cuda.graph(graph, capture_error_mode="thread_local"):
                for _ in range(size):
                    outputs = self.step()
            self.graphs[size] = (graph, outputs)
        return self.graphs[size]

    def gpu_ms_per_update(self, replays: int) -> float:
        """GPU milliseconds per update of back-to-back replays (CUDA events): the device's floor.

        These are real updates (counted in `num_updates`)."""
        if not self.capture:
            raise ValueError("gpu_ms_per_update needs the captured path")
        if self.warmup_left:
            self.run(self.warmup_left)
        graph, _ = self._graph(self.updates_per_replay)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(replays):
            graph.replay()
        end.record()
        end.synchronize()
        self.sac.num_updates += replays * self.updates_per_replay
        return start.elapsed_time(end) / (replays * self.updates_per_replay)
