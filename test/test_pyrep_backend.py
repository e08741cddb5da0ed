"""The PyRep backend's logic, run against a STAND-IN `pyrep` package injected into sys.modules.

CoppeliaSim and stepjam's PyRep cannot be installed on this machine, so these tests replace them with a
small kinematic stand-in (fake PyRep, Sawyer, BaxterGripper, Shape, ProximitySensor with the same method
names and signatures as stepjam/PyRep). They check what the backend asks of PyRep and how GraspEnv's task
logic runs on top of it; they say nothing about CoppeliaSim's physics.
"""

from __future__ import annotations

import math
import os
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from sac_grasp_ros.envs.grasp_env import GraspEnv
from sac_grasp_ros.scene import HOME_POSTURE, make_scene
from sac_grasp_ros.scene.pyrep_scene import SCENE_ENV_VAR, PyRepGraspScene

BASE = np.array([0.0, 0.0, 1.1])
# A linear stand-in "arm": tip = BASE + A @ (q - HOME) + HOME_TIP.
A = np.array(
    [
        [0.0, 0.3, 0.0, -0.2, 0.0, 0.1, 0.0],
        [0.4, 0.0, 0.1, 0.0, 0.05, 0.0, 0.0],
        [0.0, -0.3, 0.0, -0.3, 0.0, -0.1, 0.0],
    ]
)
HOME_TIP = np.array([0.25, 0.0, 1.25])
TABLE_Z = 0.95


class FakeWorld:
    """State shared by the stand-in objects; `step` integrates joint velocities and carries a held block."""

    def __init__(self) -> None:
        self.q = np.zeros(7)
        self.v = np.zeros(7)
        self.dt = 0.05
        self.open_amount = 1.0
        self.objects: dict[str, dict] = {"target": {"pos": np.array([0.3, 0.0, 1.0]), "ori": np.zeros(3)}}
        self.calls: list[tuple] = []
        self.steps = 0

    def tip(self) -> np.ndarray:
        return HOME_TIP + A @ (self.q - HOME_POSTURE)

    def pad_touches_target(self) -> bool:
        return self.open_amount < 0.5 and np.linalg.norm(self.tip() - self.objects["target"]["pos"]) < 0.02

    def step(self) -> None:
        held = self.pad_touches_target()
        before = self.tip()
        self.q = self.q + self.v * self.dt
        if held:
            self.objects["target"]["pos"] = self.objects["target"]["pos"] + (self.tip() - before)
        self.steps += 1


WORLD = FakeWorld()


class PyRep:
    def launch(self, scene_file: str = "", headless: bool = False, **_: object) -> None:
        WORLD.calls.append(("launch", scene_file, headless))

    def set_simulation_timestep(self, dt: float) -> None:
        WORLD.dt = dt

    def start(self) -> None:
        WORLD.calls.append(("start",))

    def step(self) -> None:
        WORLD.step()

    def stop(self) -> None:
        WORLD.calls.append(("stop",))

    def shutdown(self) -> None:
        WORLD.calls.append(("shutdown",))


class Dummy:
    def get_position(self, relative_to=None) -> np.ndarray:
        return WORLD.tip()

    def get_orientation(self, relative_to=None) -> np.ndarray:
        return np.array([math.pi, 0.0, 0.0])


class Sawyer:
    def set_control_loop_enabled(self, value: bool) -> None:
        WORLD.calls.append(("control_loop", value))

    def set_motor_locked_at_zero_velocity(self, value: bool) -> None:
        WORLD.calls.append(("motor_locked", value))

    def get_tip(self) -> Dummy:
        return Dummy()

    def set_joint_positions(self, positions: list[float], disable_dynamics: bool = False) -> None:
        WORLD.q = np.array(positions, dtype=float)
        WORLD.calls.append(("set_joint_positions", disable_dynamics))

    def set_joint_target_velocities(self, velocities: list[float]) -> None:
        assert isinstance(velocities, list) and len(velocities) == 7
        WORLD.v = np.array(velocities, dtype=float)

    def get_joint_positions(self) -> np.ndarray:
        return WORLD.q.copy()

    def get_joint_velocities(self) -> np.ndarray:
        return WORLD.v.copy()

    def get_jacobian(self) -> np.ndarray:
        return np.vstack([A, np.zeros((3, 7))]).T  # PyRep's layout: (joints, 6)

    def solve_ik_via_jacobian(self, position, euler=None, quaternion=None, relative_to=None) -> np.ndarray:
        return HOME_POSTURE + np.linalg.pinv(A) @ (np.asarray(position) - HOME_TIP)


