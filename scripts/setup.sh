#!/usr/bin/env bash
# Idempotent setup shared by README's two commands: creates .venv/ at the repository root and
# installs the pinned dependencies plus this package. Re-running is cheap: a stamp of the
# requirement files skips pip when nothing changed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
python_bin="${PYTHON:-python3}"

if ! "$python_bin" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 10))' 2>/dev/null; then
  echo "setup: need Python >= 3.10 as '$python_bin' (set PYTHON=...)" >&2
  exit 1
fi
# System libraries: venv support and EGL/GL for off-screen MuJoCo rendering. Installed only when
# missing and only where we may (root with apt-get); otherwise say what to install.
system_packages=(python3-venv libegl1 libgl1 libegl-mesa0 libglib2.0-0)
if command -v dpkg >/dev/null 2>&1; then
  missing=()
  for package in "${system_packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "setup: installing system packages: ${missing[*]}"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      echo "setup: missing system packages (install them with sudo apt-get install ${missing[*]})" >&2
    fi
  fi
fi

# Chromium: the live view's browser test loads the page in it, headless. Optional: a failed install
# only makes that test skip (saying why), so it never stops the setup.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "setup: installing chromium (headless browser for the live view's test)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } ||
    echo "setup: could not install chromium; the browser test will skip" >&2
fi

if [ ! -x "$venv/bin/python" ]; then
  if ! "$python_bin" -m venv "$venv"; then
    echo "setup: 'python3 -m venv' failed; on Debian run: apt-get install python3-venv" >&2
    exit 1
  fi
fi

stamp="$venv/.sac_grasp_ros-setup"
want="$(cat "$root/requirements.txt" "$root/requirements-dev.txt" "$root/setup.py" "$root/scripts/setup.sh" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  log="$venv/setup.log"
  echo "setup: installing pinned dependencies into $venv (log: $log)"
  pip=("$venv/bin/python" -m pip --disable-pip-version-check)
  {
    "${pip[@]}" install --upgrade "pip>=24" "setuptools>=70,<80" wheel &&
      # torch first and pinned: the CPU build lies on local disk; anything else downloads GBs.
      "${pip[@]}" install torch==2.13.0 &&
      "${pip[@]}" install -r "$root/requirements.txt" -r "$root/requirements-dev.txt" torch==2.13.0 &&
      # Only the model files of robosuite are used (located on disk, never imported).
      "${pip[@]}" install --no-deps robosuite==1.5.2 &&
      "${pip[@]}" install --no-deps --no-build-isolation -e "$root"
  } >"$log" 2>&1 || {
    tail -n 40 "$log" >&2
    echo "setup: pip failed; the full log is $log" >&2
    exit 1
  }
  echo "$want" > "$stamp"
  echo "setup: done"
fi
