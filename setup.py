"""ament_python packaging: the Python package, launch/config/models as share data, console scripts."""

from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "sac_grasp_ros"


def share_tree(folder: str) -> list[tuple[str, list[str]]]:
    """Map every file under `folder` to share/<package>/<same relative dir> (keeps model subfolders)."""
    entries: dict[str, list[str]] = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            entries.setdefault(f"share/{PACKAGE}/{path.parent.as_posix()}", []).append(path.as_posix())
    return sorted(entries.items())


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*", "bench", "scripts"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        *share_tree("config"),
        *share_tree("models"),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="sac_grasp_ros developers",
    maintainer_email="sac-grasp-ros@users.noreply.github.com",
    description="Soft Actor-Critic training and deployment for a Sawyer grasp task over ROS 2.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "sac-grasp = sac_grasp_ros.cli:main",
            "sim_node = sac_grasp_ros.nodes.sim_node:main",
            "agent_node = sac_grasp_ros.nodes.agent_node:main",
            "policy_node = sac_grasp_ros.nodes.policy_node:main",
            "recorder_node = sac_grasp_ros.nodes.recorder_node:main",
            "view_node = sac_grasp_ros.nodes.view_node:main",
        ],
    },
)
