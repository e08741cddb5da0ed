"""The live view's web page (viser): the scene of one selectable worker beside the learning curves.

Why viser: a 3.6 MB wheel whose client is bundled in it (one self-contained index.html: nothing from
a CDN, works offline), meshes and poses pushed over a websocket, GUI panels and uPlot charts
included; rerun-sdk is ~170 MB. The page knows nothing of ROS: a node (nodes/view_node.py) or a
replay feeds it through `WorkerView` updates and `add_episode`/`add_evaluation`, and calls `flush()`
at a bounded rate (the default 20 Hz), so the amount sent to browsers does not grow with the step rate.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from sac_grasp_ros.view.arm_model import ScenePose, visual_geoms

MAX_CURVE_POINTS = 2000
"""points kept per curve (the oldest dropped): the page's cost stays bounded on long runs"""


@dataclass
class WorkerView:
    """What the view knows of one simulator worker (the newest of each message)."""

    joint_names: list[str] = field(default_factory=list)
    joint_positions: list[float] = field(default_factory=list)
    block_xyz: np.ndarray | None = None
    block_wxyz: np.ndarray | None = None
    grasp_point: np.ndarray | None = None
    text: str = ""
    updates: int = 0
    """joint-state messages received: the page redraws only a worker that changed"""


@dataclass
class Curves:
    """Training curves as they arrive: x is the env step count when each value came."""

    episode_steps: list[float] = field(default_factory=list)
    episode_returns: list[float] = field(default_factory=list)
    success_rates: list[float] = field(default_factory=list)
    eval_steps: list[float] = field(default_factory=list)
    eval_success: list[float] = field(default_factory=list)
    env_steps: int = 0
    version: int = 0


