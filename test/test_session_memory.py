"""The trainer's memory stays flat over million-step runs: what it keeps per finished episode, and what
a redraw of learning_curve.png leaves behind in the process (the agent node redraws it every 15 s)."""

from __future__ import annotations

import gc
import math
import tracemalloc
from pathlib import Path

import numpy as np

from sac_grasp_ros.training.curve import EpisodeRecord, LearningCurve
from sac_grasp_ros.training.reporting import (
    CURVE_PNG,
    EVAL_CURVE_CSV,
    EVAL_CURVE_PNG,
    PLOT_POINTS,
    EvalCurveWriter,
    RunReporter,
)

EPISODE_STEPS = 50


def add_episodes(curve: LearningCurve, count: int, rng: np.random.Generator) -> None:
    for _ in range(count):
        episode = len(curve) + 1
        success = None if episode % 7 == 0 else bool(rng.random() < 0.5)
        curve.append(
            EpisodeRecord(
                episode, EPISODE_STEPS * episode, float(rng.normal()), EPISODE_STEPS, success, 0.1 * episode
            )
        )


def test_session_learning_curve_keeps_an_episode_in_under_100_bytes() -> None:
    """20,000 episodes, a million steps of 50-step episodes: one EpisodeRecord object apiece took
    ~250 bytes an episode; numpy columns take 48 (up to twice that while half of a doubling is unused)."""
    rng = np.random.default_rng(0)
    episodes = 20_000
    tracemalloc.start()
    try:
        curve = LearningCurve()
        add_episodes(curve, episodes, rng)
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held / episodes < 100, f"{held / episodes:.0f} bytes an episode"
    # Still the same table: records as values, by index, slice, from the end, and through arrays.
    assert len(curve) == len(curve.records) == episodes
    last = curve.records[-1]
    assert (last.episode, last.env_steps, last.episode_length) == (episodes, EPISODE_STEPS * episodes, 50)
    assert [r.episode for r in curve.records[episodes - 3 :]] == [episodes - 2, episodes - 1, episodes]
    assert curve.records[6].success is None and curve.records[5].success in (True, False)
    restored = LearningCurve.from_arrays(curve.to_arrays())
    assert restored.records == curve.records
    window = curve.column("success")[-100:]
    assert curve.success_rate(100) == float(np.mean(window[~np.isnan(window)]))


def test_session_learning_curve_redraw_leaves_no_garbage(tmp_path: Path) -> None:
    """A new figure per redraw left the whole figure (~4,800 objects, its Agg canvas with them) as
    cyclic garbage; in a process the size of the agent only the rare full collection frees it, and
    the agent grew by tens of MB in minutes. The kept figure leaves nothing to collect."""
    rng = np.random.default_rng(1)
    curve = LearningCurve()
    reporter = RunReporter(tmp_path, tensorboard=False)
    add_episodes(curve, 3_000, rng)
    reporter.plot(curve, title="warm-up")  # the first draw fills matplotlib's caches
    for _ in range(3):
        add_episodes(curve, 200, rng)
        gc.collect()
        reporter.plot(curve, title="seed 0")
        assert gc.collect() < 50
    assert (tmp_path / CURVE_PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    reporter.close()


def test_session_learning_curve_plot_draws_a_bounded_number_of_points(tmp_path: Path) -> None:
    """A redraw costs the same at a million steps as at the start: at most PLOT_POINTS points per
    line, first and last episode included, the rolling means taken over every episode."""
    rng = np.random.default_rng(2)
    curve = LearningCurve()
    add_episodes(curve, 3 * PLOT_POINTS + 17, rng)
    reporter = RunReporter(tmp_path, tensorboard=False)
    reporter.plot(curve, title="bounded")
    plot = reporter._plot
    steps, returns = curve.column("env_steps"), curve.column("episode_return")
    dots_x, dots_y = plot.returns.get_data()
    assert len(dots_x) == PLOT_POINTS and dots_x[0] == steps[0] and dots_x[-1] == steps[-1]
    np.testing.assert_array_equal(dots_y, returns[np.searchsorted(steps, dots_x)])
    mean_x, mean_y = plot.mean.get_data()
    full_mean = np.convolve(returns, np.ones(100) / 100, mode="valid")
    assert len(mean_x) == PLOT_POINTS and mean_x[-1] == steps[-1]
    np.testing.assert_allclose(mean_y, full_mean[np.searchsorted(steps[99:], mean_x)], rtol=1e-9, atol=1e-12)
    rate_x, rate_y = plot.success.get_data()
    assert len(rate_x) == PLOT_POINTS and all(0.0 <= y <= 1.0 for y in rate_y)
    assert not any(math.isnan(y) for y in rate_y)
    reporter.close()


def test_session_eval_curve_redraw_leaves_no_garbage(tmp_path: Path) -> None:
    """eval_curve.png is redrawn after every periodic evaluation, on one kept figure as well."""
    writer = EvalCurveWriter(tmp_path / EVAL_CURVE_CSV)
    rng = np.random.default_rng(3)
    for evaluation in range(1, 6):
        writer.append(
            {"env_steps": 5_000 * evaluation, "wall_s": 60.0 * evaluation, "updates": 1_250 * evaluation,
             "eval_success_rate": float(rng.random()), "eval_mean_return": float(rng.normal()),
             "train_success_100": float(rng.random())}
        )  # fmt: skip
        gc.collect()
        writer.plot(tmp_path / EVAL_CURVE_PNG, "evaluations, seed 0")
        if evaluation > 1:  # the first draw fills matplotlib's caches
            assert gc.collect() < 50
    assert (tmp_path / EVAL_CURVE_PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / EVAL_CURVE_CSV).read_text().count("\n") == 6  # header and five rows