class BaxterGripper:
    def actuate(self, amount: float, velocity: float) -> bool:
        step = 0.5
        WORLD.open_amount += float(np.clip(amount - WORLD.open_amount, -step, step))
        return abs(WORLD.open_amount - amount) < 1e-9

    def get_open_amount(self) -> list[float]:
        return [WORLD.open_amount, WORLD.open_amount]


class Shape:
    def __init__(self, name: str) -> None:
        self.name = name
        WORLD.objects.setdefault(name, {"pos": np.zeros(3), "ori": np.zeros(3)})

    def get_position(self, relative_to=None) -> np.ndarray:
        return WORLD.objects[self.name]["pos"].copy()

    def set_position(self, position, relative_to=None) -> None:
        WORLD.objects[self.name]["pos"] = np.array(position, dtype=float)

    def get_orientation(self, relative_to=None) -> np.ndarray:
        return WORLD.objects[self.name]["ori"].copy()

    def set_orientation(self, orientation, relative_to=None) -> None:
        WORLD.objects[self.name]["ori"] = np.array(orientation, dtype=float)

    def reset_dynamic_object(self) -> None:
        WORLD.calls.append(("reset_dynamic", self.name))

    def check_collision(self, obj: Shape | None = None) -> bool:
        if "Pad" in self.name and obj is not None and obj.name == "target":
            return WORLD.pad_touches_target()
        if self.name.endswith("leftPad") and obj is not None and obj.name == "diningTable":
            return bool(WORLD.tip()[2] < TABLE_Z)
        return False


class ProximitySensor:
    def __init__(self, name: str) -> None:
        self.name = name

    def is_detected(self, obj: Shape) -> bool:
        return bool(np.linalg.norm(WORLD.tip() - WORLD.objects[obj.name]["pos"]) < 0.03)


class IKError(Exception):
    pass


def _module(name: str, **members: object) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(members)
    return module


