"""The `sac-grasp` command line: every verb's options come from a typed dataclass (tyro), so `--help`
lists each option and the choices of each choice field, a bad option ends with status 2 naming it, and
every command the README and docs show still parses. In this process, through the entry function."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from sac_grasp_ros import cli, launcher
from sac_grasp_ros.command_line import option_value, parse
from sac_grasp_ros.envs.rollout import RolloutOptions
from sac_grasp_ros.evaluate import EvaluateOptions
from sac_grasp_ros.export import ExportOptions
from sac_grasp_ros.graph.prepare import RecordDemosOptions
from sac_grasp_ros.nodes.view_command import ViewOptions
from sac_grasp_ros.robustness import RobustnessOptions
from sac_grasp_ros.training import cli as in_process
from sac_grasp_ros.video import VideoOptions
from sac_grasp_ros.view.playback import ReplayOptions

ROOT = Path(__file__).resolve().parent.parent

HELP: dict[tuple[str, ...], tuple[str, ...]] = {
    ("train",): ("--step-mode {lockstep,realtime}", "--quick", "--progress, --no-progress", "--seed INT"),
    ("test",): ("--step-mode {lockstep,realtime}", "--policy STR", "--eval-episodes INT", "--record DIR"),
    ("worker",): ("--step-mode {lockstep,realtime}", "--first-index INT", "--num-workers INT"),
    ("deploy",): ("--step-mode {lockstep,realtime}", "--command-topic STR", "--episodes INT"),
    ("train", "--in-process"): (
        "--sim.observation {original,extended,symmetric}",
        "--on-finish {idle,exit,evaluate_and_exit}",
        "--sac.critic {sac,crossq}",
        "--total-steps INT",
    ),
    ("rollout",): (
        "--policy {scripted,random}",
        "--observation {original,extended,symmetric}",
        "--reward {original,shaped}",
        "--backend {mujoco,pyrep}",
    ),
    ("record-demos",): ("OUT", "--episodes INT", "--config STR"),
    ("export",): ("--policy PATH", "--env-config PATH"),
    ("evaluate",): ("--policy STR", "--grid NX NY", "--yaw-range FLOAT"),
    ("robustness",): ("--policy STR", "--reference, --no-reference", "--conditions PATH"),
    ("view",): ("--port INT", "--domain-id INT", "--localhost, --no-localhost"),
    ("replay",): ("FILE", "--view, --no-view", "--speed FLOAT"),
    ("video",): ("--policy STR", "--max-episode-steps INT"),
}
"""What each verb's --help shows: options and, where the verb has choice fields, their choices."""

REQUIRED = {"record-demos": ["out.npz"], "replay": ["file.mcap"], "export": ["--policy", "p"]}
REQUIRED |= {"evaluate": ["--policy", "p"], "robustness": ["--policy", "p"]}
"""The arguments a verb needs before a bad option is the first thing wrong"""

OPTIONS = {
    "record-demos": RecordDemosOptions, "rollout": RolloutOptions, "export": ExportOptions,
    "evaluate": EvaluateOptions, "robustness": RobustnessOptions, "view": ViewOptions,
    "replay": ReplayOptions, "video": VideoOptions,
}  # fmt: skip
"""The options dataclass of each verb outside the launcher"""


def test_every_verb_is_covered() -> None:
    verbs = {verb[0] for verb in HELP}
    assert verbs == set(cli.SUBCOMMANDS)
    assert set(OPTIONS) == {verb for verb, (module, _) in cli.SUBCOMMANDS.items() if module != cli.LAUNCHER}


