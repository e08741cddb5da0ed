"""The live view in a real browser: a small training graph runs with `--view`, headless Chromium loads
the page, and the test asserts on what the page shows: the arm's geometry drawn in the 3D canvas
(screenshot pixels in the Sawyer's red), the worker's joint state and the training numbers in the
page text, and the episode-return curve drawn in its chart canvas (pixels in the series colour).
Then `sac-grasp view` attaches a second page to the same running graph."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from browser import HeadlessChromium, chromium_path, free_port, serving
from reliability_helpers import wait_for

TINY_CONFIG = """
graph: {num_workers: 1, respawn_workers: false, seed: 3}
sim_node:
  ros__parameters:
    {backend: mujoco, random_target: true, max_episode_steps: 30, observation: extended,
     reward: shaped, step_mode: lockstep, markers_every: 5, joint_states_every: 1}
agent_node:
  ros__parameters:
    {learning: true, total_steps: 100000, on_finish: evaluate_and_exit, eval_episodes: 2,
     eval_every: 150, periodic_eval_episodes: 1, progress_every: 20,
     sac: {device: cpu, torch_threads: 1, batch_size: 32, learning_starts: 100}}
"""
RETURN_STROKE = (31, 119, 180)  # view.page: the episode-return series colour (#1f77b4)
CHART_PIXELS = """(() => {  // pixels of each 2D canvas in the colour RETURN_STROKE
  const counts = [];
  for (const canvas of document.querySelectorAll('canvas')) {
    const context = canvas.getContext('2d');
    if (!context || !canvas.width || !canvas.height) continue;
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < pixels.length; i += 4) {
      if (Math.abs(pixels[i] - __R__) < 40 && Math.abs(pixels[i + 1] - __G__) < 40
          && Math.abs(pixels[i + 2] - __B__) < 40 && pixels[i + 3] > 100) n++;
    }
    counts.push(n);
  }
  return counts;
})()"""
for _token, _value in zip(("__R__", "__G__", "__B__"), RETURN_STROKE, strict=True):
    CHART_PIXELS = CHART_PIXELS.replace(_token, str(_value))


def scene_pixels(screenshot: Path) -> np.ndarray:
    """The 3D view's part of a screenshot: left of the panel, below the notification."""
    from PIL import Image

    image = np.asarray(Image.open(screenshot).convert("RGB")).astype(int)
    return image[150:, : int(image.shape[1] * 0.7)]


def arm_pixels(screenshot: Path) -> int:
    """Pixels in the Sawyer's red (the table, block, pedestal and page have none)."""
    scene = scene_pixels(screenshot)
    return int(((scene[..., 0] > 150) & (scene[..., 1] < 110) & (scene[..., 2] < 110)).sum())


def require_chromium() -> None:
    if chromium_path() is not None:
        return
    reason = "headless Chromium is missing and scripts/setup.sh could not install it (needs root, apt-get)"
    if os.environ.get("CI"):  # CI runs setup as root on Debian 12: there, a missing browser is a defect
        pytest.fail(f"{reason}; CI runs setup as root, so it should be there")
    pytest.skip(reason)


def pause() -> None:
    """Between two looks at the page: the browser needs the cores too."""
    time.sleep(1.0)


def test_browser_shows_the_arm_and_the_curves(ros_env: dict[str, str], tmp_path: Path) -> None:
    require_chromium()
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY_CONFIG)
    port, out = free_port(), tmp_path / "run"
    command = [sys.executable, "-m", "sac_grasp_ros.cli", "train", "--config", str(config), "--view"]
    command += ["--view-port", str(port), "--out", str(out), "--domain-id", ros_env["ROS_DOMAIN_ID"]]
    log = open(tmp_path / "launcher.log", "w")  # noqa: SIM115 - a file, not a pipe that could fill up
    launcher = subprocess.Popen(command, env=ros_env, stdout=log, stderr=subprocess.STDOUT)
    browser, viewer = None, None
    try:
        view_log = out / "logs" / "view.log"
        started = lambda: "live view at" in (view_log.read_text() if view_log.exists() else "")  # noqa: E731
        wait_for(started, 120, "the view node", spin=lambda: time.sleep(1.0))
        assert f"live view: http://localhost:{port}" in (tmp_path / "launcher.log").read_text()
        browser = HeadlessChromium()
        browser.open(f"http://127.0.0.1:{port}/")

        def training_numbers() -> re.Match | None:
            match = re.search(r"training: (\d+) env steps, (\d+) episodes", browser.text())
            return match if match and int(match.group(2)) >= 3 else None

        wait_for(
            lambda: training_numbers() is not None, 240, "three episodes in the page's summary", spin=pause
        )
        numbers = training_numbers()
        text = browser.text()
        joints = re.search(r"joints \(rad\): ([+-]\d\.\d\d, ){6}[+-]\d\.\d\d", text)
        assert "worker_0" in text and joints, text
        assert int(numbers.group(1)) > 0
        wait_for(
            lambda: "evaluation: none yet" not in browser.text(), 240, "a periodic evaluation", spin=pause
        )

        wait_for(lambda: max(browser.evaluate(CHART_PIXELS) or [0]) > 30, 30, "the return curve", spin=pause)
        # The page fades its scene in once the meshes are there: screenshots until the arm shows.
        shot = tmp_path / "view.png"
        arm_shown = lambda: arm_pixels(browser.screenshot(shot)) > 500  # noqa: E731
        wait_for(arm_shown, 60, "the arm's red in a screenshot", spin=lambda: time.sleep(2.0))

        # `sac-grasp view` attaches a second page to the graph already running, over ROS alone.
        second = free_port()
        attach = [sys.executable, "-m", "sac_grasp_ros.cli", "view", "--port", str(second)]
        attach += ["--domain-id", ros_env["ROS_DOMAIN_ID"]]
        viewer = subprocess.Popen(attach, env=ros_env, stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: serving(second), 120, "the attached view's server", spin=pause)
        browser.open(f"http://127.0.0.1:{second}/")
        wait_for(lambda: "joints (rad): " in browser.text(), 120, "the attached view's worker", spin=pause)
        numbers_again = lambda: re.search(r"training: [1-9]\d* env steps", browser.text())  # noqa: E731
        wait_for(lambda: numbers_again() is not None, 120, "its training numbers", spin=pause)
    finally:
        if browser is not None:
            browser.close()
        for process in (viewer, launcher):
            if process is not None:
                process.send_signal(signal.SIGTERM)
        if viewer is not None:
            viewer.wait(timeout=30)
        try:
            launcher.wait(timeout=60)
        except subprocess.TimeoutExpired:
            launcher.kill()
            launcher.wait()
        log.close()
    scene = scene_pixels(shot)
    background = np.all(np.abs(scene - scene[-1, -1]) < 8, axis=-1)
    assert background.mean() < 0.97, "the 3D view is nearly all background"
    if target := os.environ.get("SAC_GRASP_VIEW_SCREENSHOT"):  # how docs/view.png is made
        shutil.copyfile(shot, target)