@pytest.fixture
def fake_pyrep(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeWorld:
    global WORLD
    WORLD = FakeWorld()
    modules = {
        "pyrep": _module("pyrep", PyRep=PyRep),
        "pyrep.robots": _module("pyrep.robots"),
        "pyrep.robots.arms": _module("pyrep.robots.arms"),
        "pyrep.robots.arms.sawyer": _module("pyrep.robots.arms.sawyer", Sawyer=Sawyer),
        "pyrep.robots.end_effectors": _module("pyrep.robots.end_effectors"),
        "pyrep.robots.end_effectors.baxter_gripper": _module(
            "pyrep.robots.end_effectors.baxter_gripper", BaxterGripper=BaxterGripper
        ),
        "pyrep.objects": _module("pyrep.objects"),
        "pyrep.objects.shape": _module("pyrep.objects.shape", Shape=Shape),
        "pyrep.objects.proximity_sensor": _module(
            "pyrep.objects.proximity_sensor", ProximitySensor=ProximitySensor
        ),
        "pyrep.errors": _module("pyrep.errors", IKError=IKError),
    }
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    scene_file = tmp_path / "sawyer_grasp.ttt"
    scene_file.write_bytes(b"stand-in scene")
    monkeypatch.setenv(SCENE_ENV_VAR, str(scene_file))
    monkeypatch.setenv("COPPELIASIM_ROOT", str(tmp_path))
    return WORLD


def test_missing_pyrep_names_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    scene_file = tmp_path / "s.ttt"
    scene_file.write_bytes(b"x")
    monkeypatch.setenv(SCENE_ENV_VAR, str(scene_file))
    monkeypatch.setitem(sys.modules, "pyrep", None)  # import pyrep -> ImportError
    with pytest.raises(RuntimeError, match=r"github.com/stepjam/PyRep.*") as raised:
        make_scene("pyrep").launch()
    assert "COPPELIASIM_ROOT" in str(raised.value)


def test_missing_scene_file_or_coppeliasim_root(
    fake_pyrep: FakeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    scene_file = os.environ[SCENE_ENV_VAR]
    monkeypatch.delenv(SCENE_ENV_VAR)
    with pytest.raises(RuntimeError, match=SCENE_ENV_VAR):
        PyRepGraspScene().launch()
    with pytest.raises(RuntimeError, match="not found"):
        PyRepGraspScene(scene_file="/nonexistent/scene.ttt").launch()
    monkeypatch.delenv("COPPELIASIM_ROOT")
    with pytest.raises(RuntimeError, match="COPPELIASIM_ROOT is not set"):
        PyRepGraspScene(scene_file=scene_file).launch()


def test_launch_configures_velocity_control(fake_pyrep: FakeWorld) -> None:
    scene = make_scene("pyrep", control_period=0.05, headless=True)
    scene.launch()
    assert fake_pyrep.calls[0][0] == "launch" and fake_pyrep.calls[0][2] is True
    assert ("control_loop", False) in fake_pyrep.calls and ("motor_locked", True) in fake_pyrep.calls
    scene.shutdown()
    assert fake_pyrep.calls[-2:] == [("stop",), ("shutdown",)]


def test_env_on_pyrep_passes_check_env_and_scales_actions(fake_pyrep: FakeWorld) -> None:
    env = GraspEnv(backend="pyrep", max_joint_velocity=0.8)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Box observation space m.*infinity.*")
        check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    np.testing.assert_allclose(obs[:7], HOME_POSTURE)
    assert ("set_joint_positions", True) in fake_pyrep.calls
    assert fake_pyrep.open_amount == 1.0
    np.testing.assert_allclose(obs[14:17], [0.3, 0.0, 1.0])  # the scene's initial target pose
    obs, *_ = env.step(np.array([0.5, -0.5, 1.0, -1.0, 2.0, 0.0, 0.25], dtype=np.float32))
    np.testing.assert_allclose(fake_pyrep.v, [0.4, -0.4, 0.8, -0.8, 0.8, 0.0, 0.2])  # scaled, clamped
    np.testing.assert_allclose(obs[7:14], fake_pyrep.v)
    env.close()


def test_grasp_attempt_lifts_and_succeeds(fake_pyrep: FakeWorld) -> None:
    env = GraspEnv(backend="pyrep")
    env.reset(seed=0)
    target = env.target_pose()[0]
    fake_pyrep.q = HOME_POSTURE + np.linalg.pinv(A) @ (target - HOME_TIP)  # tool on the block
    _, reward, terminated, _, info = env.step(np.zeros(7, dtype=np.float32))
    assert info["grasp_attempt"] and info["success"] and terminated
    assert info["reward_terms"]["grasp"] == 10.0
    assert env.target_pose()[0][2] > target[2] + 0.02  # the stand-in carried it up with the lift
    assert reward == pytest.approx(sum(info["reward_terms"].values()))
    env.close()


def test_table_penalty_and_random_targets_in_the_original_box(fake_pyrep: FakeWorld) -> None:
    env = GraspEnv(backend="pyrep", random_target=True)
    obs, _ = env.reset(seed=3)
    assert 0.10 <= obs[14] <= 0.45 and -0.30 <= obs[15] <= 0.30 and obs[16] == pytest.approx(1.0)
    fake_pyrep.q = HOME_POSTURE + np.linalg.pinv(A) @ (np.array([0.2, 0.25, 0.9]) - HOME_TIP)
    _, _, _, _, info = env.step(np.zeros(7, dtype=np.float32))
    assert info["reward_terms"]["table"] == -1.0
    env.close()


def test_rotated_target_yaw_reaches_the_shape_and_the_symmetric_observation(fake_pyrep: FakeWorld) -> None:
    """With target_yaw_range the drawn yaw is set on the block Shape (orientation [0, 0, yaw]) and read
    back into the symmetric observation (sin/cos of 4 x yaw)."""
    env = GraspEnv(backend="pyrep", random_target=True, target_yaw_range=45.0, observation="symmetric")
    obs, _ = env.reset(seed=3)
    orientation = fake_pyrep.objects["target"]["ori"]
    yaw = env._start_target[1]
    assert 0.0 < abs(yaw) <= math.pi / 4
    np.testing.assert_allclose(orientation, [0.0, 0.0, yaw])
    assert env.target_pose()[1] == pytest.approx(yaw)
    assert obs[27] == pytest.approx(math.sin(4 * yaw), abs=1e-6)
    assert obs[28] == pytest.approx(math.cos(4 * yaw), abs=1e-6)
    env.close()
