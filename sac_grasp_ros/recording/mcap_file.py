"""MCAP recordings of ROS 2 topics, as `ros2 bag record -s mcap` writes them (profile ros2, schemas
in ros2msg encoding, messages CDR-serialized), so `ros2 bag`, Foxglove and `rosbags` read them.

ROS-free: messages arrive already serialized (an rclpy subscription with raw=True hands over the CDR
bytes as they travelled), and the schemas are the message definitions installed with the message
packages (`share/<package>/msg/<Type>.msg`), joined with their dependencies the way rosbag2 does.
Writing needs only the `mcap` package (22 KB wheel).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from pathlib import Path
from typing import IO

from sac_grasp_ros.atomic import atomic_path

PROFILE = "ros2"
SCHEMA_ENCODING = "ros2msg"
MESSAGE_ENCODING = "cdr"
SEPARATOR = "=" * 80
PRIMITIVES = {
    "bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32", "uint32",
    "int64", "uint64", "string", "wstring",
}  # fmt: skip


def share_directories() -> list[Path]:
    """Where message packages install their definitions: AMENT_PREFIX_PATH entries, then this venv."""
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    return [Path(p) / "share" for p in [*prefixes, sys.prefix]]


def message_file(package: str, name: str) -> Path:
    for share in share_directories():
        candidate = share / package / "msg" / f"{name}.msg"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"no definition of {package}/msg/{name} under {[str(s) for s in share_directories()]} "
        "(is the message package installed?)"
    )


def _field_types(text: str, package: str) -> list[str]:
    """The non-primitive types ("pkg/Type") the fields of a .msg text refer to, in order."""
    found = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        kind = line.split()[0]  # constants (NAME=value) are of primitive types: skipped below
        kind = re.sub(r"\[.*\]$", "", kind)  # arrays: T[], T[3], T[<=3]
        kind = re.sub(r"<=\d+$", "", kind)  # bounded strings
        if kind in PRIMITIVES:
            continue
        if "/" not in kind:
            kind = f"{package}/{kind}"
        package_name, _, type_name = kind.rpartition("/")
        found.append(f"{package_name.split('/')[0]}/{type_name}")
    return found


def message_definition(type_name: str) -> str:
    """The ros2msg schema of `type_name` ("sensor_msgs/msg/JointState"): its .msg text, then each type
    it uses (depth first, once) after a separator line and `MSG: pkg/Type`, as rosbag2 writes it."""
    package, _, name = type_name.partition("/msg/")
    if not package or not name:
        raise ValueError(f"message type must look like 'pkg/msg/Type', got {type_name!r}")
    main = message_file(package, name).read_text()
    parts, seen = [main.rstrip("\n")], set()
    pending = _field_types(main, package)
    while pending:
        dependency = pending.pop(0)
        if dependency in seen:
            continue
        seen.add(dependency)
        dep_package, _, dep_name = dependency.partition("/")
        text = message_file(dep_package, dep_name).read_text()
        parts.append(f"{SEPARATOR}\nMSG: {dependency}\n{text.rstrip(chr(10))}")
        pending = _field_types(text, dep_package) + pending
    return "\n".join(parts) + "\n"


class McapRecording:
    """An MCAP file being written: channels registered on first use; the file appears, complete, at
    `close()` (written under a temporary name until then: a killed recorder leaves no half file)."""

    def __init__(self, path: str | Path, library: str = "sac_grasp_ros") -> None:
        from mcap.writer import CompressionType, Writer

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._finishing = contextlib.ExitStack()  # atomic_path's exit, taken at close()
        temporary = self._finishing.enter_context(atomic_path(self.path))
        self._file: IO[bytes] = open(temporary, "wb")  # noqa: SIM115 - closed in close()
        self._writer = Writer(self._file, compression=CompressionType.ZSTD)
        self._writer.start(profile=PROFILE, library=library)
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, int] = {}
        self._sequence = 0
        self.counts: dict[str, int] = {}

    def add(
        self, topic: str, type_name: str, data: bytes, log_time_ns: int, publish_time_ns: int = 0
    ) -> None:
        """One serialized message (CDR, as received) on `topic` of `type_name` ("pkg/msg/Type")."""
        channel = self._channels.get(topic)
        if channel is None:
            schema = self._schemas.get(type_name)
            if schema is None:
                schema = self._writer.register_schema(
                    name=type_name, encoding=SCHEMA_ENCODING, data=message_definition(type_name).encode()
                )
                self._schemas[type_name] = schema
            channel = self._writer.register_channel(
                topic=topic, message_encoding=MESSAGE_ENCODING, schema_id=schema
            )
            self._channels[topic] = channel
        self._sequence += 1
        self._writer.add_message(
            channel_id=channel,
            log_time=log_time_ns,
            publish_time=publish_time_ns or log_time_ns,
            data=data,
            sequence=self._sequence,
        )
        self.counts[topic] = self.counts.get(topic, 0) + 1

    def close(self) -> Path:
        """Finish the file (summary, index) and move it to its name (atomic_path: synced, renamed;
        the temporary file removed if finishing fails)."""
        with self._finishing:
            try:
                self._writer.finish()
            finally:
                self._file.close()
        return self.path
