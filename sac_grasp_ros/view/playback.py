"""`sac-grasp replay FILE --view`: play an MCAP recording (`sac-grasp test --record`, `ros2 bag record
-s mcap`) in the live view's page, at the recorded pace (`--speed`), without a ROS graph.

ROS-free: messages are decoded from the schemas stored in the file (mcap-ros2-support's pure Python
CDR decoder), so any recording of the same topics plays, whoever wrote it. The page gets the same
updates the view node gives it; the curves come from the step topic (one return per finished
episode), since a recording of the workers has no agent topics.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import tyro

from sac_grasp_ros.command_line import parse
from sac_grasp_ros.graph import protocol
from sac_grasp_ros.view.feed import WorkerFeed


def read_messages(path: str | Path) -> Iterator[tuple[int, str, Any]]:
    """(log time in ns, topic, decoded message) of every message, in log-time order."""
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    with open(path, "rb") as file:
        reader = make_reader(file, decoder_factories=[DecoderFactory()])
        for _, channel, message, decoded in reader.iter_decoded_messages(log_time_order=True):
            yield message.log_time, channel.topic, decoded


class Player(WorkerFeed):
    """Feeds decoded messages into a page (view.page.LivePage or anything with its update methods)."""

    def __init__(self, page: Any) -> None:
        super().__init__(page)
        self.returns: dict[str, float] = {}
        self.episodes = 0
        self.successes = 0

    def feed(self, topic: str, msg: Any) -> None:
        worker, _, leaf = topic.rpartition("/")
        worker = worker.strip("/") or "robot"
        if leaf in ("joint_states", "target_pose", "markers"):
            getattr(self, leaf)(worker, msg)
        elif leaf == "step":
            self._on_step(worker, msg)

    def _on_step(self, worker: str, msg: Any) -> None:
        sizes = {d.label: d.size for d in msg.layout.dim}
        if "action" not in sizes or "observation" not in sizes:
            return  # not the protocol's layout: nothing to learn from it
        step = protocol.decode(np.asarray(msg.data), sizes["action"], sizes["observation"])
        self.returns[worker] = 0.0 if step.step == 0 else self.returns.get(worker, 0.0) + step.reward
        if step.terminated or step.truncated:
            self.episodes += 1
            self.successes += bool(step.success)
            self.page.set_env_steps(self.episodes)
            self.page.add_episode(self.returns[worker], self.successes / self.episodes)


def play(path: str | Path, page: Any, speed: float = 1.0, rate_hz: float = 20.0) -> Player:
    """Play the whole file into `page` at `speed` times the recorded pace (0: as fast as possible),
    calling `page.flush()` at most `rate_hz` times a second (and once at the end)."""
    player = Player(page)
    first_log, started, last_flush = None, time.monotonic(), 0.0
    for log_time, topic, msg in read_messages(path):
        if first_log is None:
            first_log = log_time
        if speed > 0:
            due = started + (log_time - first_log) / 1e9 / speed
            if (wait := due - time.monotonic()) > 0:
                time.sleep(wait)
        player.feed(topic, msg)
        if time.monotonic() - last_flush >= 1.0 / rate_hz:
            page.flush()
            last_flush = time.monotonic()
    page.flush()
    return player


@dataclass
class ReplayOptions:
    """Play an MCAP recording in the live view's page (--view), or summarise what it holds."""

    file: Annotated[tyro.conf.Positional[Path], tyro.conf.arg(metavar="FILE")]
    """an MCAP recording"""
    view: bool = False
    """play it in the live view's page"""
    port: int = 8080
    """HTTP port of the page"""
    speed: float = 1.0
    """times the recorded pace (0: no waiting)"""
    loop: bool = False
    """play again and again until interrupted"""


def main(argv: list[str]) -> int:
    args = parse(ReplayOptions, argv, "sac-grasp replay")
    if not args.file.is_file():
        print(f"sac-grasp replay: no file {args.file}", file=sys.stderr)
        return 2
    if not args.view:  # a summary of what the file holds
        counts: dict[str, int] = {}
        try:
            for _, topic, _ in read_messages(args.file):
                counts[topic] = counts.get(topic, 0) + 1
        except Exception as error:  # mcap's errors have no common base: say what the file is not
            print(f"sac-grasp replay: {args.file} is not a readable MCAP recording: {error}", file=sys.stderr)
            return 2
        print(json.dumps({"file": str(args.file), "messages": counts}))
        return 0
    from sac_grasp_ros.view.page import LivePage

    page = LivePage(port=args.port)
    print(f"[replay] playing {args.file} at http://localhost:{page.port}", file=sys.stderr, flush=True)
    try:
        while True:
            player = play(args.file, page, args.speed)
            print(f"[replay] played {player.episodes} episodes", file=sys.stderr, flush=True)
            if not args.loop:
                print("[replay] done; the page stays up until Ctrl-C", file=sys.stderr, flush=True)
                while True:
                    time.sleep(1.0)
    except KeyboardInterrupt:
        return 0
    finally:
        page.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
