"""Where the package's share data (config/, models/, launch/) lives, for installed and source layouts."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = "sac_grasp_ros"
SHIPPED_POLICY = "sawyer_grasp_sac"
"""directory under models/ holding the shipped trained policy checkpoint"""
_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def share_dir() -> Path:
    """Return the share directory: the ament index when the package is installed (colcon, pip),
    else the source checkout, so a clone works without installing data files."""
    if (_SOURCE_ROOT / "config").is_dir() and (_SOURCE_ROOT / "package.xml").is_file():
        return _SOURCE_ROOT
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    import sys

    prefixes.append(sys.prefix)
    for prefix in prefixes:
        candidate = Path(prefix) / "share" / PACKAGE
        if (candidate / "config").is_dir():
            return candidate
    raise FileNotFoundError(
        f"cannot find the share directory of {PACKAGE}: not a source checkout and not under "
        f"AMENT_PREFIX_PATH or {sys.prefix}/share; install the package (pip install . or colcon build)"
    )


def config_file(name: str) -> Path:
    """Path of a YAML file in config/ (name with or without the .yaml suffix)."""
    file_name = name if name.endswith((".yaml", ".yml")) else f"{name}.yaml"
    path = share_dir() / "config" / file_name
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    return path


def models_dir() -> Path:
    """Directory holding shipped trained policies."""
    return share_dir() / "models"
