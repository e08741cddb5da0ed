"""The simulator node's optional parts in plain Python: fault injection on a real MuJoCo scene, the
audit log of step rows, and episode GIFs rendered off-screen (decoded back with Pillow)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest

from sac_grasp_ros.envs.config import GraspEnvConfig
from sac_grasp_ros.graph import protocol
from sac_grasp_ros.recording.step_log import StepLog
from sac_grasp_ros.scene.faults import FaultInjection

pytest.importorskip("mujoco")


@pytest.fixture(autouse=True)
def _offscreen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUJOCO_GL", os.environ.get("MUJOCO_GL", "egl"))


@pytest.fixture(scope="module")
def env():
    from sac_grasp_ros.envs.grasp_env import GraspEnv

    made = GraspEnv(config=GraspEnvConfig(random_target=True, max_episode_steps=20, seed=4))
    yield made
    made.close()


def still(env) -> np.ndarray:
    return np.zeros(env.action_space.shape, np.float32)


@pytest.mark.parametrize("fault", ["nan", "explosion"])
def test_an_armed_fault_makes_the_next_step_diverge_and_the_env_resets_the_scene(env, fault):
    env.reset(seed=4)
    faults = FaultInjection(env.unwrapped.scene)
    assert faults.supported and faults.apply() is None  # nothing armed: nothing written
    *_, info = env.step(still(env))
    assert not info.get("nan_reset", False)
    assert faults.arm(fault)
    assert faults.apply() == fault and faults.pending is None
    qvel = env.unwrapped.scene.data.qvel
    assert np.isnan(qvel).all() if fault == "nan" else (qvel == 1e12).all()
    obs, _, terminated, _, info = env.step(still(env))
    assert info["nan_reset"] and terminated and np.isfinite(obs).all()
    assert np.isfinite(env.unwrapped.scene.data.qvel).all()  # the scene was reset
    *_, info = env.step(still(env))
    assert not info.get("nan_reset", False)  # one fault, one diverged step


def test_fault_injection_refuses_an_unknown_fault_and_a_scene_without_mujoco_state(env):
    with pytest.raises(ValueError, match="nan"):
        FaultInjection(env.unwrapped.scene).arm("meteor")
    pyrep_like = FaultInjection(object())  # PyRep's scene has no MjData to corrupt
    assert not pyrep_like.supported and not pyrep_like.arm("nan") and pyrep_like.apply() is None


def rows(count: int, act: int = 2, obs: int = 3, session: int = 7) -> list[list[float]]:
    rng = np.random.default_rng(count)
    return [
        protocol.encode(
            protocol.StepMessage(
                session, 0, k, float(k), False, False, False, rng.normal(size=act), rng.normal(size=obs)
            )
        )
        for k in range(count)
    ]


def test_the_step_log_streams_rows_as_they_come_and_writes_them_as_an_array_at_close(tmp_path: Path):
    path, row_size = tmp_path / "steps.npy", protocol.HEADER_SIZE + 2 + 3
    log = StepLog(path, row_size)
    written = rows(4)
    for values in written:
        log.append(values)
    stream = np.fromfile(f"{path}.stream", dtype=np.float64)  # readable before close: survives a kill
    np.testing.assert_array_equal(stream.reshape(-1, row_size), written)
    assert not path.exists()
    log.close()
    log.close()  # closing twice writes nothing twice
    np.testing.assert_array_equal(np.load(path, allow_pickle=False), written)
    other = StepLog(tmp_path / "other.npy", row_size)
    with pytest.raises(ValueError, match="13 values, got 12"):
        other.append([0.0] * 12)
    other.close()


def test_the_step_log_stream_appends_across_process_starts_and_an_empty_log_is_an_empty_array(tmp_path: Path):
    path, row_size = tmp_path / "steps.npy", protocol.HEADER_SIZE + 2 + 3
    first = StepLog(path, row_size)
    for values in rows(2):
        first.append(values)
    first.close()
    second = StepLog(path, row_size)  # a respawned worker: the stream goes on, the array is its own
    second.close()
    assert np.load(path, allow_pickle=False).shape == (0, row_size)
    stream = np.fromfile(f"{path}.stream", dtype=np.float64).reshape(-1, row_size)
    np.testing.assert_array_equal(stream, rows(2))


def test_episode_gifs_record_from_the_first_reset_one_frame_per_step(env, tmp_path: Path):
    from PIL import Image

    from sac_grasp_ros.recording.episode_gifs import EpisodeGifs
    from sac_grasp_ros.recording.video import VIDEO_SIZE

    scene = env.unwrapped.scene
    gifs = EpisodeGifs(scene.model, tmp_path / "videos", 20.0, "robots/worker_0", logging.getLogger("test"))
    try:
        env.reset(seed=1)
        gifs.capture(scene.data, 0, 0, 0.0, False)  # before any reset request: not recorded
        assert gifs.save(0) is None and not (tmp_path / "videos").exists()
        gifs.start()
        env.reset(seed=2)
        episode_return = 0.0
        gifs.capture(scene.data, 1, 0, episode_return, False)
        for step in range(1, 4):
            _, reward, *_ = env.step(np.full(env.action_space.shape, 0.5, np.float32))
            episode_return += float(reward)
            gifs.capture(scene.data, 1, step, episode_return, False)
        path = gifs.save(1)
        assert path == tmp_path / "videos" / "robots_worker_0_episode_0001.gif"
        with Image.open(path) as image:
            assert image.n_frames == 4 and image.size == (VIDEO_SIZE[1], VIDEO_SIZE[0])
            image.seek(3)
            last = np.asarray(image.convert("RGB"))
        assert last.std() > 20  # the scene, not a blank frame
        assert gifs.save(2) is None  # the frames went into the file
    finally:
        gifs.close()


def test_an_episode_gif_that_cannot_be_written_costs_the_video_not_the_worker(env, tmp_path: Path, caplog):
    from sac_grasp_ros.recording.episode_gifs import EpisodeGifs

    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    scene = env.unwrapped.scene
    gifs = EpisodeGifs(scene.model, blocked, 20.0, "worker_0", logging.getLogger("test.gifs"))
    try:
        gifs.start()
        env.reset(seed=3)
        gifs.capture(scene.data, 0, 0, 0.0, False)
        with caplog.at_level(logging.ERROR, logger="test.gifs"):
            assert gifs.save(0) is None
        assert "could not write" in caplog.text and "worker_0_episode_0000.gif" in caplog.text
        gifs.capture(scene.data, 1, 0, 0.0, False)  # it goes on recording
        assert len(gifs.video.frames) == 1
    finally:
        gifs.close()
