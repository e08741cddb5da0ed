"""Episode videos: the shipped policy's episodes rendered off-screen to GIF, in-process (`sac-grasp
video`) and by the simulator node of a real graph (`sac-grasp test --video`). The files are decoded by
ffmpeg (imageio-ffmpeg, a test dependency), not by Pillow, which writes them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from cli_helpers import run_sac_grasp_test

from sac_grasp_ros import paths
from sac_grasp_ros.paths import SHIPPED_POLICY
from sac_grasp_ros.recording.video import VIDEO_SIZE
from sac_grasp_ros.video import record_policy_episodes

SHIPPED = paths.models_dir() / SHIPPED_POLICY


def decode(path: Path) -> np.ndarray:
    """Every frame of a GIF as uint8 [frames, height, width, 3], decoded by ffmpeg (frames as stored)."""
    height, width = VIDEO_SIZE
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-fps_mode", "passthrough"]
    command += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    raw = subprocess.run(command, capture_output=True, check=True, timeout=120).stdout
    assert len(raw) % (height * width * 3) == 0, f"{path}: not {width}x{height} RGB frames"
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, height, width, 3)


def assert_shows_the_scene(frames: np.ndarray) -> None:
    """Not blank: every frame has structure, and the arm moves between the first and last frame."""
    for index, frame in enumerate(frames):
        assert frame.std() > 20, f"frame {index} is nearly uniform (std {frame.std():.1f})"
        assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 16, f"frame {index} has too few colours"
    changed = np.abs(frames[0].astype(int) - frames[-1].astype(int)).max(axis=-1) > 30
    assert changed.mean() > 0.01, "the first and the last frame show the same picture"


@pytest.fixture(autouse=True)
def _offscreen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUJOCO_GL", os.environ.get("MUJOCO_GL", "egl"))


def test_in_process_video_has_one_frame_per_step(tmp_path: Path) -> None:
    results = record_policy_episodes(SHIPPED, 2, tmp_path, seed=3, env_overrides={"max_episode_steps": 20})
    assert [Path(r["file"]).name for r in results] == ["episode_0000.gif", "episode_0001.gif"]
    for result in results:
        frames = decode(Path(result["file"]))
        assert 1 <= result["steps"] <= 20
        assert len(frames) == result["steps"] + 1 == result["frames"]  # the reset frame, then one per step
        assert_shows_the_scene(frames)


def test_video_command_rejects_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sac_grasp_ros import video

    assert video.main(["--policy", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2
    assert "missing" in capsys.readouterr().err
    assert video.main(["--episodes", "0", "--out", str(tmp_path)]) == 2
    assert "episodes must be >= 1" in capsys.readouterr().err


def test_sac_grasp_test_video_writes_the_evaluation_episodes(ros_env: dict[str, str], tmp_path: Path) -> None:
    episodes = 2
    videos = tmp_path / "videos"
    env = {**ros_env, "MUJOCO_GL": os.environ["MUJOCO_GL"]}
    result = run_sac_grasp_test(env, tmp_path / "test", 5, episodes, "--video", str(videos))
    assert result.returncode == 0, result.stderr[-4000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    files = sorted(videos.glob("worker_0_episode_*.gif"))
    assert len(files) >= episodes, (files, summary)
    lengths = []
    for path in files[:episodes]:  # the evaluation's episodes, from its reset on
        frames = decode(path)
        assert_shows_the_scene(frames)
        lengths.append(len(frames) - 1)
    assert np.mean(lengths) == pytest.approx(summary["mean_length"]), (lengths, summary)
