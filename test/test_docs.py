"""The documentation stays true: generated parts are current, cited paths exist, and the product
speaks of itself, not of how it was developed."""

from __future__ import annotations

import ast
import functools
import importlib.util
import os
import re
import sys
from collections.abc import Collection
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [
    ROOT / "README.md",
    ROOT / "CHANGELOG.md",
    ROOT / "RELIABILITY.md",
    *sorted((ROOT / "docs").glob("*.md")),
]
DOCS += sorted((ROOT / "models").glob("*/README.md"))
PRODUCT_GLOBS = [
    "README.md", "CHANGELOG.md", "RELIABILITY.md", "docs/*.md", "models/*/README.md", "sac_grasp_ros/**/*.py",
    "config/*", "launch/*.py", "bench/*.py", "bench/*.sh", "scripts/*", "test/*.py", "setup.py", "setup.cfg",
    "pyproject.toml", "package.xml", "requirements*.txt",
]  # fmt: skip
"""Everything a user reads: documentation, code and its comments, configs, benchmarks, tests."""

DEVELOPMENT_WORDS = re.compile(
    r"\bsessions? \d"  # "session 5": a stage of the development, not a worker's process session
    r"|\b(?:this|that|one|each|a later|the next) session\b"
    r"|\bissues? \d+"  # "issue 14"
    r"|\b(?:this|the|that) issue\b|\bissue's\b"
    r"|\bdeliverables? \d"
    r"|(?<![\w/#&])#\d+\b",  # "#14" (an upstream reference names its project: rclpy#1452)
    re.IGNORECASE,
)
"""Words about the development itself, which a product's documentation and code never use."""


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_the_configuration_reference_is_generated_from_the_settings_classes():
    reference = _load_script("config_reference")
    committed = reference.REFERENCE.read_text()
    assert committed == reference.updated(committed), (
        f"docs/configuration.md differs from the settings dataclasses' fields: run `{reference.COMMAND}` "
        "and commit the result"
    )


def test_the_configuration_reference_lists_every_field_with_its_docstring(tmp_path: Path):
    reference = _load_script("config_reference")
    source = (ROOT / "sac_grasp_ros" / "sac" / "config.py").read_text()
    doc, fields = reference.class_doc(source, "SACConfig")
    assert doc and fields[0].name == "hidden_size" and fields[0].default == "512" and fields[0].doc
    assert all(f.doc for f in fields), [f.name for f in fields if not f.doc]  # every field documented
    text = reference.render()
    for section in reference.SECTIONS:
        assert f"[`{section.cls}`]" in text
    assert "| `sac.batch_size` | `int` | `128` |" in text
    assert "| `eval_every` ✎ |" in text  # settable at run time (agent_node.RUNTIME_SETTABLE)
    # A choice field lists its choices, from an alias (ObservationMode) or an inline Literal.
    assert '| `observation` | `"original" \\| "extended" \\| "symmetric"` | `original` |' in text
    aliases = reference.literal_aliases()
    assert aliases["StepMode"] == ("lockstep", "realtime")
    annotation = ast.parse('Literal["a", "b"] | None', mode="eval").body
    assert reference.type_text(annotation, aliases) == '"a" | "b" | None'
    # A field added to a class shows up at once: the check names the command that regenerates.
    (tmp_path / "sac_grasp_ros" / "sac").mkdir(parents=True)
    for section in reference.SECTIONS:
        for path in {section.path, *(section.settable[:1] if section.settable else ())}:
            target = tmp_path / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text((ROOT / path).read_text())
    config = tmp_path / "sac_grasp_ros" / "sac" / "config.py"
    config.write_text(
        source.replace('    hidden_size: int = 512\n', '    new_knob: float = 0.5\n    """a new knob"""\n'
                       '    hidden_size: int = 512\n')
    )  # fmt: skip
    assert "| `sac.new_knob` | `float` | `0.5` | a new knob |" in reference.render(tmp_path)


def _product_files() -> list[Path]:
    files = {path for pattern in PRODUCT_GLOBS for path in ROOT.glob(pattern) if path.is_file()}
    return sorted(files - {Path(__file__).resolve()})


def test_the_product_never_speaks_of_its_development():
    found = []
    for path in _product_files():
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            for match in DEVELOPMENT_WORDS.finditer(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)!r} in {line.strip()[:100]}")
    assert not found, (
        "say why the code is as it is now, not when or in which issue it changed:\n" + "\n".join(found)
    )


def test_the_development_words_pattern_is_precise():
    for text in ("in session 5", "Session 6's runs", "this session", "issue 14", "(issue 9)", "see #12",
                 "the issue's goals", "deliverable 2"):  # fmt: skip
        assert DEVELOPMENT_WORDS.search(text), text
    for text in ("a worker's session id", "TrainingSession", "the session's decisions", "colour #1f77b4",
                 "rclpy#1452", "host time to issue them", "[anchor](#learning-the-grasp)"):  # fmt: skip
        assert not DEVELOPMENT_WORDS.search(text), text


