"""Property test of the NaN guard: whatever the block, the servos and the actions, a step never returns
a NaN observation or reward, and a blow-up ends the episode with `nan_reset`.

hypothesis (derandomized) draws blocks over and past the grasp table's ranges (mass, edge, friction),
servo stiffness and damping scales from far too soft to far too stiff, both control modes, and a
policy per episode (the scripted grasper, which attempts grasps, random actions, or bang-bang
actions); the episodes run for at least 10,000 env steps in all. Every setting the config accepts must
simulate without a blow-up. Blow-ups come from faults the test injects at a drawn step, where
they happen in real use: a state turned NaN or huge (the sim node's fault injection), a blow-up inside
the grasp attempt, a block mass edited on the compiled model without recomputing its constants (how a
150 g block used to explode), and a reset of a blown-up scene.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import record_figures

from sac_grasp_ros.envs.config import GraspEnvConfig
from sac_grasp_ros.envs.grasp_env import GraspEnv
from sac_grasp_ros.envs.scripted import ScriptedGrasper
from sac_grasp_ros.scene.base import GRAVITY, GRIP_FORCE

EXAMPLES = 90
STEPS_PER_EXAMPLE = 260
"""Joint-velocity examples; an end_position step runs up to 20 control periods, so it gets a tenth."""
MIN_TOTAL_STEPS = 10_000


def log_uniform(low: float, high: float) -> st.SearchStrategy[float]:
    return st.floats(math.log(low), math.log(high)).map(math.exp)


@st.composite
def env_settings(draw: st.DrawFn) -> dict:
    friction = draw(st.floats(0.05, 2.0))
    heaviest = 2.0 * friction * GRIP_FORCE / GRAVITY  # the config refuses a block the grip cannot carry
    return {
        "block_mass": draw(log_uniform(0.005, heaviest)),
        "block_edge": draw(st.floats(0.02, 0.05)),
        "block_friction": friction,
        "servo_gain_scale": draw(st.one_of(log_uniform(0.05, 20.0), log_uniform(1e3, 1e6))),
        "servo_damping_scale": draw(log_uniform(1e-3, 1e3)),
        "control_mode": draw(st.sampled_from(["joint_velocity", "joint_velocity", "end_position"])),
        "reward": draw(st.sampled_from(["original", "shaped"])),
        "observation": draw(st.sampled_from(["original", "extended", "symmetric"])),
        "target_yaw_range": draw(st.sampled_from([0.0, 45.0])),
        "random_target": True,
        "max_episode_steps": draw(st.integers(20, 100)),
    }


FAULTS = ("none", "none", "nan_state", "huge_state", "in_grasp_attempt", "stale_mass", "reset_blown_up")


def inject(env: GraspEnv, fault: str) -> None:
    """Corrupt the running scene the way `fault` names (see the module docstring)."""
    scene = env.scene
    if fault in ("nan_state", "huge_state", "reset_blown_up"):
        scene.data.qvel[:] = np.nan if fault != "huge_state" else 1e12
    elif fault == "stale_mass":
        scene.model.body_mass[scene.model.body("block").id] *= 40.0  # no mj_setConst
    elif fault == "in_grasp_attempt":
        attempt = scene.attempt_grasp

        def blown_up_attempt(lift_height: float) -> bool:
            scene.data.qvel[:] = 1e12
            return attempt(lift_height)

        scene.attempt_grasp = blown_up_attempt


def test_no_step_returns_nan_and_every_blow_up_ends_its_episode() -> None:
    totals = {
        "examples": 0,
        "faults_injected": 0,
        "env_steps": 0,
        "episodes": 0,
        "nan_resets": 0,
        "grasp_attempts": 0,
        "grasps": 0,
    }

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        settings=env_settings(),
        seed=st.integers(0, 2**31 - 1),
        policies=st.lists(st.sampled_from(["scripted", "random", "bang"]), min_size=1, max_size=4),
        fault=st.sampled_from(FAULTS),
        fault_at=st.floats(0.0, 0.9),
    )
    def run(settings: dict, seed: int, policies: list[str], fault: str, fault_at: float) -> None:
        env = GraspEnv(GraspEnvConfig(**settings))
        rng = np.random.default_rng(seed)
        grasper = ScriptedGrasper(env)
        steps = STEPS_PER_EXAMPLE if settings["control_mode"] == "joint_velocity" else STEPS_PER_EXAMPLE // 10
        obs, _ = env.reset(seed=seed)
        episode, nan_resets = 0, 0
        try:
            for step in range(steps):
                if step == int(fault_at * steps) and fault != "none":
                    inject(env, fault)
                    if fault == "reset_blown_up":
                        obs, _ = env.reset()
                        assert np.isfinite(obs).all()
                        assert np.isfinite(env.scene.data.qvel).all()
                policy = policies[episode % len(policies)]
                if policy == "scripted":
                    action = grasper.act(obs)
                elif policy == "random":
                    action = rng.uniform(-1.0, 1.0, env.action_space.shape).astype(np.float32)
                else:
                    action = rng.choice([-1.0, 1.0], env.action_space.shape).astype(np.float32)
                obs, reward, terminated, truncated, info = env.step(action)
                totals["env_steps"] += 1
                assert obs.shape == env.observation_space.shape and obs.dtype == np.float32
                assert np.isfinite(obs).all(), (settings, obs)
                assert math.isfinite(reward)
                assert math.isclose(reward, sum(info["reward_terms"].values()), abs_tol=1e-9)
                if info["nan_reset"]:
                    nan_resets += 1
                    assert terminated and not info["success"] and reward == 0.0
                if info["success"]:
                    totals["grasps"] += 1
                    assert terminated and info["grasp_attempt"]
                totals["grasp_attempts"] += info["grasp_attempt"]
                assert not (terminated and truncated)
                if terminated or truncated:
                    episode += 1
                    totals["episodes"] += 1
                    obs, _ = env.reset()
                    assert np.isfinite(obs).all()
        finally:
            env.close()
        if fault in ("none", "reset_blown_up"):  # what the config accepts simulates without blowing up
            assert nan_resets == 0, settings
        totals["examples"] += 1
        totals["nan_resets"] += nan_resets
        totals["faults_injected"] += fault != "none"

    run()
    record_figures("physics_property", **totals)
    assert totals["env_steps"] >= MIN_TOTAL_STEPS
    # The draw reaches both ends: blow-ups that the guard caught, and grasps that held.
    assert totals["nan_resets"] > 0 and totals["grasps"] > 0
