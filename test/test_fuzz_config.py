"""Property-based fuzzing of graph config files (what `sac-grasp train --config F` reads first).

hypothesis (derandomized) writes random text, malformed YAML and well-formed YAML with wrong
types, unknown keys and odd values; `graph.spec.load_config` + `build_node_specs` (for every role)
must either produce node specs or raise ValueError with a message, never another exception. The
launcher itself is run on a few of the bad files: exit code 2, one line naming the file, no
traceback, and no node started.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import record_figures

from sac_grasp_ros.graph.spec import ROLES, SECTIONS, build_node_specs, load_config

FUZZ = settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=True), st.text(max_size=12)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
graph_keys = st.sampled_from(
    [
        "num_workers",
        "first_index",
        "worker_prefix",
        "respawn_workers",
        "respawn_delay",
        "respawn_agent",
        "seed",
        "bogus",
    ]
)
param_keys = st.sampled_from(
    ["max_joint_velocity", "control_mode", "seed", "step_mode", "workers", "sac", "x"]
)
section = st.one_of(
    values,
    st.fixed_dictionaries(
        {"ros__parameters": st.one_of(values, st.dictionaries(param_keys, values, max_size=4))}
    ),
)
configs = st.one_of(
    values,
    st.dictionaries(
        st.sampled_from([*SECTIONS, "unknown"]),
        st.one_of(st.dictionaries(graph_keys, values, max_size=5), section),
        max_size=4,
    ),
)


def _check(path: Path, counts: dict[str, int]) -> None:
    counts["tried"] += 1
    try:
        config = load_config(path)
        for role in ROLES:
            build_node_specs(config, role)
    except ValueError as error:
        assert str(error), "an error without a message"
        counts["refused"] += 1
    else:
        counts["accepted"] += 1


def test_random_and_malformed_yaml_gives_value_error_or_specs(tmp_path: Path):
    path = tmp_path / "config.yaml"
    text_counts = {"tried": 0, "refused": 0, "accepted": 0}
    yaml_counts = {"tried": 0, "refused": 0, "accepted": 0}

    @FUZZ
    @given(text=st.one_of(st.text(max_size=200), st.binary(max_size=200)))
    def random_text(text) -> None:
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        _check(path, text_counts)

    @FUZZ
    @given(config=configs)
    def structured(config) -> None:
        path.write_text(yaml.safe_dump(config))
        _check(path, yaml_counts)

    random_text()
    structured()
    _check(tmp_path, text_counts)  # a directory instead of a file
    _check(tmp_path / "missing.yaml", text_counts)
    assert yaml_counts["refused"] > 0 and yaml_counts["accepted"] > 0  # both outcomes were exercised
    record_figures("fuzz_config_files", random_text=text_counts, structured_yaml=yaml_counts)


@pytest.mark.parametrize(
    "content",
    [
        "graph: [1, 2",  # malformed YAML
        "graph:\n  num_workers: two\n",
        "graph:\n  respawn_delay: soon\n",
        "graph:\n  seed: [1]\n",
        "sim_node:\n  ros__parameters:\n    max_joint_velocity: fast\n",
        "surprise: {}\n",
    ],
)
def test_launcher_refuses_bad_config_with_one_line_and_no_traceback(content: str, tmp_path: Path):
    config = tmp_path / "bad.yaml"
    config.write_text(content)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "sac_grasp_ros.cli",
            "train",
            "--config",
            str(config),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr and str(config) in run.stderr, run.stderr
    assert not (tmp_path / "o" / "logs").exists()  # nothing was started