@pytest.mark.parametrize("verb", list(HELP), ids=" ".join)
def test_help_lists_the_options_and_their_choices(verb, capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "160")  # one option a line
    with pytest.raises(SystemExit) as exited:
        cli.main([*verb, "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert f"usage: sac-grasp {' '.join(verb)}" in text
    for wanted in HELP[verb]:
        assert wanted in text, (wanted, text)
    if verb != ("train", "--in-process"):  # there None is a value, as in the config files
        assert "(default: None)" not in text and "{None" not in text  # unset options say what they mean


@pytest.mark.parametrize("verb", list(HELP), ids=" ".join)
def test_a_bad_option_ends_with_status_2_and_its_name(verb, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main([*verb, *REQUIRED.get(verb[0], []), "--no-such-option", "1"])
    assert exited.value.code == 2
    assert "--no-such-option" in capsys.readouterr().err


def test_a_bad_choice_is_refused_with_the_choices(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["rollout", "--observation", "pixels"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "pixels" in err and "symmetric" in err
    with pytest.raises(SystemExit) as exited:
        launcher.parse_args(["test", "--step-mode", "None"])  # None is no value on the command line
    assert exited.value.code == 2


def test_checks_after_parsing_end_with_status_2(capsys) -> None:
    for argv, message in (
        (["train", "--domain-id", "300"], "--domain-id must be in 0..232, got 300"),
        (["deploy", "--episodes", "-1"], "--episodes must be >= 0, got -1"),
        (["view", "--domain-id", "233"], "--domain-id must be in 0..232, got 233"),
        (["rollout", "--episodes", "-1"], "--episodes must be >= 0"),
    ):
        with pytest.raises(SystemExit) as exited:
            cli.main(argv)
        assert exited.value.code == 2
        assert message in capsys.readouterr().err


def test_the_options_are_typed_and_the_flags_come_in_pairs() -> None:
    train = launcher.parse_args(["train", "--no-progress", "--step-mode", "realtime", "--view-port=9000"])
    assert (train.progress, train.step_mode, train.view_port) == (False, "realtime", 9000)
    assert train.role == "train"
    assert train.config.endswith("train.yaml") and train.seed is None  # not given: as the config says
    robustness = parse(RobustnessOptions, ["--policy", "p", "--no-reference", "--grid", "3", "2"], "r")
    assert (robustness.reference, robustness.grid) == (False, (3, 2))
    demos = parse(RecordDemosOptions, ["--episodes", "2", "d.npz"], "record-demos")
    assert (demos.out, demos.episodes, demos.seed) == ("d.npz", 2, None)


def test_option_value_finds_the_last_spelling() -> None:
    assert option_value(["--config", "a.yaml", "--seed", "1"], "--config") == "a.yaml"
    assert option_value(["--config=a.yaml", "--config", "b.yaml"], "--config") == "b.yaml"
    assert option_value(["--configs", "a", "--config"], "--config") is None


def documented_commands() -> list[str]:
    """Every `sac-grasp ...` line in a code block of README.md and docs/ (comments cut off)."""
    commands = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        fenced = False
        for line in path.read_text().splitlines():
            if line.lstrip().startswith("```"):
                fenced = not fenced
            elif fenced and (found := re.search(r"sac-grasp (.*)", line)):
                commands.append(found.group(1).split("#")[0].strip())
    return commands


def test_the_documented_commands_parse(monkeypatch) -> None:
    commands = documented_commands()
    assert len(commands) >= 20 and {shlex.split(c)[0] for c in commands} >= set(cli.SUBCOMMANDS) - {"video"}
    monkeypatch.chdir(ROOT)  # their paths are relative to the checkout
    for command in commands:
        verb, *argv = shlex.split(command)
        if "--help" in argv:
            continue
        if verb in ROLES_OF_LAUNCHER and "--in-process" in argv:
            argv.remove("--in-process")
            in_process.parse(argv)
        elif verb in ROLES_OF_LAUNCHER:
            launcher.parse_args([verb, *argv])
        else:
            parse(OPTIONS[verb], argv, f"sac-grasp {verb}")


ROLES_OF_LAUNCHER = {verb for verb, (module, _) in cli.SUBCOMMANDS.items() if module == cli.LAUNCHER}
