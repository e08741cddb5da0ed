"""The package is a real ament_python package: colcon builds it and installs data files and scripts."""

from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COLCON = Path(sys.executable).parent / "colcon"


def test_package_xml_is_format3_ament_python() -> None:
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.get("format") == "3"
    assert root.findtext("name") == "sac_grasp_ros"
    assert root.find("export/build_type").text == "ament_python"
    depends = {element.text for element in root.findall("exec_depend")}
    assert {"rclpy", "std_msgs", "std_srvs", "sensor_msgs", "visualization_msgs"} <= depends


@pytest.mark.skipif(not COLCON.exists(), reason="colcon is not installed in this environment")
def test_colcon_build_installs_share_data_and_scripts(tmp_path: Path) -> None:
    source = tmp_path / "ws" / "src" / "sac_grasp_ros"
    source.parent.mkdir(parents=True)
    ignore = shutil.ignore_patterns(
        ".venv", ".git", "build", "install", "log", "runs", "__pycache__", "*.egg-info"
    )
    shutil.copytree(ROOT, source, ignore=ignore)
    result = subprocess.run(
        [str(COLCON), "build", "--event-handlers", "console_direct-"],
        cwd=tmp_path / "ws",
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    install = tmp_path / "ws" / "install" / "sac_grasp_ros"
    share = install / "share" / "sac_grasp_ros"
    assert (install / "share" / "ament_index" / "resource_index" / "packages" / "sac_grasp_ros").is_file()
    assert (share / "package.xml").is_file()
    for folder in ("config", "launch"):
        expected = {p.name for p in (ROOT / folder).iterdir() if p.is_file()}
        if folder == "launch":
            expected = {name for name in expected if name.endswith(".launch.py")}
        assert expected, f"{folder}/ is empty in the source tree"
        assert expected <= {p.name for p in (share / folder).iterdir()}
    scripts = {p.name for p in (install / "lib" / "sac_grasp_ros").iterdir()}
    assert {"sac-grasp", "sim_node", "agent_node"} <= scripts
