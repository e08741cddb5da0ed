"""The package's module graph has no cycle, its layers hold, and `import sac_grasp_ros` stays cheap.

The layers, each importing only those above it:
- the ROS-free core: `scene`, `envs`, `sac`, `training`, `graph`, `recording`, `view` and the shared
  helpers `paths`, `atomic`, `curve_csv`, `policy`, `command_line`;
- the nodes (`nodes/`): rclpy translators of the core;
- the applications, the package's top-level modules (`cli`, `launcher`, `evaluate`, `deploy`,
  `export`, `robustness`, `video`): the `sac-grasp` verbs, which may use both.

The import graph is read statically with `ast` (nothing is imported): every `import` and
`from ... import` of every module, at module level and inside functions, relative ones resolved.
A package's `__init__` is a node of its own; importing `a.b.c` depends on `a.b.c` only, and
`from a.b import c` on `a.b.c` when that is a module, else on `a.b`.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "sac_grasp_ros"


def module_files(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> source file, for every module of `package` under `root`."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of `known` that module `name` (source `path`) imports anywhere in its body."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in known else base)
    return found & known


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    modules = module_files(root, package)
    return {name: imported_modules(name, path, set(modules)) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of `graph` as [a, b, ..., a], or None (depth-first search, nodes in sorted order)."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path: list[str] = [start]
        on_path = {start}
        stack = [iter(sorted(graph[start]))]
        while stack:
            following = next(stack[-1], None)
            if following is None:
                stack.pop()
                done.add(path[-1])
                on_path.discard(path.pop())
            elif following in on_path:
                return [*path[path.index(following) :], following]
            elif following not in done:
                path.append(following)
                on_path.add(following)
                stack.append(iter(sorted(graph.get(following, ()))))
    return None


def test_find_cycle_on_small_graphs() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b", "c"}, "b": {"d"}, "c": {"d"}, "d": set()}) is None  # a diamond
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"x": {"a"}, "a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert find_cycle({"a": {"a"}}) == ["a", "a"]


def test_import_graph_resolves_relative_and_submodule_imports(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from pkg import sub\n")
    (package / "sub" / "__init__.py").write_text("from . import leaf\n")
    (package / "sub" / "leaf.py").write_text("def f():\n    from ..other import thing\n")
    (package / "other.py").write_text("import pkg.sub.leaf\nthing = 1\n")
    graph = import_graph(tmp_path, "pkg")
    assert graph == {
        "pkg": {"pkg.sub"},
        "pkg.sub": {"pkg.sub.leaf"},
        "pkg.sub.leaf": {"pkg.other"},  # a function-local, relative import of a name in a module
        "pkg.other": {"pkg.sub.leaf"},
    }
    assert find_cycle(graph) == ["pkg.sub.leaf", "pkg.other", "pkg.sub.leaf"]


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph(ROOT, PACKAGE)
    assert {"sac_grasp_ros.graph.spec", "sac_grasp_ros.envs.demos"} <= set(graph)  # it read the package
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def _fresh_python(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_importing_the_package_loads_no_simulator_learner_or_ros() -> None:
    result = _fresh_python(
        "import sys, sac_grasp_ros\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('rclpy', 'mujoco', 'torch'))\n"
        "assert not heavy, heavy\n"
    )
    assert result.returncode == 0, result.stderr


def test_importing_the_package_registers_the_gymnasium_env() -> None:
    pytest.importorskip("mujoco")
    result = _fresh_python(
        "import gymnasium, sac_grasp_ros\n"
        "env = gymnasium.make('sac_grasp_ros/SawyerGrasp-v0')\n"
        "obs, _ = env.reset(seed=0)\n"
        "assert obs.shape == env.observation_space.shape, obs.shape\n"
        "env.close()\n"
    )
    assert result.returncode == 0, result.stderr


CORE_PACKAGES = ("scene", "envs", "sac", "training", "graph", "recording", "view")
CORE_HELPERS = ("paths", "atomic", "curve_csv", "policy", "command_line")


def layer(module: str) -> str:
    """`core`, `nodes` or `application` for a module of the package (the package itself: core)."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in CORE_PACKAGES + CORE_HELPERS:
        return "core"
    return "nodes" if parts[1] == "nodes" else "application"


def test_layer_names_every_top_level_module() -> None:
    assert layer("sac_grasp_ros.graph.workers") == "core" and layer("sac_grasp_ros.paths") == "core"
    assert layer("sac_grasp_ros.nodes.sim_node") == "nodes"
    assert layer("sac_grasp_ros.launcher") == "application" == layer("sac_grasp_ros.video")


def test_the_ros_free_core_imports_neither_nodes_nor_applications() -> None:
    graph = import_graph(ROOT, PACKAGE)
    leaks = {
        name: sorted(dep for dep in deps if layer(dep) != "core")
        for name, deps in graph.items()
        if layer(name) == "core" and any(layer(dep) != "core" for dep in deps)
    }
    assert leaks == {}, f"core modules importing nodes/ or applications: {leaks}"
