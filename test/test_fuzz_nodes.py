"""Property-based fuzzing of running nodes: command topic, services and parameters.

Real processes (sim_node, agent_node) in their own ROS domain; hypothesis (derandomized) draws the
inputs, few enough for CI. What it proves:
- commands of any length with NaN/inf/huge values: the simulator refuses the malformed ones (one
  logged rejection each, no step), clamps and steps on the valid ones, and still steps afterwards;
- /train with random bools answers every call; /load with random bad checkpoint paths (set via the
  checkpoint_dir parameter) is refused with a reason naming the path; the agent keeps serving;
- set_parameters with random names, types and values on both nodes: each is applied or refused
  with a reason; both nodes stay up and working.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import record_figures, set_parameters, sim_parameters, small_agent, wait_for

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip("rclpy", reason="rclpy (ros-rclpy wheels) is not installed")

from std_msgs.msg import Float64MultiArray  # noqa: E402
from std_srvs.srv import SetBool, Trigger  # noqa: E402

from sac_grasp_ros.graph import protocol  # noqa: E402
from sac_grasp_ros.nodes.common import COMMAND_QOS, STEP_QOS  # noqa: E402

ACT, OBS = 7, 17


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


special = st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 1e10, 0.0, 5e-324])
commands = st.one_of(
    st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), special), max_size=12),
    st.lists(
        st.floats(allow_nan=False, allow_infinity=False), min_size=ACT, max_size=ACT
    ),  # valid, often huge
    st.lists(st.one_of(st.floats(-2, 2), special), min_size=ACT, max_size=ACT),
)


def test_fuzzed_commands_are_rejected_or_clamped_and_the_simulator_keeps_stepping(start_node, ros_client):
    sim = start_node("sim_node", "/fz", sim_parameters(seed=0, max_episode_steps=1000))
    steps: list[protocol.StepMessage] = []
    node = ros_client.node
    node.create_subscription(
        Float64MultiArray, "/fz/step", lambda m: steps.append(protocol.decode(m.data, ACT, OBS)), STEP_QOS
    )
    publisher = node.create_publisher(Float64MultiArray, "/fz/velocity_controller/commands", COMMAND_QOS)
    ros_client.spin_until(lambda: publisher.get_subscription_count() > 0 and steps, 60, "the simulator")
    counts = {"tried": 0, "valid": 0, "rejected": 0}

    @fuzz(60)
    @given(command=commands)
    def send(command: list[float]) -> None:
        counts["tried"] += 1
        before = len(steps)
        publisher.publish(Float64MultiArray(data=command))
        valid = len(command) == ACT and all(math.isfinite(v) for v in command)
        if valid:
            counts["valid"] += 1
            ros_client.spin_until(lambda: len(steps) > before, 20, "the step of a valid command")
            applied = steps[-1].action
            np.testing.assert_allclose(applied, np.clip(command, -1.0, 1.0), atol=1e-6)  # clamped to 1 rad/s
        else:
            counts["rejected"] += 1
            ros_client.spin_for(0.03)
            assert len(steps) == before, f"a step was taken for {command}"
        assert sim.alive(), sim.log()

    send()
    before = len(steps)
    publisher.publish(Float64MultiArray(data=[0.1] * ACT))
    ros_client.spin_until(lambda: len(steps) > before, 20, "a valid command after the fuzzing")
    wait_for(lambda: sim.log().count("rejected command") >= counts["rejected"], 10, "the rejection log lines")
    assert sim.log().count("rejected command") == counts["rejected"]
    assert counts["valid"] > 0 and counts["rejected"] > 0
    assert sim.stop() == 0, sim.log()
    record_figures("fuzz_command_topic", **counts)


parameter_values = st.one_of(
    st.floats(-1.0, 5.0),  # plausible values too, so that some are applied
    st.integers(-3, 50),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20).filter(lambda t: "\x00" not in t),
    st.lists(st.integers(-(2**31), 2**31), max_size=3),
    st.lists(st.floats(allow_nan=True), max_size=3),
    st.lists(st.text(max_size=5).filter(lambda t: "\x00" not in t), max_size=3),
    st.lists(st.booleans(), max_size=3),
)
# Values of the right type (in and out of range) per run-time parameter, so some changes get applied.
TYPED = {
    "watchdog_timeout": st.floats(-1.0, 2.0),
    "markers_every": st.integers(-2, 20),
    "joint_states_every": st.integers(-2, 20),
    "eval_episodes": st.integers(-2, 20),
    "checkpoint_every": st.integers(-2, 1000),
    "save_buffer": st.booleans(),
    "progress_every": st.integers(-2, 500),
    "max_updates_per_loop": st.integers(-2, 8),
    "eval_timeout": st.floats(-1.0, 1000.0),
}
SIM_PARAMETERS = [
    "watchdog_timeout", "markers_every", "joint_states_every", "step_mode", "backend", "seed",
    "max_joint_velocity", "record_steps", "fault_injection", "no_such_parameter",
]  # fmt: skip
AGENT_PARAMETERS = [
    "eval_episodes", "checkpoint_every", "save_buffer", "progress_every",
    "max_updates_per_loop", "eval_timeout", "learning", "seed", "sac.batch_size", "workers", "resume", "nope",
]  # fmt: skip


def test_fuzzed_services_and_parameters_are_answered_and_the_nodes_stay_up(start_node, ros_client, tmp_path):
    sim = start_node("sim_node", "/worker_0", sim_parameters(seed=0))
    agent = start_node(
        "agent_node", "/", small_agent(workers=["worker_0"], checkpoint_dir=str(tmp_path / "ck"))
    )
    counts = {
        "train_calls": 0,
        "load_bad_paths": 0,
        "sim_parameters": {"tried": 0, "applied": 0, "refused": 0},
        "agent_parameters": {"tried": 0, "applied": 0, "refused": 0},
    }

    @fuzz(10)
    @given(switches=st.lists(st.booleans(), min_size=1, max_size=4))
    def train(switches: list[bool]) -> None:
        for on in switches:
            reply = ros_client.call(SetBool, "/train", SetBool.Request(data=on))
            counts["train_calls"] += 1
            assert reply.success and ("on" if on else "off") in reply.message

    @fuzz(20)
    @given(
        path=st.one_of(
            st.text(max_size=30).filter(lambda t: "\x00" not in t),
            st.sampled_from(["/", "/proc/self", "/dev/null", str(tmp_path), "/nonexistent/x"]),
        )
    )
    def load(path: str) -> None:
        assert set_parameters(ros_client, "/agent_node", checkpoint_dir=path)[0].successful
        reply = ros_client.call(Trigger, "/load")
        counts["load_bad_paths"] += 1
        assert not reply.success and "load from" in reply.message, reply.message
        assert agent.alive(), agent.log()

    def fuzz_parameters(node: str, names: list[str], key: str, process) -> None:
        @fuzz(40)
        @given(data=st.data())
        def check(data) -> None:
            name = data.draw(st.sampled_from(names), label="name")
            value = data.draw(st.one_of(TYPED.get(name, parameter_values), parameter_values), label="value")
            (result,) = set_parameters(ros_client, node, **{name: value})
            counts[key]["tried"] += 1
            if result.successful:
                counts[key]["applied"] += 1
            else:
                counts[key]["refused"] += 1
                assert result.reason, f"{name}={value!r} refused without a reason"
            assert process.alive(), process.log()

        check()

    train()
    # Learning off while parameters are fuzzed: no periodic checkpoint may land in a fuzzed directory.
    assert ros_client.call(SetBool, "/train", SetBool.Request(data=False)).success
    load()
    assert set_parameters(ros_client, "/agent_node", checkpoint_dir=str(tmp_path / "ck"))[0].successful
    fuzz_parameters("/worker_0/sim_node", SIM_PARAMETERS, "sim_parameters", sim)
    fuzz_parameters("/agent_node", AGENT_PARAMETERS, "agent_parameters", agent)
    # Both still work: sane settings back, the agent trains the worker.
    set_parameters(
        ros_client, "/worker_0/sim_node", watchdog_timeout=0.5, markers_every=0, joint_states_every=0
    )
    set_parameters(ros_client, "/agent_node", checkpoint_dir=str(tmp_path / "ck"), max_updates_per_loop=1)
    set_parameters(ros_client, "/agent_node", progress_every=10, eval_episodes=1, eval_timeout=120.0)
    assert ros_client.call(SetBool, "/train", SetBool.Request(data=True)).success
    result = ros_client.call(Trigger, "/evaluate", timeout=150)
    assert result.success, result.message
    assert ros_client.call(Trigger, "/save", timeout=60).success
    for sub in ("sim_parameters", "agent_parameters"):
        assert counts[sub]["refused"] > 0 and counts[sub]["applied"] > 0, counts
    assert sim.stop() == 0, sim.log()
    assert agent.stop() == 0, agent.log()
    record_figures("fuzz_services_and_parameters", **counts)


header_values = st.one_of(
    st.integers(-5, 2**31).map(float), st.sampled_from([math.nan, math.inf, -1.0, 1e300])
)
step_values = st.one_of(st.floats(allow_nan=True, allow_infinity=True), special, st.floats(-5, 5))


@st.composite
def step_messages(draw) -> list[tuple[dict[str, int], list[float]]]:
    """A layout (labels -> sizes) and data: right or wrong sizes, missing labels, bad keys, bad values."""
    sizes = draw(
        st.one_of(
            st.just({"action": ACT, "observation": OBS}),
            st.fixed_dictionaries({"action": st.integers(0, 30), "observation": st.integers(0, 30)}),
            st.dictionaries(st.sampled_from(["action", "observation", "x"]), st.integers(0, 30), max_size=2),
        )
    )
    # Known limit, not fuzzed: the first well-formed message fixes the agent's (act, obs) dims, so a
    # well-formed message of another shape that arrives before any worker's would win.
    if sizes.get("action", 0) + sizes.get("observation", 0) == ACT + OBS and sizes != {
        "action": ACT,
        "observation": OBS,
    }:
        sizes = {"action": ACT, "observation": OBS}
    length = draw(st.one_of(st.just(protocol.HEADER_SIZE + ACT + OBS), st.integers(0, 40)))
    key = draw(st.lists(header_values, min_size=3, max_size=3))
    body = draw(st.lists(step_values, min_size=max(0, length - 3), max_size=max(0, length - 3)))
    first = (key + body)[:length]
    if not draw(st.booleans()) or len(first) < 3:
        return [(sizes, first)]
    # A follow-up step of the same episode: the pair would complete a transition if both decoded.
    follow = draw(st.lists(step_values, min_size=len(first) - 3, max_size=len(first) - 3))
    return [(sizes, first), (sizes, [first[0], first[1], first[2] + 1, *follow])]


def test_fuzzed_step_messages_never_crash_the_agent_nor_reach_its_buffer(start_node, ros_client, tmp_path):
    """Garbage on a worker's step topic (as from a faulty or foreign simulator): the agent logs and
    ignores it, stays up, and then trains normally with a real worker; its buffer holds only finite rows."""
    from std_msgs.msg import Int64, MultiArrayDimension, MultiArrayLayout

    checkpoint = tmp_path / "ck"
    agent = start_node("agent_node", "/", small_agent(workers=["worker_0"], checkpoint_dir=str(checkpoint)))
    publisher = ros_client.node.create_publisher(Float64MultiArray, "/worker_0/step", STEP_QOS)
    ros_client.spin_until(lambda: publisher.get_subscription_count() > 0, 60, "the agent's step subscription")
    counts = {"tried": 0}

    @fuzz(80)
    @given(messages=step_messages())
    def send(messages) -> None:
        for sizes, data in messages:
            dims = [MultiArrayDimension(label=label, size=size, stride=size) for label, size in sizes.items()]
            publisher.publish(Float64MultiArray(layout=MultiArrayLayout(dim=dims), data=data))
            counts["tried"] += 1
        ros_client.spin_for(0.02)
        assert agent.alive(), agent.log()

    send()
    ros_client.spin_for(1.0)
    assert agent.alive(), agent.log()
    ros_client.node.destroy_publisher(publisher)
    sim = start_node("sim_node", "/worker_0", sim_parameters(seed=0))
    env_steps = [0]
    ros_client.node.create_subscription(
        Int64, "/agent_node/env_steps", lambda m: env_steps.__setitem__(0, m.data), 10
    )
    ros_client.spin_until(lambda: env_steps[0] >= 100, 120, f"training after the garbage ({agent.log_path})")
    assert ros_client.call(Trigger, "/save", timeout=60).success
    with np.load(checkpoint / "buffer.npz", allow_pickle=False) as data:
        assert all(np.isfinite(data[name]).all() for name in ("obs", "actions", "rewards", "next_obs"))
    ignored = agent.log().count("ignored a step message")
    assert ignored > 0
    assert sim.stop() == 0 and agent.stop() == 0, agent.log()
    record_figures("fuzz_step_topic", tried=counts["tried"], ignored_with_a_logged_reason=ignored)


@settings(max_examples=500, deadline=None, derandomize=True)
@given(
    data=st.one_of(
        st.lists(st.one_of(step_values, header_values), max_size=40),
        st.lists(st.one_of(st.floats(-10, 10), step_values), min_size=32, max_size=32),  # the right length
    )
)
def test_decode_accepts_only_finite_float32_steps(data):
    """The decoder's contract, in-process: a StepMessage whose every number fits a float32 replay row,
    or ValueError with a message."""
    try:
        step = protocol.decode(data, ACT, OBS)
    except ValueError as error:
        assert str(error)
    else:
        for values in (step.action, step.observation, np.float32([step.reward])):
            assert np.isfinite(values).all()