SPAN = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
FILE_SUFFIXES = (".py", ".yaml", ".md", ".sh", ".rviz", ".xml", ".cfg", ".toml")
NOT_PATHS = {"sac_grasp_ros/SawyerGrasp-v0"}  # the gymnasium id, which looks like a path


OUTPUTS = {"runs", "build", "install", "log", "checkpoints", "__pycache__"}
"""Ignored folders a run or a build makes (.gitignore): a path under them is an example, not a citation."""


def _top_level() -> set[str]:
    return {
        path.name for path in ROOT.iterdir() if not path.name.startswith(".") and path.name not in OUTPUTS
    }


def _cited_paths(text: str) -> list[str]:
    """Repository paths a document cites: links, and words of code spans and code blocks that start
    at a top-level entry of the repository or leave it (../); a bare file name of a source kind."""
    cited = [target for target in LINK.findall(text) if not re.match(r"[a-z]+:|#", target)]
    words = [word for block in FENCE.findall(text) for word in block.split()]
    spans = SPAN.findall(FENCE.sub("", text))
    words += [word for span in spans for word in span.split()]
    top = _top_level()
    for word in words:
        word = word.strip(",;:()[]'\"").removesuffix(".")
        under_top = "/" in word and (word.split("/")[0] in top or word.startswith("../"))
        source_file = word.endswith(FILE_SUFFIXES) and re.fullmatch(r"[\w./-]+", word) and word[0] != "/"
        if under_top or source_file:
            cited.append(word)
    return [path for path in cited if path not in NOT_PATHS]


def _exists(path: str, document: Path, files: Collection[str]) -> bool:
    """Whether `path` (cited by `document`) is in the repository; `files`: its files, relative."""
    path = path.split("#")[0]
    if "/" not in path:
        return any(file.rsplit("/", 1)[-1] == path for file in files)
    if path.endswith(FILE_SUFFIXES) and path.split("/")[0] not in _top_level() | {".", ".."}:
        return any(file == path or file.endswith(f"/{path}") for file in files)  # graph/protocol.py
    base = document.parent if path.split("/")[0] not in _top_level() or path.startswith(".") else ROOT
    target = (base / path).resolve()
    if not target.is_relative_to(ROOT):
        return False  # outside the repository: a user's copy does not have it
    if any(c in path for c in "*?"):
        return any(ROOT.glob(str(target.relative_to(ROOT))))
    return target.exists()


@functools.cache
def _repository_files() -> frozenset[str]:
    """Every file and folder of the repository, relative; outputs, caches and the venv left out."""
    found = set()
    for folder, subfolders, names in os.walk(ROOT):
        subfolders[:] = [d for d in subfolders if d not in OUTPUTS and not d.startswith(".")]
        base = Path(folder).relative_to(ROOT)
        found |= {(base / name).as_posix() for name in (*names, *subfolders)}
    return frozenset(found)


@pytest.mark.parametrize("document", DOCS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_repository_path_a_document_cites_exists(document: Path):
    cited = _cited_paths(document.read_text())
    missing = sorted({path for path in cited if not _exists(path, document, _repository_files())})
    assert not missing, f"{document.relative_to(ROOT)} cites paths the repository does not have: {missing}"


def test_the_path_check_sees_links_spans_and_code_blocks(tmp_path: Path):
    text = (
        "See [the reference](docs/configuration.md), `sac_grasp_ros/graph/protocol.py` and\n"
        "`sac-grasp train --config config/train.yaml`; `runs/x/checkpoints/best` is output.\n"
        "```bash\nbash scripts/main.sh\n```\n`../shared/reference/` `train_scratch.yaml` "
        "`sac_grasp_ros/SawyerGrasp-v0`\n"
    )
    cited = _cited_paths(text)
    assert {"docs/configuration.md", "sac_grasp_ros/graph/protocol.py", "config/train.yaml"} <= set(cited)
    assert {"scripts/main.sh", "../shared/reference/", "train_scratch.yaml"} <= set(cited)
    assert "runs/x/checkpoints/best" not in cited and "sac_grasp_ros/SawyerGrasp-v0" not in cited
    files = {"config/train.yaml", "sac_grasp_ros/graph/protocol.py"}
    assert not _exists("../shared/reference/", ROOT / "README.md", files)
    assert not _exists("train_scratch.yaml", ROOT / "README.md", files)
    assert not _exists("sac_grasp_ros/protocol.py", ROOT / "README.md", files)
    assert not _exists("training/grasp_recipe.py", ROOT / "README.md", files)
    assert _exists("graph/protocol.py", ROOT / "README.md", files)
    assert _exists("train.yaml", ROOT / "README.md", files)
    assert _exists("../config/train.yaml", ROOT / "docs" / "x.md", files)
