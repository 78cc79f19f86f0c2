"""The Makefile on a machine with pyenv shims: the Python probe prints nothing and picks the
first interpreter that runs; pip's output goes to a log file, not the terminal."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT

# What a pyenv shim prints for a version that is installed but not selected.
SHIM = """#!/bin/sh
echo "pyenv: $(basename "$0"): command not found" >&2
echo "The \\`$(basename "$0")' command exists in these Python versions:" >&2
exit 127
"""


def _dry_run(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    shims = tmp_path / "shims"
    shims.mkdir()
    for name in ("python3.13", "python3.12"):
        (shims / name).write_text(SHIM)
        (shims / name).chmod(0o755)
    (shims / "python3.11").symlink_to(sys.executable)
    path = f"{shims}:{os.environ['PATH']}"
    make = shutil.which("make")
    assert make is not None
    return subprocess.run([make, "-n", "-B", "-C", str(ROOT), ".venv/.installed"],
                          env={**os.environ, "PATH": path}, capture_output=True, text=True,
                          timeout=60, check=True)


def test_the_python_probe_is_silent_with_pyenv_shims(tmp_path: Path) -> None:
    done = _dry_run(tmp_path)
    assert "pyenv" not in done.stderr + done.stdout
    assert "python3.11 -m venv .venv" in done.stdout


def test_pip_writes_to_the_install_log(tmp_path: Path) -> None:
    done = _dry_run(tmp_path)
    pip_lines = [line for line in done.stdout.splitlines() if "-m pip install" in line]
    assert len(pip_lines) == 2, done.stdout
    assert all(">.venv/install.log 2>&1" in line or ">>.venv/install.log 2>&1" in line
               for line in pip_lines), pip_lines
    assert "--quiet" not in done.stdout  # the log keeps everything pip says
    assert "tail -n 40 .venv/install.log" in done.stdout
