"""MCAP recordings: `sac-grasp test --record DIR` runs a real graph (recorder node, one simulator, the
agent evaluating the shipped policy) and the file is read back with `rosbags` (a test dependency the
package does not write with), from the schemas stored in the file itself."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from browser import free_port
from cli_helpers import run_sac_grasp_test
from rosbags.highlevel import AnyReader

from sac_grasp_ros import paths
from sac_grasp_ros.graph import protocol
from sac_grasp_ros.graph.arguments import RECORDING_FILE
from sac_grasp_ros.nodes.common import STEP_QOS
from sac_grasp_ros.paths import SHIPPED_POLICY
from sac_grasp_ros.recording.mcap_file import message_definition
from sac_grasp_ros.view.page import LivePage
from sac_grasp_ros.view.playback import play

EXPECTED_TYPES = {
    "/worker_0/step": "std_msgs/msg/Float64MultiArray",
    "/worker_0/joint_states": "sensor_msgs/msg/JointState",
    "/worker_0/markers": "visualization_msgs/msg/MarkerArray",
    "/worker_0/target_pose": "geometry_msgs/msg/PoseStamped",
}


def test_schema_lists_every_nested_type_once() -> None:
    text = message_definition("visualization_msgs/msg/MarkerArray")
    headers = [line for line in text.splitlines() if line.startswith("MSG: ")]
    assert headers[0] == "MSG: visualization_msgs/Marker"
    assert len(headers) == len(set(headers))
    assert {"MSG: std_msgs/Header", "MSG: builtin_interfaces/Time", "MSG: geometry_msgs/Pose"} <= set(headers)
    with pytest.raises(ValueError, match="pkg/msg/Type"):
        message_definition("JointState")
    with pytest.raises(FileNotFoundError, match="no_such_msgs/msg/Thing"):
        message_definition("no_such_msgs/msg/Thing")


def test_sac_grasp_test_record_reads_back_with_rosbags(ros_env: dict[str, str], tmp_path: Path) -> None:
    episodes = 2
    out = tmp_path / "bags"
    result = run_sac_grasp_test(ros_env, tmp_path / "test", 9, episodes, "--record", str(out))
    assert result.returncode == 0, result.stderr[-4000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    path = out / RECORDING_FILE
    assert path.is_file(), sorted(p.name for p in out.iterdir()) if out.exists() else "no output directory"

    with AnyReader([path]) as reader:
        assert {c.topic: c.msgtype for c in reader.connections} == EXPECTED_TYPES
        messages: dict[str, list] = {topic: [] for topic in EXPECTED_TYPES}
        for connection, _, raw in reader.messages():
            messages[connection.topic].append(reader.deserialize(raw, connection.msgtype))
        counts = {c.topic: c.msgcount for c in reader.connections}
    assert {topic: len(items) for topic, items in messages.items()} == counts

    # The step messages keep the protocol's labelled layout; decoded, they form whole episodes.
    steps = messages["/worker_0/step"]
    labels = [d.label for d in steps[0].layout.dim]
    assert labels[:3] == ["session", "episode", "step"], labels
    shipped = json.loads((paths.models_dir() / SHIPPED_POLICY / "checkpoint.json").read_text())
    act_dim, obs_dim = shipped["act_dim"], shipped["obs_dim"]  # what the shipped policy's workers send
    decoded = [protocol.decode(np.asarray(m.data), act_dim, obs_dim) for m in steps]
    ended = [m for m in decoded if m.terminated or m.truncated]
    assert len(ended) >= episodes
    lengths = [m.step for m in ended]
    windows = [np.mean(lengths[i : i + episodes]) for i in range(len(lengths) - episodes + 1)]
    assert any(w == pytest.approx(summary["mean_length"]) for w in windows), (lengths, summary)
    for end in ended:  # every step of a recorded episode is there, once
        seen = sorted(m.step for m in decoded if (m.session, m.episode) == (end.session, end.episode))
        assert seen == list(range(seen[0], end.step + 1)), (end.episode, seen[:5])

    # One JointState per step (test.yaml: joint_states_every 1): 7 arm joints, then the two fingers.
    # The step topic is transient-local: a recorder that matched late also got up to STEP_QOS.depth
    # earlier step messages, whose joint states (volatile) were gone.
    joints = messages["/worker_0/joint_states"]
    assert len(steps) - STEP_QOS.depth <= len(joints) <= len(steps), (len(joints), len(steps))
    assert list(joints[0].name[:7]) == [f"right_j{i}" for i in range(7)] and len(joints[0].position) == 9
    moved = np.ptp(np.array([m.position[:7] for m in joints]), axis=0)
    assert moved.max() > 0.1, "the arm never moved in the recording"
    cubes = [k for m in messages["/worker_0/markers"] for k in m.markers if k.type == 1]  # CUBE: the block
    assert cubes and all(abs(c.scale.x - 0.04) < 1e-9 for c in cubes)
    assert abs(len(messages["/worker_0/target_pose"]) - len(joints)) <= 5  # same steps; matched apart

    # `sac-grasp replay FILE --view` plays the same file into the live view's page (decoded by
    # mcap-ros2-support from the file's own schemas): it ends at the last recorded pose, with one
    # curve point per finished episode carrying that episode's return.
    page = LivePage(host="127.0.0.1", port=free_port())
    try:
        player = play(path, page, speed=0.0)
    finally:
        page.close()
    assert player.episodes == len(ended)
    assert page.workers["worker_0"].joint_positions == pytest.approx(list(joints[-1].position))
    returns = []
    for end in ended:
        rewards = [m.reward for m in decoded if (m.session, m.episode) == (end.session, end.episode)]
        returns.append(sum(rewards[1:]) if seen_from_start(decoded, end) else None)
    for expected, played in zip(returns, page.curves.episode_returns, strict=True):
        if expected is not None:
            assert played == pytest.approx(expected)


def seen_from_start(decoded: list, end: protocol.StepMessage) -> bool:
    """Whether the recording holds the episode's step 0 (the recorder may join mid-episode)."""
    return any((m.session, m.episode, m.step) == (end.session, end.episode, 0) for m in decoded)
