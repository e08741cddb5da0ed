"""The device-path update (captured in CUDA graphs on CUDA) is the classic update on the same batches.

CPU: `update_step` run eagerly equals `SAC.update` on the batches it drew; path choice; the learner
state loads across paths (the Adam kernel flags stay the loading learner's); a session on the
device path trains, checkpoints and resumes on the classic one. CUDA (skipped without a GPU): the
captured replays equal the eager device path, run without a host sync, and K updates per replay
equal K single ones.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from sac_grasp_ros.sac import SAC, DeviceReplayBuffer, ReplayBatch, ReplayBuffer, SACConfig
from sac_grasp_ros.sac.captured import update_path
from sac_grasp_ros.training.config import TrainingConfig
from sac_grasp_ros.training.session import TrainingSession

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
SMALL = {"hidden_size": 32, "q_hidden_layers": 2, "policy_hidden_layers": 2, "batch_size": 16, "seed": 0}
OBS, ACT = 4, 2


def transitions(count: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((count, OBS)),
        rng.uniform(-1, 1, (count, ACT)),
        rng.standard_normal(count),
        rng.standard_normal((count, OBS)),
        rng.random(count) < 0.1,
    )


def device_buffer(device: str, capacity: int = 500, count: int = 300, seed: int = 0) -> DeviceReplayBuffer:
    buffer = DeviceReplayBuffer(capacity, OBS, ACT, device, seed=seed)
    buffer.add_batch(*transitions(count, seed))
    return buffer


def learner(device: str = "cpu", **overrides) -> SAC:
    return SAC(OBS, ACT, SACConfig(**{**SMALL, "device": device, **overrides}))


def assert_same_learner(first: SAC, second: SAC, rtol: float = 0.0, atol: float = 0.0) -> None:
    for name in ("policy", "q", "q_target"):
        for (key, a), b in zip(
            getattr(first, name).state_dict().items(),
            getattr(second, name).state_dict().values(),
            strict=True,
        ):
            torch.testing.assert_close(a, b, rtol=rtol, atol=atol, msg=f"{name}.{key} differs")
    torch.testing.assert_close(first.log_alpha, second.log_alpha, rtol=rtol, atol=atol)


@pytest.mark.parametrize("overrides", [{}, {"autotune_alpha": False}, {"reward_normalisation": True}])
def test_eager_device_update_equals_the_classic_update_on_the_same_batches(overrides) -> None:
    torch.set_num_threads(1)
    classic, device = learner(**overrides), learner(cuda_graph="eager", **overrides)
    assert (classic.update_path, device.update_path) == ("classic", "eager")
    buffer, twin = device_buffer("cpu"), device_buffer("cpu")
    demo, demo_twin = device_buffer("cpu", 40, 40, seed=1), device_buffer("cpu", 40, 40, seed=1)
    demo_rows = round(SMALL["batch_size"] * classic.config.demo_ratio)
    for _ in range(6):
        # The classic learner gets the rows the device path draws (twin buffers, same generator seeds)
        # and the same policy noise (torch's global generator reset before each).
        batch = ReplayBatch.concat(twin.draw(SMALL["batch_size"] - demo_rows), demo_twin.draw(demo_rows))
        noise_state = torch.get_rng_state()
        expected = classic.update(batch)
        torch.set_rng_state(noise_state)
        metrics = device.update_from_tensors(buffer, 1, demo=demo)
        assert set(metrics) == set(expected)
        for name, value in expected.items():
            assert float(metrics[name]) == pytest.approx(value, rel=1e-6, abs=1e-7), name
    assert device.num_updates == classic.num_updates == 6
    assert_same_learner(classic, device, rtol=1e-6, atol=1e-7)


def test_path_choice_and_sources_of_another_kind_take_the_classic_path() -> None:
    assert update_path("auto", torch.device("cpu")) == "classic"
    assert update_path("auto", torch.device("cuda")) == "captured"
    assert update_path("off", torch.device("cuda")) == "classic"
    assert update_path("eager", torch.device("cpu")) == "eager"
    with pytest.raises(ValueError, match="cuda_graph"):
        SACConfig(cuda_graph="yes")
    with pytest.raises(ValueError, match="cuda_graph_updates"):
        SACConfig(cuda_graph_updates=0)
    device = learner(cuda_graph="eager")
    host = ReplayBuffer(500, OBS, ACT, seed=0)
    host.add_batch(*transitions(300, 0))
    assert device.runner(host) is None  # a host buffer: the classic loop, same maths
    device.update_from_tensors(host, 2, demo=device_buffer("cpu", 40, 40))  # mixed kinds meet on the device
    classic = learner()
    assert classic.runner(device_buffer("cpu")) is None
    classic.update_from_tensors(device_buffer("cpu"), 2, demo=host)
    assert device.num_updates == classic.num_updates == 2
    with pytest.raises(ValueError, match="empty"):
        device.update_from_tensors(DeviceReplayBuffer(10, OBS, ACT, "cpu"), 1)


def test_runner_is_kept_for_the_same_sources_and_rebuilt_when_state_is_replaced(tmp_path) -> None:
    sac, buffer = learner(cuda_graph="eager"), device_buffer("cpu")
    runner = sac.runner(buffer)
    assert sac.runner(buffer) is runner
    sac.load_state_dict(sac.state_dict())
    assert sac.runner(buffer) is not runner  # graphs would hold the replaced optimiser state
    runner = sac.runner(buffer)
    buffer.save(tmp_path / "buffer.npz")
    buffer.load(tmp_path / "buffer.npz")
    assert sac.runner(buffer) is not runner  # and the replaced generator state


def flags(sac: SAC) -> list[tuple]:
    return [
        (group.get("fused"), group.get("foreach"), group.get("capturable"))
        for optimiser in (sac.q_optimizer, sac.policy_optimizer, sac.alpha_optimizer)
        for group in optimiser.param_groups
    ]


def test_learner_state_loads_across_paths_and_keeps_the_optimiser_flags(tmp_path) -> None:
    """A state from either path continues identically on the other; the file's Adam flags (here as a
    captured CUDA learner writes them: capturable, steps on the device) do not replace the loader's."""
    trained = learner(cuda_graph="eager")
    trained.update_from_tensors(device_buffer("cpu"), 5)
    state = copy.deepcopy(trained.state_dict())
    as_captured = copy.deepcopy(state)
    for name in ("q_optimizer", "policy_optimizer", "alpha_optimizer"):
        for group in as_captured[name]["param_groups"]:
            group.update(capturable=True, fused=None, foreach=True)
    continued = {}
    for label, loaded_state, setting in (("same", state, "eager"), ("classic", as_captured, "off")):
        sac = learner(cuda_graph=setting, seed=5)  # other initial weights: all must come from the state
        own_flags = flags(sac)
        sac.load_state_dict(loaded_state)
        assert flags(sac) == own_flags and sac.num_updates == 5
        steps = [s["step"] for s in sac.q_optimizer.state.values()]
        assert all(float(step) == 5 for step in steps)
        torch.manual_seed(3)
        batch_source = device_buffer("cpu", seed=7)
        metrics = sac.update_from_tensors(batch_source, 3)
        continued[label] = (sac, {name: float(value) for name, value in metrics.items()})
    assert continued["same"][1] == pytest.approx(continued["classic"][1], rel=1e-6)
    assert_same_learner(continued["same"][0], continued["classic"][0], rtol=1e-6, atol=1e-7)


