"""A module is named the same in every message, whichever file a process linted first.

flake8 hands the plugin `./app/tasks.py`; a module the analysis reaches is named from its
path (`app/tasks.py`). A file linted earlier in the same process and reached later must not
keep the host's spelling, or `-j1` and `-j2` runs (and their cached messages) would differ.
"""

from __future__ import annotations

import os

import pytest
from support import forget_projects, write_tree

from flake8_fastapi_bg.engine import lint_source
from flake8_fastapi_bg.settings import Settings

TASKS = """\
from fastapi import BackgroundTasks
import hashlib


def crunch(data: bytes) -> None:
    for _ in range(1000):
        data = hashlib.pbkdf2_hmac("sha256", data, b"salt", 500_000)


def later(background_tasks: BackgroundTasks) -> None:
    background_tasks.add_task(print, "x")
"""

ROUTES = """\
from fastapi import APIRouter, BackgroundTasks

from app.tasks import crunch

router = APIRouter()


@router.post("/x")
def route(background_tasks: BackgroundTasks) -> None:
    background_tasks.add_task(crunch, b"x")
"""


def _lint(root, relative: str):
    path = root / relative
    return lint_source(f"./{relative}", path.read_text(), Settings(), path)


@pytest.mark.parametrize("first", ["tasks", "routes"])
def test_a_linted_module_is_named_like_a_reached_one(tmp_path, monkeypatch, first):
    write_tree(tmp_path, {"app/__init__.py": "", "app/tasks.py": TASKS, "app/routes.py": ROUTES},
               marker=True)
    monkeypatch.chdir(tmp_path)
    forget_projects()
    if first == "tasks":
        _lint(tmp_path, "app/tasks.py")
    findings = _lint(tmp_path, "app/routes.py")
    forget_projects()
    texts = [f.text for f in findings if f.code == "FBG101"]
    assert texts, findings
    assert all("./app/" not in t and "app/tasks.py:" in t for t in texts), texts
    paths = [hop.path for f in findings for hop in f.evidence if hop.path]
    assert paths and not any(p.startswith("./") for p in paths), paths
    assert os.path.join("app", "routes.py") in paths and os.path.join("app", "tasks.py") in paths