class LivePage:
    """A viser server showing the scene and the curves; thread-safe updates, drawn by `flush()`."""

    def __init__(self, host: str = "0.0.0.0", port: int = 8080, title: str = "sac_grasp_ros") -> None:
        import viser

        self._lock = threading.Lock()
        self.workers: dict[str, WorkerView] = {}
        self.curves = Curves()
        self.pose = ScenePose()
        self.server = viser.ViserServer(host=host, port=port, label=title, verbose=False)
        self.port = self.server.get_port()
        self.server.scene.set_up_direction("+z")
        self.server.initial_camera.position = (1.75, -1.25, 1.55)
        self.server.initial_camera.look_at = (0.45, 0.0, 0.95)
        self._bodies = {}
        for geom in visual_geoms(self.pose.model):
            if geom.body not in self._bodies:
                self._bodies[geom.body] = self.server.scene.add_frame(
                    f"/scene/body{geom.body}", show_axes=False
                )
            self.server.scene.add_mesh_simple(
                f"/scene/body{geom.body}/{geom.name}",
                geom.vertices,
                geom.faces,
                color=tuple(int(255 * c) for c in geom.rgba[:3]),
                flat_shading=False,
            )
        self._grasp = self.server.scene.add_icosphere(
            "/scene/grasp_point", radius=0.012, color=(40, 200, 60), visible=False
        )
        self._draw_bodies(list(self._bodies))  # once: bodies welded to the world never move
        model = self.pose.model
        self._moving = [body for body in self._bodies if int(model.body_weldid[body]) != 0]
        gui = self.server.gui
        self._worker = gui.add_dropdown("worker", options=("(waiting)",), initial_value="(waiting)")
        self._state = gui.add_markdown("**episode**: waiting for joint_states")
        self._summary = gui.add_markdown("**training**: waiting for the agent's progress topics")
        self._returns = gui.add_uplot(
            data=(np.zeros(1), np.full(1, np.nan)),  # no point drawn until an episode arrives
            series=({"label": "env steps"}, {"label": "episode return", "stroke": "#1f77b4", "width": 1.5}),
            scales={"x": {"time": False}},
            title="episode return",
            aspect=1.6,
        )
        self._success = gui.add_uplot(
            data=(np.zeros(1), np.full(1, np.nan), np.full(1, np.nan)),
            series=(
                {"label": "env steps"},
                {"label": "success rate", "stroke": "#2ca02c", "width": 1.5},
                {"label": "evaluation", "stroke": "#d62728", "width": 2, "points": {"show": True}},
            ),
            scales={"x": {"time": False}, "y": {"auto": False, "range": (0.0, 1.0)}},
            title="success rate (training, evaluation)",
            aspect=1.6,
        )
        self._drawn_worker: tuple[str, int] = ("", -1)
        self._drawn_curves = -1

    # -- updates (any thread) ---------------------------------------------------------------------
    def worker(self, name: str) -> WorkerView:
        with self._lock:
            return self.workers.setdefault(name, WorkerView())

    def set_joints(self, worker: str, names: list[str], positions: list[float]) -> None:
        state = self.worker(worker)
        with self._lock:
            state.joint_names, state.joint_positions = list(names), list(positions)
            state.updates += 1

    def set_block(self, worker: str, xyz: np.ndarray, wxyz: np.ndarray) -> None:
        state = self.worker(worker)
        with self._lock:
            state.block_xyz, state.block_wxyz = np.asarray(xyz, float), np.asarray(wxyz, float)

    def set_marker_state(self, worker: str, grasp_point: np.ndarray | None, text: str | None) -> None:
        state = self.worker(worker)
        with self._lock:
            if grasp_point is not None:
                state.grasp_point = np.asarray(grasp_point, float)
            if text is not None:
                state.text = text

    def set_env_steps(self, steps: int) -> None:
        with self._lock:
            self.curves.env_steps = max(self.curves.env_steps, int(steps))

    def add_episode(self, episode_return: float, success_rate: float | None = None) -> None:
        with self._lock:
            c = self.curves
            c.episode_steps.append(float(c.env_steps or len(c.episode_steps)))
            c.episode_returns.append(float(episode_return))
            c.success_rates.append(float("nan") if success_rate is None else float(success_rate))
            del c.episode_steps[:-MAX_CURVE_POINTS], c.episode_returns[:-MAX_CURVE_POINTS]
            del c.success_rates[:-MAX_CURVE_POINTS]
            c.version += 1

    def set_success_rate(self, rate: float) -> None:
        """The agent's success rate, published after each episode return: fills the last episode's."""
        with self._lock:
            if self.curves.success_rates:
                self.curves.success_rates[-1] = float(rate)
                self.curves.version += 1

    def add_evaluation(self, success_rate: float) -> None:
        with self._lock:
            c = self.curves
            c.eval_steps.append(float(c.env_steps))
            c.eval_success.append(float(success_rate))
            c.version += 1

    # -- drawing (one thread, at a bounded rate) --------------------------------------------------
    def flush(self) -> None:
        """Send what changed since the last call to the browsers."""
        with self._lock:
            names = sorted(self.workers)
            if names and tuple(self._worker.options) != tuple(names):
                self._worker.options = names
                if self._worker.value not in names:
                    self._worker.value = names[0]
            selected = self._worker.value
            state = self.workers.get(selected)
            worker_key = (selected, state.updates if state else -1)
            snapshot = None
            if state is not None and worker_key != self._drawn_worker:
                snapshot = (
                    list(state.joint_names),
                    list(state.joint_positions),
                    state.block_xyz,
                    state.block_wxyz,
                    state.grasp_point,
                    state.text,
                )
            curves = None
            if self.curves.version != self._drawn_curves:
                c = self.curves
                curves = (
                    np.array(c.episode_steps),
                    np.array(c.episode_returns),
                    np.array(c.success_rates),
                    list(zip(c.eval_steps, c.eval_success, strict=True)),
                    c.env_steps,
                    c.version,
                )
        if snapshot is not None:
            self._draw_worker(selected, *snapshot)
            self._drawn_worker = worker_key
        if curves is not None:
            self._draw_curves(*curves)

    def _draw_bodies(self, bodies: list[int]) -> None:
        self.pose.update()
        positions, orientations = self.pose.body_poses()
        with self.server.atomic():
            for body in bodies:
                frame = self._bodies[body]
                frame.position = positions[body]
                frame.wxyz = orientations[body]

    def _draw_worker(
        self,
        name: str,
        joint_names: list[str],
        joint_positions: list[float],
        block_xyz: np.ndarray | None,
        block_wxyz: np.ndarray | None,
        grasp: np.ndarray | None,
        text: str,
    ) -> None:
        self.pose.set_joints(joint_names, joint_positions)
        if block_xyz is not None:
            self.pose.set_block(block_xyz, block_wxyz)
        self._draw_bodies(self._moving)
        if grasp is not None:
            self._grasp.position = grasp
            self._grasp.visible = True
        joints = ", ".join(f"{p:+.2f}" for p in joint_positions[:7])
        self._state.content = f"**{name}**: {text or 'no markers yet'}  \njoints (rad): {joints}"

    def _draw_curves(
        self,
        steps: np.ndarray,
        returns: np.ndarray,
        rates: np.ndarray,
        evaluations: list[tuple[float, float]],
        env_steps: int,
        version: int,
    ) -> None:
        if len(steps) >= 1:
            self._returns.data = (steps, returns)
            eval_column = np.full(len(steps), np.nan)
            for eval_step, value in evaluations:  # on the training x axis: the nearest episode
                eval_column[int(np.clip(np.searchsorted(steps, eval_step), 0, len(steps) - 1))] = value
            self._success.data = (steps, np.nan_to_num(rates, nan=0.0), eval_column)
        last_eval = (
            f"{evaluations[-1][1]:.0%} at {evaluations[-1][0]:.0f} steps" if evaluations else "none yet"
        )
        last_return = f"{returns[-1]:.2f}" if len(returns) else "-"
        last_rate = f"{rates[-1]:.0%}" if len(rates) and np.isfinite(rates[-1]) else "-"
        self._summary.content = (
            f"**training**: {env_steps} env steps, {len(returns)} episodes  \n"
            f"last return {last_return}, success rate {last_rate}  \nevaluation: {last_eval}"
        )
        self._drawn_curves = version

    def close(self) -> None:
        self.server.stop()
