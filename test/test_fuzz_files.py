"""Property-based fuzzing of the files a run reads back: checkpoints and demonstrations.

A valid checkpoint (tiny networks, a small buffer) and a valid demonstration file are written once;
hypothesis (derandomized: the same cases every run) then damages one file at a time: truncation,
random bytes, arrays with wrong shapes or dtypes, pickled objects, and checkpoint.json with wrong
types or values. Every load must either succeed (the damage happened to be harmless) or raise
CheckpointError / ValueError naming the damaged file; nothing else escapes, and a pickle planted in
a file is never executed (a marker file its payload would create stays absent).
"""

from __future__ import annotations

import io
import json
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import record_figures

from sac_grasp_ros.sac import (
    SAC,
    ReplayBuffer,
    SACConfig,
    load_checkpoint,
    load_demos,
    save_checkpoint,
    save_demos,
)
from sac_grasp_ros.sac.checkpoint import CheckpointError

OBS, ACT = 5, 2
FILES = ("checkpoint.json", "learner.pt", "curve.npz", "buffer.npz")
FUZZ = settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


class _Payload:
    """Unpickling this creates `marker`: proof that a loader ran pickle on the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture(scope="module")
def valid_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("valid")
    config = SACConfig(
        hidden_size=8, q_hidden_layers=1, policy_hidden_layers=1, batch_size=4, device="cpu", seed=0
    )
    sac = SAC(OBS, ACT, config)
    rng = np.random.default_rng(0)
    buffer = ReplayBuffer(32, OBS, ACT, seed=0)
    arrays = (
        rng.normal(size=(20, OBS)),
        rng.uniform(-1, 1, (20, ACT)),
        rng.normal(size=20),
        rng.normal(size=(20, OBS)),
        np.zeros(20, bool),
    )
    buffer.add_batch(*arrays)
    curve = {"episode": np.arange(4), "episode_return": rng.normal(size=4)}
    save_checkpoint(root / "checkpoint", sac, buffer, {"env_steps": 20}, curve)
    save_demos(root / "demos.npz", *arrays)
    return root


def _npz_bytes(arrays: dict[str, np.ndarray], allow_pickle: bool = False) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=allow_pickle)
            archive.writestr(f"{name}.npy", member.getvalue())
    return out.getvalue()


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


# One damage = (kind, parameters drawn by hypothesis).
damage = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0.0, 0.999)),
    st.tuples(st.just("random_bytes"), st.binary(min_size=0, max_size=300)),
    st.tuples(
        st.just("flip_bytes"),
        st.lists(st.tuples(st.floats(0, 0.999), st.integers(1, 255)), min_size=1, max_size=8),
    ),
    st.tuples(st.just("pickle"), st.none()),
    st.tuples(st.just("reshape"), st.tuples(st.integers(0, 6), st.integers(0, 3))),
    st.tuples(
        st.just("dtype"),
        st.tuples(
            st.integers(0, 6), st.sampled_from(["complex64", "U3", "int8", "float16", "bool", "uint64"])
        ),
    ),
    st.tuples(st.just("drop_array"), st.integers(0, 6)),
)
json_values = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 300), st.floats(allow_nan=True), st.text(max_size=8),
    st.lists(st.integers(-2, 9), max_size=3), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)  # fmt: skip


def _damage(path: Path, kind: str, arg, marker: Path) -> None:
    data = path.read_bytes()
    if kind == "truncate":
        path.write_bytes(data[: int(len(data) * arg)])
    elif kind == "random_bytes":
        path.write_bytes(arg)
    elif kind == "flip_bytes":
        raw = bytearray(data)
        for where, xor in arg:
            raw[int(where * len(raw))] ^= xor
        path.write_bytes(bytes(raw))
    elif kind == "pickle":
        if path.suffix == ".npz":
            arrays = _read_npz(path)
            name = sorted(arrays)[0]
            arrays[name] = np.array([_Payload(marker)], dtype=object)
            path.write_bytes(_npz_bytes(arrays, allow_pickle=True))
        elif path.suffix == ".pt":
            torch.save({"policy": _Payload(marker)}, path)
        else:
            path.write_bytes(pickle.dumps(_Payload(marker)))
    elif path.suffix == ".npz":
        arrays = _read_npz(path)
        names = sorted(arrays)
        name = names[(arg[0] if isinstance(arg, tuple) else arg) % len(names)]
        if kind == "reshape":
            array = arrays[name]
            arrays[name] = np.resize(array, (max(array.size - arg[1], 0),) if arg[1] else (*array.shape, 1))
        elif kind == "dtype":
            try:
                arrays[name] = arrays[name].astype(arg[1])
            except ValueError:  # e.g. text that is no number: same shape, wrong dtype
                arrays[name] = np.zeros(arrays[name].shape, dtype=arg[1])
        else:
            del arrays[name]
        path.write_bytes(_npz_bytes(arrays))
    else:  # structural damage to a non-archive: rewrite with random bytes of the same length
        path.write_bytes(bytes((b + 1) % 256 for b in data))


def _assert_clear_error(error: Exception, named: Path, marker: Path) -> None:
    assert isinstance(error, ValueError), f"{type(error).__name__}: {error}"
    assert str(named) in str(error) or named.name in str(error), f"error does not name {named}: {error}"
    assert not marker.exists(), "a pickle payload was executed"


def test_damaged_checkpoints_raise_checkpoint_error_naming_the_file(valid_files: Path, tmp_path_factory):
    work = tmp_path_factory.mktemp("damaged")
    marker = work / "PICKLE_RAN"
    cases = {"tried": 0, "refused": 0, "loaded": 0}

    @FUZZ
    @given(file=st.sampled_from(FILES), how=damage)
    def check_file_damage(file: str, how: tuple) -> None:
        directory = work / "checkpoint"
        shutil.rmtree(directory, ignore_errors=True)
        shutil.copytree(valid_files / "checkpoint", directory)
        _damage(directory / file, *how, marker)
        cases["tried"] += 1
        try:
            load_checkpoint(directory, buffer=ReplayBuffer(32, OBS, ACT), device="cpu")
        except CheckpointError as error:
            cases["refused"] += 1
            _assert_clear_error(
                error, directory / file if file != "learner.pt" or how[0] != "reshape" else directory, marker
            )
        else:
            cases["loaded"] += 1

    check_file_damage()

    json_cases = {"tried": 0, "refused": 0, "loaded": 0}

    @FUZZ
    @given(
        key=st.sampled_from(
            ["format", "obs_dim", "act_dim", "config", "counters", "hidden_size", "batch_size"]
        ),
        value=json_values,
    )
    def check_meta_values(key: str, value) -> None:
        directory = work / "checkpoint"
        shutil.rmtree(directory, ignore_errors=True)
        shutil.copytree(valid_files / "checkpoint", directory)
        meta_file = directory / "checkpoint.json"
        meta = json.loads(meta_file.read_text())
        if key in ("hidden_size", "batch_size"):
            meta["config"][key] = value
        else:
            meta[key] = value
        meta_file.write_text(json.dumps(meta))
        json_cases["tried"] += 1
        try:
            load_checkpoint(directory, buffer=ReplayBuffer(32, OBS, ACT), device="cpu")
        except CheckpointError as error:
            json_cases["refused"] += 1
            assert str(directory) in str(error), error  # names checkpoint.json or learner.pt in it
            assert not marker.exists()
        else:
            json_cases["loaded"] += 1

    check_meta_values()
    assert cases["refused"] > cases["tried"] // 2 and json_cases["refused"] > 0
    record_figures("fuzz_checkpoint_files", file_damage=cases, checkpoint_json_values=json_cases)


def test_damaged_demonstration_files_raise_value_error_naming_the_file(valid_files: Path, tmp_path_factory):
    work = tmp_path_factory.mktemp("demos")
    marker = work / "PICKLE_RAN"
    cases = {"tried": 0, "refused": 0, "loaded": 0}

    @FUZZ
    @given(how=damage)
    def check(how: tuple) -> None:
        path = work / "demos.npz"
        shutil.copy(valid_files / "demos.npz", path)
        _damage(path, *how, marker)
        cases["tried"] += 1
        try:
            load_demos(path, OBS, ACT, seed=0)
        except ValueError as error:
            cases["refused"] += 1
            _assert_clear_error(error, path, marker)
        else:
            cases["loaded"] += 1

    check()
    assert cases["refused"] > cases["tried"] // 2
    record_figures("fuzz_demo_files", file_damage=cases)