def small_session(tmp_path, setting: str, **trainer) -> TrainingSession:
    config = TrainingConfig(checkpoint_dir=str(tmp_path / "checkpoint"), seed=0, **trainer)
    sac = SACConfig(
        **{**SMALL, "device": "cpu", "learning_starts": 20, "buffer_capacity": 200, "cuda_graph": setting}
    )
    return TrainingSession(config, sac)


def test_session_trains_on_the_device_path_and_resumes_on_the_classic_one(tmp_path) -> None:
    session = small_session(tmp_path, "eager")
    session.build(OBS, ACT)
    rng = np.random.default_rng(0)
    obs = rng.standard_normal(OBS)
    for _ in range(60):
        action = session.act(obs[None])[0]
        next_obs = rng.standard_normal(OBS)
        session.store(obs, action, float(rng.standard_normal()), next_obs, False)
        session.learn()
        obs = next_obs
    assert session.updates_done == session.sac.num_updates == 41  # steps 20..60
    assert session.sac.runner(session.buffer) is not None  # the trainer used the device path
    assert np.isfinite(list(session.progress().values())).all()
    ok, _ = session.save()
    assert ok
    resumed = small_session(tmp_path, "off")
    ok, message = resumed.load(str(tmp_path / "checkpoint"))
    assert ok, message
    assert type(resumed.buffer) is ReplayBuffer and resumed.sac.update_path == "classic"
    for name, array in session.buffer.transitions().items():
        np.testing.assert_array_equal(resumed.buffer.transitions()[name], array)
    assert_same_learner(session.sac, resumed.sac)
    assert resumed.updates_done == 41 and resumed.sac.update_from(resumed.buffer, 1)


