"""Env steps/s of GraspEnv against raw `mujoco.mj_step` on the same model with the same substeps.

Both loops replay the same seeded random actions from the same start states, so they simulate the same
trajectories; the ratio env/raw is the share of time the env spends in physics (target: >= 0.90).
Episodes alternate between the two loops one by one, so the noise of other processes on the machine
hits both alike; the ratio is the median over episode pairs of raw time / env time. The first round
checks that both loops end in the same physical state. Prints a human line and a JSON line.

    python bench/env_throughput.py [--steps 2000] [--rounds 3] [--observation original|extended|symmetric]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import mujoco
import numpy as np

from sac_grasp_ros.envs.config import OBSERVATIONS
from sac_grasp_ros.envs.grasp_env import GraspEnv
from sac_grasp_ros.scene.mujoco_model import NAMES

EPISODE_STEPS = 100


def start_state(env: GraspEnv, seed: int) -> tuple[np.ndarray, ...]:
    """Reset the env and return (qpos, qvel, act, ctrl): the raw loop starts from exactly this state."""
    env.reset(seed=seed)
    d = env.scene.data
    return d.qpos.copy(), d.qvel.copy(), d.act.copy(), d.ctrl.copy()


def env_episode(env: GraspEnv, actions: np.ndarray, seed: int) -> tuple[float, int]:
    """Seconds for one episode of env steps (from a seeded reset) and the number of grasp attempts."""
    env.reset(seed=seed)
    attempts = 0
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, _, info = env.step(action)
        attempts += info["grasp_attempt"]
        if terminated:
            break
    return time.perf_counter() - start, attempts


def raw_episode(
    model: mujoco.MjModel,
    data: mujoco.MjData,
    arm_ctrl: slice,
    actions: np.ndarray,
    scale: float,
    substeps: int,
    state: tuple[np.ndarray, ...],
) -> float:
    """Seconds for the same physics: write the ctrl, mj_step(model, data, substeps)."""
    data.qpos[:], data.qvel[:], data.act[:], data.ctrl[:] = state
    mujoco.mj_forward(model, data)
    start = time.perf_counter()
    for action in actions:
        data.ctrl[arm_ctrl] = action * scale
        mujoco.mj_step(model, data, substeps)
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=2000, help="env steps per round (episodes of 100)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--observation", choices=OBSERVATIONS, default="original")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    # Episodes are cut every EPISODE_STEPS in both loops; the env's own limit is set above that.
    env = GraspEnv(observation=args.observation, random_target=True, max_episode_steps=EPISODE_STEPS + 1)
    rng = np.random.default_rng(args.seed)
    # Moderate random actions: the arm wanders without triggering grasp attempts (extra physics).
    actions = (0.5 * rng.uniform(-1.0, 1.0, size=(args.steps, 7))).astype(np.float32)
    episodes = max(1, args.steps // EPISODE_STEPS)
    scene = env.scene
    model = scene.model
    data = mujoco.MjData(model)
    scale = env.config.max_joint_velocity
    first = model.actuator(NAMES.arm_actuators[0]).id  # the scene checks the seven are contiguous
    arm_ctrl = slice(first, first + len(NAMES.arm_actuators))

    # Env and raw episodes alternate one by one, so load from other processes hits both alike.
    env_time = raw_time = 0.0
    pair_ratios: list[float] = []
    attempts = 0
    same_trajectory = True
    for round_index in range(args.rounds):
        for episode in range(episodes):
            seed = args.seed + episode
            chunk = actions[episode * EPISODE_STEPS : (episode + 1) * EPISODE_STEPS]
            state = start_state(env, seed)
            env_first = (round_index + episode) % 2 == 0  # alternate the order: no warm-cache bias
            if not env_first:
                raw_seconds = raw_episode(model, data, arm_ctrl, chunk, scale, scene.substeps, state)
            env_seconds, tried = env_episode(env, chunk, seed)
            env_qpos = env.scene.data.qpos.copy()
            if env_first:
                raw_seconds = raw_episode(model, data, arm_ctrl, chunk, scale, scene.substeps, state)
            env_time += env_seconds
            raw_time += raw_seconds
            pair_ratios.append(raw_seconds / env_seconds)
            attempts += tried
            same_trajectory &= round_index > 0 or bool(np.allclose(env_qpos, data.qpos, atol=1e-9))
    env.close()
    total_steps = args.rounds * episodes * EPISODE_STEPS
    env_rate = total_steps / env_time
    raw_rate = total_steps / raw_time
    ratio = float(np.median(pair_ratios))  # robust to bursts of load from other processes
    print(
        f"env {env_rate:,.0f} steps/s, raw mj_step {raw_rate:,.0f} steps/s ({scene.substeps} substeps each): "
        f"ratio {ratio:.3f} (target >= 0.90); same trajectories: {same_trajectory}, "
        f"grasp attempts: {attempts}"
    )
    print(
        json.dumps(
            {
                "benchmark": "env_throughput",
                "env_steps_per_s": env_rate,
                "raw_steps_per_s": raw_rate,
                "ratio": ratio,
                "same_trajectory": same_trajectory,
                "grasp_attempts": attempts,
                "substeps": scene.substeps,
                "steps": args.steps,
                "rounds": args.rounds,
                "observation": args.observation,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
