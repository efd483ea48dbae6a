"""Helpers shared by the test modules, imported as `support` (tests/conftest.py puts this
folder on `sys.path`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Optional


def clean_env() -> Dict[str, str]:
    """This environment without the caller's FLAKE8_* settings, and without colour."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLAKE8")}
    env["NO_COLOR"] = "1"
    return env


def forget_projects() -> None:
    """Drop every Project and its parsed modules: the next lint starts cold."""
    from flake8_fastapi_bg import project

    project._project_for_dir.cache_clear()
    project._project_for_roots.cache_clear()


def run_python(*args: str, cwd: Optional[Path] = None, stdin: str = "",
               timeout: float = 300) -> subprocess.CompletedProcess:
    """This interpreter with `args` in a new process and a clean environment, in `cwd`."""
    return subprocess.run([sys.executable, *args], cwd=cwd, input=stdin, capture_output=True,
                          text=True, env=clean_env(), timeout=timeout)