# ------------------------------------------------------------------------------------------ CUDA
def cuda_pair(**overrides) -> tuple[SAC, SAC, DeviceReplayBuffer, DeviceReplayBuffer]:
    eager, captured = learner("cuda", cuda_graph="eager", **overrides), learner("cuda", **overrides)
    assert captured.update_path == "captured"
    return eager, captured, device_buffer("cuda"), device_buffer("cuda")


def run_calls(sac: SAC, buffer: DeviceReplayBuffer, calls: list[int], demo=None) -> dict[str, float]:
    torch.cuda.manual_seed(11)  # the same policy noise stream for both learners
    metrics = {}
    for count in calls:
        metrics = sac.update_from_tensors(buffer, count, demo=demo)
    return {name: float(value) for name, value in metrics.items()}


@needs_cuda
@pytest.mark.parametrize("overrides", [{}, {"cuda_graph_updates": 4}, {"q_layer_norm": True}])
def test_captured_updates_equal_the_eager_ones_on_cuda(overrides) -> None:
    eager, captured, eager_buffer, captured_buffer = cuda_pair(**overrides)
    eager_demo, captured_demo = device_buffer("cuda", 40, 40, seed=1), device_buffer("cuda", 40, 40, seed=1)
    calls = [1, 1, 1, 1, 5, 9, 2]  # warm-up, capture, replays of 1 and of K with a remainder
    expected = run_calls(eager, eager_buffer, calls, eager_demo)
    found = run_calls(captured, captured_buffer, calls, captured_demo)
    assert captured.num_updates == eager.num_updates == sum(calls)
    assert captured.runner(captured_buffer, captured_demo).graphs  # replayed, not run eagerly
    assert found == pytest.approx(expected, rel=1e-4, abs=1e-5)
    assert_same_learner(eager, captured, rtol=1e-4, atol=1e-5)


@needs_cuda
def test_captured_replays_make_no_host_sync() -> None:
    _, captured, _, buffer = cuda_pair()
    captured.update_from_tensors(buffer, 5)  # warm-up and capture (these synchronise once)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        metrics = captured.update_from_tensors(buffer, 20)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert all(value.is_cuda for value in metrics.values()) and np.isfinite(float(metrics["q_loss"]))


@needs_cuda
def test_captured_checkpoint_continues_on_the_cpu_and_back(tmp_path) -> None:
    _, captured, _, buffer = cuda_pair()
    captured.update_from_tensors(buffer, 8)
    state = captured.state_dict()
    on_cpu = learner("cpu")
    on_cpu.load_state_dict(state)
    assert all(group["capturable"] is False for group in on_cpu.q_optimizer.param_groups)
    on_cpu.update_from(device_buffer("cpu"), 2)
    back = learner("cuda")
    back.load_state_dict(on_cpu.state_dict())
    assert all(group["capturable"] for group in back.q_optimizer.param_groups)
    metrics = back.update_from(buffer, 6)  # warm-up, then capture with the loaded optimiser state
    assert np.isfinite(list(metrics.values())).all() and back.num_updates == 16


@needs_cuda
def test_gpu_time_floor_is_measured_on_the_captured_graph() -> None:
    _, captured, _, buffer = cuda_pair()
    runner = captured.runner(buffer)
    floor_ms = runner.gpu_ms_per_update(10)
    assert floor_ms > 0 and captured.num_updates == 3 + 10
